"""Signed-in viewers kept between requests while the database says nothing changed.

Reading a viewer costs a round trip per request: the policy counters, the account,
its login session and its roles. On PostgreSQL a trigger (migration 0017) NOTIFYs
``lendgraph_identity`` whenever a statement changes any of those, whoever runs it;
every worker LISTENs and forgets what it kept. So a kept viewer is used only while

- this worker is listening, and has listened without a break since the viewer was
  read (a notification lost in a reconnect cannot leave a stale one behind);
- no notification has arrived since it was read (one read while a change commits is
  not kept);
- its token has not expired, and it is younger than ``MAX_AGE`` (a bound on a
  notification that is slow to arrive);
- no mutation has run in this worker since (its own changes count at once, before
  their notification comes back).

Without PostgreSQL (SQLite, one process) nothing is kept: every request reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.identity.viewer import Viewer
from kernel import events
from kernel.base import utcnow

log = logging.getLogger("lendgraph.viewers")

CHANNEL = "lendgraph_identity"
MAX_AGE = timedelta(seconds=30)
MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Kept:
    viewer: Viewer
    until: datetime
    epoch: int


class ViewerCache:
    def __init__(self) -> None:
        self._kept: OrderedDict[str, Kept] = OrderedDict()
        # Changes with every notification and every reconnect of the listener.
        self.epoch = 0
        self._listening = False
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self._listening

    def get(self, authorization: str, now: datetime | None = None) -> Viewer | None:
        if not self._listening:
            return None
        kept = self._kept.get(authorization)
        if kept is None:
            return None
        if kept.epoch != self.epoch or kept.until <= (now or utcnow()):
            del self._kept[authorization]
            return None
        return kept.viewer

    def put(self, authorization: str, viewer: Viewer, *, expires: datetime, epoch: int) -> None:
        """Keep a viewer read at ``epoch`` (taken before the read), unless it moved since."""
        if not self._listening or epoch != self.epoch:
            return
        self._kept[authorization] = Kept(viewer, min(expires, utcnow() + MAX_AGE), epoch)
        if len(self._kept) > MAX_ENTRIES:
            self._kept.popitem(last=False)

    def forget(self) -> None:
        """Something changed: nothing kept so far may be used again."""
        self.epoch += 1
        self._kept.clear()

    # ------------------------------------------------------------ listening

    async def start(self, hub: events.EventHub) -> None:
        """Follow identity changes through ``hub`` (PostgreSQL): keeps viewers from then."""
        hub.watch_state(self._on_state)
        self._task = asyncio.get_running_loop().create_task(self._follow(hub), name="viewers")

    async def stop(self) -> None:
        task, self._task = self._task, None
        self._on_state(False)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _on_state(self, listening: bool) -> None:
        # Whatever was kept may have missed a notification while nobody listened.
        self.forget()
        self._listening = listening

    async def _follow(self, hub: events.EventHub) -> None:
        while True:
            try:
                async with hub.subscribe(CHANNEL) as changes:
                    async for _ in changes:
                        self.forget()
            except asyncio.CancelledError:
                raise
            except Exception:  # the subscription itself failed: read viewers every time
                log.warning("not following identity changes; viewers are read every time")
                self._on_state(False)
            await asyncio.sleep(1)
