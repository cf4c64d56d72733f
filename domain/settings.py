"""Configuration from ``LENDGRAPH_*`` environment variables, validated once at start."""

from __future__ import annotations

import logging
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from domain.identity.models import Role
from privacy.keys import (
    KeyConfigurationError,
    StaticKeys,
    generate,
    load_file,
    parse_env,
    write_file,
)

if TYPE_CHECKING:
    from privacy.hsm import Pkcs11Keys

log = logging.getLogger("lendgraph")

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class ConfigurationError(Exception):
    """Raised with one readable line per bad setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LENDGRAPH_", extra="ignore", frozen=True)

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./lendgraph.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Signs access tokens (HMAC-SHA256). Required in production; development keeps a
    # generated one in ``secret_key_file`` so the CLI and the server agree.
    secret_key: SecretStr | None = None
    secret_key_file: Path = Path(".lendgraph-secret")
    # Where master keys live: "local" (the environment or the key file) or "pkcs11" (a
    # token: pkcs11_library, pkcs11_token and pkcs11_pin; the key file then holds only
    # the token's key ids and the hash keys wrapped under its master key).
    key_provider: Literal["local", "pkcs11"] = "local"
    # Master keys for personal data ("kid:base64,kid:base64", newest first), the blind
    # index key (base64, or "version:base64,..." newest first during a re-index) and the
    # masking-hash key (base64; derived from the blind index key when absent); or a key
    # file. Development creates the file.
    master_keys: SecretStr | None = None
    blind_index_key: SecretStr | None = None
    masking_key: SecretStr | None = None
    key_file: Path = Path(".lendgraph-keys.json")
    pkcs11_library: Path | None = None
    pkcs11_token: str | None = None
    pkcs11_pin: SecretStr | None = None
    # Where scoring model artifacts live (CatBoost files); the registry rows point here.
    model_dir: Path = Path(".lendgraph-models")
    access_token_ttl: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl: int = Field(default=14 * 86_400, ge=3600, le=90 * 86_400)
    page_size_max: int = Field(default=100, ge=1, le=1000)
    max_query_depth: int = Field(default=12, ge=2, le=50)
    max_aliases: int = Field(default=30, ge=1, le=1000)
    max_tokens: int = Field(default=5000, ge=100, le=100_000)
    # The most values an operation's answer may hold, as api.cost estimates them.
    max_query_cost: int = Field(default=250_000, ge=100, le=10**9)
    # Smaller budgets for some callers: "anonymous" (no token) or a role's name. A viewer
    # gets the largest budget among its roles; a role not named here gets max_query_cost.
    # The public catalog's largest page costs about 1,500; an owner's whole book 10,000.
    query_cost_budgets: dict[str, int] = Field(
        default_factory=lambda: {"anonymous": 20_000, "sme_owner": 50_000}
    )
    # Parsed documents kept per worker, charged for their syntax trees (api.documents);
    # a document longer than the second is parsed for its request and not kept.
    document_cache_bytes: int = Field(default=64 * 2**20, ge=2**20, le=2**32)
    document_cache_max_chars: int = Field(default=32 * 2**10, ge=2**10, le=2**20)
    # Request bodies: a JSON request, and a multipart upload (importEnterprises refuses a
    # file over 50 MB itself, with a reason); JSON nesting in bodies and variables.
    max_body_bytes: int = Field(default=2**20, ge=2**14, le=2**30)
    max_upload_bytes: int = Field(default=64 * 2**20, ge=2**20, le=2**32)
    max_json_depth: int = Field(default=32, ge=4, le=256)
    # The largest GraphQL answer sent (api.guards); larger ones are refused, not sent.
    max_response_bytes: int = Field(default=32 * 2**20, ge=2**14, le=2**31)
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # Seconds between the queue's scheduled early-warning scans and escalations (full once
    # a day); 0 leaves them to startRiskScan and the CLI. The queue schedules by cron, so
    # the period must divide a minute, an hour or a day.
    risk_scan_interval: int = Field(default=900, ge=0, le=86_400)
    # Queries the compiled read path covers are answered by one SQL statement that
    # builds the response (api.compiled); off, Strawberry's executor answers them all.
    compiled_reads: bool = True
    # Browser origins allowed to call the API ("https://app.example.com,https://x.y";
    # "*" for any). None by default: no CORS headers, a preflight is refused.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Prometheus metrics at /metrics. Outside development they are served only to a
    # scraper sending "Authorization: Bearer <metrics_token>"; without a token, not at all.
    metrics: bool = True
    metrics_token: SecretStr | None = None
    # Jobs' files (uploads to import, reports made) are kept in the database this many
    # days, then purged by a daily job; a file may be at most job_file_max_bytes.
    job_file_retention_days: int = Field(default=7, ge=1, le=3650)
    job_file_max_bytes: int = Field(default=64 * 2**20, ge=2**16, le=2**30)
    # External data (domain.providers): the providers' base URL (registry, bureau and bank
    # statements under it; unset, every fetch is refused), each attempt's time-out, the
    # attempts per call and the first back-off between them (doubling), and the circuit:
    # failed calls in a row that open it, and for how long it stays open.
    provider_url: str | None = None
    provider_timeout: float = Field(default=5.0, gt=0, le=120)
    provider_attempts: int = Field(default=3, ge=1, le=10)
    provider_backoff: float = Field(default=0.2, ge=0, le=30)
    provider_breaker_threshold: int = Field(default=5, ge=1, le=1000)
    provider_breaker_seconds: int = Field(default=30, ge=1, le=3600)
    # Signs the seals of the audit and access logs (HMAC-SHA256, domain.audit.chain); kept
    # outside the database, so a database writer cannot re-sign what it rewrote. Needed
    # in production to seal or verify; development keeps a generated one in the file.
    audit_key: SecretStr | None = None
    audit_key_file: Path = Path(".lendgraph-audit-key")
    # Every seal is also appended here as a JSON line (None: not written). Kept on
    # append-only storage out of the database's reach, it shows a log cut back whole.
    audit_checkpoint_file: Path | None = None
    # Seconds between the queue's sealing of the logs; 0 leaves it to `lendgraph audit seal`.
    audit_seal_interval: int = Field(default=300, ge=0, le=86_400)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        driver = value.split("://", 1)[0]
        if "://" not in value or driver not in SUPPORTED_DRIVERS:
            raise ValueError(
                f"must start with one of {', '.join(d + '://' for d in SUPPORTED_DRIVERS)}"
            )
        return value

    @field_validator("provider_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
                raise ValueError("must be an http(s) URL without a query, e.g. http://host:9180")
        return value

    @field_validator("query_cost_budgets")
    @classmethod
    def _known_callers(cls, value: dict[str, int]) -> dict[str, int]:
        callers = {"anonymous", *(role.value for role in Role)}
        for name, budget in value.items():
            if name not in callers:
                raise ValueError(f"{name!r} is not one of {', '.join(sorted(callers))}")
            if not 100 <= budget <= 10**9:
                raise ValueError(f"the budget of {name!r} must be between 100 and 10^9")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise ValueError("must be a comma-separated list of origins")
        origins = tuple(str(item).strip().rstrip("/") for item in items if str(item).strip())
        for origin in origins:
            parts = urlsplit(origin)
            exact = parts.scheme in ("http", "https") and parts.netloc and not parts.path
            if origin != "*" and not (exact and not parts.query and not parts.fragment):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port]) or *")
        return origins

    @field_validator("risk_scan_interval", "audit_seal_interval")
    @classmethod
    def _has_a_cron_line(cls, value: int) -> int:
        from domain.jobs.tasks import cron_every  # the queue's reading of it, once

        if value:
            cron_every(value)  # raises ValueError, naming the period
        return value

    @field_validator("secret_key", "metrics_token", "audit_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @model_validator(mode="after")
    def _secret_in_production(self) -> Settings:
        if self.secret_key is None and self.env == "production":
            raise ValueError("LENDGRAPH_SECRET_KEY is required in production")
        if (self.master_keys is None) != (self.blind_index_key is None):
            raise ValueError("LENDGRAPH_MASTER_KEYS and LENDGRAPH_BLIND_INDEX_KEY are set together")
        if self.key_provider == "pkcs11":
            if self.master_keys is not None:
                raise ValueError("LENDGRAPH_MASTER_KEYS is for the local provider, not pkcs11")
            if None in (self.pkcs11_library, self.pkcs11_token, self.pkcs11_pin):
                raise ValueError(
                    "the pkcs11 provider needs LENDGRAPH_PKCS11_LIBRARY, "
                    "LENDGRAPH_PKCS11_TOKEN and LENDGRAPH_PKCS11_PIN"
                )
        return self

    def keys(self) -> StaticKeys | Pkcs11Keys:
        """The key provider, with the keyed-hash keys (read once per process per source)."""
        if self.key_provider == "pkcs11":
            return self._token_keys()
        if self.master_keys is not None and self.blind_index_key is not None:
            return _env_keys(
                self.master_keys.get_secret_value(),
                self.blind_index_key.get_secret_value(),
                self.masking_key.get_secret_value() if self.masking_key else None,
            )
        path = self.key_file.resolve()
        if not path.exists():
            if not self.is_development:
                raise KeyConfigurationError(
                    "production needs LENDGRAPH_MASTER_KEYS and LENDGRAPH_BLIND_INDEX_KEY, "
                    f"or a key file at LENDGRAPH_KEY_FILE ({path})"
                )
            log.warning("generated development encryption keys in %s", path)
            write_file(path, generate())
        return _file_keys(path, path.stat().st_mtime_ns)

    def pkcs11(self) -> tuple[Path, str, str]:
        """The token's library, label and PIN (validated present with the provider)."""
        if self.pkcs11_library is None or self.pkcs11_token is None or self.pkcs11_pin is None:
            raise KeyConfigurationError("the pkcs11 key provider is not configured")
        return self.pkcs11_library, self.pkcs11_token, self.pkcs11_pin.get_secret_value()

    def _token_keys(self) -> Pkcs11Keys:
        from privacy import hsm

        library, label, pin = self.pkcs11()
        path = self.key_file.resolve()
        if not path.exists():
            if not self.is_development:
                raise KeyConfigurationError(
                    f"no PKCS#11 key file at LENDGRAPH_KEY_FILE ({path}): "
                    "run `lendgraph keys init` once"
                )
            log.warning("made a development master key in the token, named in %s", path)
            hsm.create(path, library, label, pin)
        return _token_file_keys(path, path.stat().st_mtime_ns, str(library), label, pin)

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    def signing_key(self) -> bytes:
        """The token signing key; in development, generated once into a 0600 file."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.secret_key_file
        if not path.exists():
            log.warning("generated a development signing key in %s", path)
            _write_secret(path)
        return path.read_text().strip().encode()

    def audit_signing_key(self) -> bytes:
        """The key that signs log seals; in development, generated once into a 0600 file."""
        if self.audit_key is not None:
            return self.audit_key.get_secret_value().encode()
        path = self.audit_key_file
        if not path.exists():
            if not self.is_development:
                raise KeyConfigurationError(
                    f"production needs LENDGRAPH_AUDIT_KEY to seal or verify the logs ({path})"
                )
            log.warning("generated a development audit key in %s", path)
            _write_secret(path)
        return path.read_text().strip().encode()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _write_secret(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))


@lru_cache(maxsize=8)
def _env_keys(master: str, blind_index: str, masking: str | None) -> StaticKeys:
    return parse_env(master, blind_index, masking)


@lru_cache(maxsize=4)
def _token_file_keys(path: Path, modified: int, library: str, token: str, pin: str) -> Pkcs11Keys:
    from privacy import hsm

    # One session per process and key file version: the hash keys are unwrapped here,
    # once, and data keys through the keystore's cache.
    return hsm.load(path, Path(library), token, pin)


@lru_cache(maxsize=8)
def _file_keys(path: Path, modified: int) -> StaticKeys:
    # Keyed by modification time too: `lendgraph keys rotate` rewrites the file.
    return load_file(path)


def load_settings(**overrides: object) -> Settings:
    """Read the environment; raise ConfigurationError naming every bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "LENDGRAPH_" + "_".join(str(p) for p in err["loc"]).upper()
            if not err["loc"]:
                name = "configuration"
            lines.append(f"{name}: {err['msg']}")
        raise ConfigurationError("\n".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
