"""Credentials and tokens.

Threat model: an attacker may read the database (so every password, client secret,
refresh token, recovery code and emailed token is stored only as a hash), may
replay or tamper with tokens (access tokens are HMAC-signed with a key that never
touches the database, carry an audience and a type, and expire within minutes;
refresh tokens rotate and a replayed one revokes its whole family), and may guess
passwords online (argon2id makes offline guessing dear; the login service throttles
online guessing per account and per client address). TOTP codes are accepted once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import jwt
import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kernel.errors import InvalidInput

ISSUER = "lendgraph"
AUDIENCE = "lendgraph-api"
TOTP_ISSUER = "LendGraph"
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128

# RFC 9106's second recommended option (64 MiB, 3 passes), argon2-cffi's default.
_hasher = PasswordHasher()
# Verified against when the account does not exist, so both answers take as long.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

TokenType = Literal["access", "mfa"]
# The longest an operator's token (`lendgraph users token --ttl`) may live; every other
# token lives at most as long as the service issues it for (read_token's max_lifetime).
OPERATOR_TOKEN_MAX_TTL = 86_400
# Clocks of the workers that mint and read a token may differ this much.
CLOCK_SKEW = 60


def check_password_policy(password: str, *, email: str, field: str = "password") -> None:
    """NIST SP 800-63B: length over composition rules, no echo of the account name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password needs at least {MIN_PASSWORD_LENGTH} characters", field=field
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"the password may have at most {MAX_PASSWORD_LENGTH} characters", field=field
        )
    if len(set(password)) < 5:
        raise InvalidInput("the password repeats too few distinct characters", field=field)
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in password.lower():
        raise InvalidInput("the password must not contain the email address", field=field)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Constant work whether or not an account (and its hash) exists."""
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def digest(token: str) -> str:
    """SHA-256 of a high-entropy token: enough, since such tokens cannot be guessed."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_digest(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    type: TokenType
    session_id: uuid.UUID | None
    service: bool
    scopes: frozenset[str]
    expires_at: datetime


class InvalidToken(Exception):
    """The token is expired, tampered with, of the wrong type, or not ours."""


def mint_token(
    key: bytes,
    *,
    subject: str,
    type: TokenType,
    now: datetime,
    ttl: int,
    session_id: uuid.UUID | None = None,
    service: bool = False,
    scopes: frozenset[str] = frozenset(),
    operator: bool = False,
) -> str:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "typ": type,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": secrets.token_hex(8),
    }
    if session_id is not None:
        claims["sid"] = str(session_id)
    if service:
        claims["svc"] = True
    if scopes:
        claims["scope"] = " ".join(sorted(scopes))
    if operator:
        claims["opr"] = True
    return jwt.encode(claims, key, algorithm="HS256")


def read_token(
    key: bytes, token: str, *, expected: TokenType, now: datetime, max_lifetime: int
) -> TokenClaims:
    """The claims of a valid token of the ``expected`` type.

    A token is held to the lifetime the service gives such tokens (``max_lifetime``
    seconds from ``iat``; an operator's token up to OPERATOR_TOKEN_MAX_TTL), whatever its
    ``exp`` says: with the signing key, even a token minted by mistake or by an insider
    for ten years does not outlive that. One issued in the future is not valid.
    """
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["HS256"],  # pinned: never trust the header's choice
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "typ"], "verify_iat": False},
            leeway=0,
        )
        issued, expires, moment = claims["iat"], claims["exp"], int(now.timestamp())
        if not isinstance(issued, int) or not isinstance(expires, int):
            raise InvalidToken("the token is not valid")
        allowed = OPERATOR_TOKEN_MAX_TTL if claims.get("opr") is True else max_lifetime
        if issued > moment + CLOCK_SKEW or expires - issued > allowed:
            raise InvalidToken("the token is not valid")
        if expires <= moment:
            raise InvalidToken("the token has expired")
    except jwt.ExpiredSignatureError:
        raise InvalidToken("the token has expired") from None
    except jwt.PyJWTError:
        raise InvalidToken("the token is not valid") from None
    if claims.get("typ") != expected:
        raise InvalidToken("the token is not valid")
    sid = claims.get("sid")
    try:
        session_id = uuid.UUID(sid) if sid else None
    except ValueError:
        raise InvalidToken("the token is not valid") from None
    return TokenClaims(
        subject=str(claims["sub"]),
        type=expected,
        session_id=session_id,
        service=bool(claims.get("svc")),
        scopes=frozenset(str(claims.get("scope", "")).split()),
        expires_at=datetime.fromtimestamp(claims["exp"], tz=now.tzinfo),
    )


def new_totp_secret() -> str:
    return pyotp.random_base32()


def totp_uri(secret: str, *, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=TOTP_ISSUER)


def totp_step(secret: str, code: str, *, now: datetime, after: int | None) -> int | None:
    """The time step a code belongs to (one step of drift allowed), or None.

    A step at or before ``after`` (the last one accepted) is refused: a code works once.
    """
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes(count: int = 10) -> list[str]:
    """Ten codes of 10 base32 characters (50 bits each), shown once, stored hashed."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return [
        "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(2))
        for _ in range(count)
    ]


def normalise_recovery_code(code: str) -> str:
    return code.strip().upper().replace(" ", "")
