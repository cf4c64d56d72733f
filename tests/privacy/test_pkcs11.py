"""The PKCS#11 key provider against SoftHSM2: keys made in the token and never read out,
data keys wrapped there, hash keys kept wrapped in the key file, rotation and retirement.

Skipped only when SoftHSM2's library is not installed (CI installs it: .ci/run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pkcs11 import Attribute, KeyType, ObjectClass
from pkcs11.exceptions import AttributeSensitive
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.identity import people
from domain.settings import load_settings
from privacy import hsm, keystore, vault
from privacy.keys import KeyConfigurationError

LIBRARIES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
)
LIBRARY = next((Path(p) for p in LIBRARIES if Path(p).exists()), None)
PIN = "1234"  # a throwaway token's

pytestmark = pytest.mark.skipif(
    LIBRARY is None or shutil.which("softhsm2-util") is None,
    reason="SoftHSM2 is not installed (apt-get install softhsm2)",
)


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh SoftHSM2 token in a directory of its own; its label."""
    root = tmp_path_factory.mktemp("softhsm")
    (root / "tokens").mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {root / 'tokens'}\nobjectstore.backend = file\n")
    # SoftHSM reads its configuration when the library is first initialised, once per
    # process: every test of this module shares this token directory.
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    label = f"lendgraph-{uuid.uuid4().hex[:8]}"
    tool = shutil.which("softhsm2-util")
    assert tool is not None
    subprocess.run(  # noqa: S603 - a fixed tool and arguments
        [
            tool,
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            PIN,
            "--so-pin",
            "5678",
        ],
        check=True,
        capture_output=True,
    )
    yield label
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous


def test_master_keys_are_made_in_the_token_and_cannot_be_read_out(
    token: str, tmp_path: Path
) -> None:
    # given
    assert LIBRARY is not None
    keys = hsm.create(tmp_path / "keys.json", LIBRARY, token, PIN)

    # when: the key object as the token holds it
    handle = keys._handles[keys.current_kid]  # the token's own object

    # then
    with pytest.raises(AttributeSensitive):
        handle[Attribute.VALUE]
    assert handle[Attribute.EXTRACTABLE] is False
    assert not hasattr(keys, "master_key")
    stored = json.loads((tmp_path / "keys.json").read_text())
    assert "master_keys" not in stored
    assert set(stored["masking"]) == {"kid", "wrapped"}  # hash keys only wrapped
    assert all(set(e) == {"kid", "wrapped"} for e in stored["blind_index"]["keys"].values())


def test_data_keys_wrapped_in_the_token_unwrap_after_a_restart_bound_to_their_subject(
    token: str, tmp_path: Path
) -> None:
    # given
    assert LIBRARY is not None
    path = tmp_path / "keys.json"
    first = hsm.create(path, LIBRARY, token, PIN)
    subject = uuid.uuid4()
    data_key = vault.new_data_key()
    kid, wrapped = vault.wrap(first, data_key, subject_id=subject)

    # when: another process reads the key file and opens the token
    again = hsm.load(path, LIBRARY, token, PIN)

    # then
    assert vault.unwrap(again, kid, wrapped, subject_id=subject) == data_key
    assert again.hashing == first.hashing  # the hash keys came back through the token
    assert vault.blind_index(again, "x", column="c") == vault.blind_index(first, "x", column="c")
    with pytest.raises(vault.SealBroken):
        vault.unwrap(again, kid, wrapped, subject_id=uuid.uuid4())
    tampered = wrapped[:-2] + ("A" if wrapped[-2] != "A" else "B") + wrapped[-1]
    with pytest.raises(vault.SealBroken):
        vault.unwrap(again, kid, tampered, subject_id=subject)


def test_a_cached_unwrap_does_not_reach_the_token_again(token: str, tmp_path: Path) -> None:
    # given
    assert LIBRARY is not None
    keys = hsm.create(tmp_path / "keys.json", LIBRARY, token, PIN)
    subject = uuid.uuid4()
    kid, wrapped = vault.wrap(keys, vault.new_data_key(), subject_id=subject)
    calls: list[str] = []
    token_unwrap = keys.unwrap

    def counting(kid: str, wrapped: bytes, *, context: bytes) -> bytes:
        calls.append(kid)
        return token_unwrap(kid, wrapped, context=context)

    keys.unwrap = counting  # type: ignore[method-assign]

    # when: two requests read the same subject
    first = keystore.unwrap(keys, kid, wrapped, subject)
    second = keystore.unwrap(keys, kid, wrapped, subject)

    # then
    assert first == second
    assert calls == [kid]


def test_rotation_makes_a_new_key_in_the_token_and_retirement_destroys_the_old(
    token: str, tmp_path: Path
) -> None:
    # given
    assert LIBRARY is not None
    keys = hsm.create(tmp_path / "keys.json", LIBRARY, token, PIN)
    subject = uuid.uuid4()
    old_kid, wrapped = vault.wrap(keys, vault.new_data_key(), subject_id=subject)

    # when
    rotated = keys.rotated()
    new_kid, _ = vault.wrap(rotated, vault.new_data_key(), subject_id=subject)
    retired = rotated.retired()

    # then: only the new key is left, in the token too
    assert new_kid == rotated.current_kid != old_kid
    assert retired.kids == (new_kid,)
    with pytest.raises(KeyConfigurationError):
        vault.unwrap(retired, old_kid, wrapped, subject_id=subject)
    with pytest.raises(KeyConfigurationError):
        hsm.Pkcs11Keys.open(LIBRARY, token, PIN, current=old_kid, kids=())
    session = retired._session  # to search the token itself
    assert not list(
        session.get_objects(
            {
                Attribute.LABEL: old_kid,
                Attribute.CLASS: ObjectClass.SECRET_KEY,
                Attribute.KEY_TYPE: KeyType.AES,
            }
        )
    )


async def test_the_service_seals_and_finds_people_with_keys_in_the_token(
    token: str,
    tmp_path: Path,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: the settings a deployment with an HSM has
    assert LIBRARY is not None
    settings = load_settings(
        key_provider="pkcs11",
        pkcs11_library=LIBRARY,
        pkcs11_token=token,
        pkcs11_pin=PIN,
        key_file=tmp_path / "keys.json",
    )
    keys = settings.keys()  # development: made in the token on first use

    # when
    async with sessions() as session, session.begin():
        person = await people.new_user(
            session,
            keys,
            email="hsm@example.test",
            display_name="Token Person",
            status=people.UserStatus.ACTIVE,
        )
    async with sessions() as session:
        found = await people.find_by_email(session, settings.keys(), "hsm@example.test")
        opened = await people.opened(session, settings.keys(), found) if found else {}

    # then
    assert found is not None
    assert found.id == person.id
    assert opened == {"email": "hsm@example.test", "display_name": "Token Person"}
