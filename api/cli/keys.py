"""Keys of personal data: status, first key file, rotation and replacement online."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.common import console, guarded, print_json, progress, settings_or_exit
from api.cli.jobs import follow
from domain.settings import Settings
from kernel.db import create_engine, session_factory

if TYPE_CHECKING:
    from privacy.keys import KeyProvider

group = typer.Typer(
    help="Keys of personal data: master, blind-index, masking and data keys.",
    no_args_is_help=True,
)


async def _key_usage(settings: Settings) -> dict[str, int]:
    from privacy import keystore

    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            return await keystore.usage(session)
    finally:
        await engine.dispose()


@group.command("status")
def keys_status() -> None:
    """Which master key wraps how many data keys."""
    settings = settings_or_exit()
    current = settings.keys().current_kid
    usage = asyncio.run(_key_usage(settings))
    for kid, count in sorted(usage.items()):
        typer.echo(f"{kid}  {count} data keys" + ("  (current)" if kid == current else ""))
    if current not in usage:
        typer.echo(f"{current}  0 data keys  (current)")


@group.command("init")
def keys_init() -> None:
    """Make the key file (and, with PKCS#11, a first master key in the token) if absent."""
    from privacy import hsm
    from privacy import keys as key_files

    settings = settings_or_exit()
    path = settings.key_file
    if path.exists():
        console.print(f"{path} exists; nothing made")
        return
    if settings.key_provider == "pkcs11":
        made = hsm.create(path, *settings.pkcs11())
        console.print(f"master key {made.current_kid} made in token {settings.pkcs11()[1]}")
    else:
        key_files.write_file(path, key_files.generate())
    console.print(f"key file written to {path}")


def _from_file(settings: Settings, what: str) -> bool:
    """Whether this command may write the key file; with keys in the environment, say
    what the operator must change instead."""
    if settings.key_provider == "pkcs11" or settings.master_keys is None:
        return True
    console.print(f"keys come from the environment: {what}, then restart every process")
    return False


@group.command("rotate")
def keys_rotate(
    retire: Annotated[
        bool, typer.Option(help="Afterwards, drop master keys that no data key uses.")
    ] = False,
) -> None:
    """Introduce a new master key and rewrap every data key under it, online.

    With a key file, the new key is added to it (made in the token with PKCS#11); with
    LENDGRAPH_MASTER_KEYS, put the new key first there and restart the workers before
    running this. Until the rewrap finishes, every listed key still unwraps.
    """
    from privacy import keys as key_files

    settings = settings_or_exit()
    from_file = settings.key_provider == "pkcs11" or settings.master_keys is None
    keys = settings.keys()
    if from_file:
        keys = keys.rotated()
        key_files.write_text(settings.key_file, keys.to_json())
        console.print(f"new master key {keys.current_kid} written to {settings.key_file}")

    moved = asyncio.run(_rewrap(settings, keys))
    console.print(f"{moved} data keys now under {keys.current_kid}")
    if retire:
        usage = asyncio.run(_key_usage(settings))
        if set(usage) - {keys.current_kid}:
            console.print("[red]some data keys are still under older keys; nothing retired[/red]")
            raise typer.Exit(1)
        if not from_file:
            console.print("remove the older keys from LENDGRAPH_MASTER_KEYS to retire them")
            return
        key_files.write_text(settings.key_file, keys.retired().to_json())
        console.print(
            "older master keys retired: backups made before this rotation can no longer "
            "unwrap their data keys"
        )


@group.command("rotate-index")
def keys_rotate_index(
    retire: Annotated[
        bool, typer.Option(help="Afterwards, drop the older blind-index keys.")
    ] = False,
    wait: Annotated[bool, typer.Option(help="Follow the re-index with a progress bar.")] = True,
) -> None:
    """A new blind-index key, and every blind index rewritten under it by a job, online.

    Lookups match every live version until the older ones are retired, so finding a
    person by email or an enterprise by id number keeps working throughout.
    """
    from domain.jobs.tasks import REINDEX
    from privacy import keys as key_files

    settings = settings_or_exit()
    keys = settings.keys()
    if _from_file(settings, "put a new version first in LENDGRAPH_BLIND_INDEX_KEY"):
        hashing = keys.hashing
        keys = keys.with_hash_keys(
            key_files.HashKeys(hashing.blind_index.with_new_current(), hashing.masking)
        )
        key_files.write_text(settings.key_file, keys.to_json())
        console.print(f"new blind-index key {keys.hashing.blind_index.current}")
    done = guarded(settings, lambda: follow(settings, REINDEX, {}, wait=wait))
    print_json(done)
    if (
        retire
        and wait
        and _from_file(settings, "keep only the first version in LENDGRAPH_BLIND_INDEX_KEY")
    ):
        hashing = keys.hashing
        retired = keys.with_hash_keys(
            key_files.HashKeys(hashing.blind_index.only_current(), hashing.masking)
        )
        key_files.write_text(settings.key_file, retired.to_json())
        console.print("older blind-index keys retired")


@group.command("rotate-masking")
def keys_rotate_masking() -> None:
    """A new masking-hash key. Masked digests are never stored: it takes effect at once
    (a digest shown before no longer matches one shown after)."""
    import secrets

    from privacy import keys as key_files

    settings = settings_or_exit()
    if not _from_file(settings, "set a new LENDGRAPH_MASKING_KEY"):
        raise typer.Exit(1)
    keys = settings.keys()
    masking = secrets.token_bytes(key_files.KEY_BYTES)
    changed = keys.with_hash_keys(key_files.HashKeys(keys.hashing.blind_index, masking))
    key_files.write_text(settings.key_file, changed.to_json())
    console.print("new masking-hash key written")


@group.command("replace-data-keys")
def keys_replace_data_keys(
    wait: Annotated[bool, typer.Option(help="Follow the job with a progress bar.")] = True,
) -> None:
    """A fresh data key for every subject, every sealed value re-encrypted under it, by
    a job, a committed batch at a time (online)."""
    from domain.jobs.tasks import REKEY

    settings = settings_or_exit()
    print_json(guarded(settings, lambda: follow(settings, REKEY, {}, wait=wait)))


async def _rewrap(settings: Settings, keys: KeyProvider) -> int:
    """Every data key rewrapped under ``keys``' current master key, with a progress bar."""
    from privacy import keystore

    engine = create_engine(settings.database_url)
    try:
        with progress("rewrapping data keys") as report:
            return await keystore.rotate(session_factory(engine), keys, progress=report)
    finally:
        await engine.dispose()
