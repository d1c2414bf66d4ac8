"""Coalesced reloads: one load in flight at a time, one more queued however often it is asked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from titan_desktop.context import AppContext


class Reloader:
    def __init__(self, ctx: AppContext, load: Callable[[], Awaitable[None]]) -> None:
        self.ctx = ctx
        self.load = load
        self.busy = False
        self._again = False
        self.loads = 0  # how many loads ran (tests read it)

    def request(self) -> None:
        if self.busy:
            self._again = True
            return
        self.busy = True
        self.ctx.spawn(self._run())

    async def _run(self) -> None:
        try:
            while True:
                self._again = False
                self.loads += 1
                await self.load()
                if not self._again:
                    break
        finally:
            self.busy = False
