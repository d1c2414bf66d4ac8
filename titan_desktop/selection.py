"""The list-plus-details controller shared by the Output, Progress and Ops panels.

A panel shows a list (projects, ops changes) and the details of the one row the person selected.
``SelectionController`` owns what they all do the same way: the selected id, coalesced reloads of
the list and of the details as coroutines on the qasync loop (never blocking the UI thread),
reloads when ``ctx.events.tablesChanged`` names a watched table, dropping details that arrive
after the person moved on, and actions on the selected row that report in one line.
"""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

from PySide6.QtCore import QObject, Signal

from titan_desktop.context import AppContext
from titan_desktop.tasks import Reloader
from worker.errors import TitanError

T = TypeVar("T")


def current_user() -> str:
    """The login name stored with a person's decision ("" when the system cannot say)."""
    try:
        return getpass.getuser()
    except Exception:
        return ""


class SelectionController(QObject):
    """Subclasses set ``list_table`` and ``watched`` and implement the four loading hooks."""

    message = Signal(str)  # a line for the person: action done or why it could not be
    selectionChanged = Signal(object)  # whatever ``_show_details`` returned, or None

    list_table: ClassVar[str]  # a change to this table reloads the list
    watched: ClassVar[frozenset[str]]  # a change to any of these reloads the selected details

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.selected_id: int | None = None
        self.selected: Any = None
        self._list = Reloader(ctx, self._load_list)
        self._details = Reloader(ctx, self._load_details)
        ctx.events.tablesChanged.connect(self._on_tables)

    def start(self) -> None:
        """Load the list for the first time."""
        self._list.request()

    def reload_list(self) -> None:
        """Load the list again (coalesced with a load already under way)."""
        self._list.request()

    def select(self, key: int | None) -> None:
        """Show the details of row ``key`` (None clears them); the same row again: no-op."""
        if key == self.selected_id:
            return
        self.selected_id = key
        if key is None:
            self.selected = None
            self._clear_details()
            self.selectionChanged.emit(None)
            return
        self._details.request()

    # -- hooks ---------------------------------------------------------------------------------

    async def _load_list(self) -> None:
        raise NotImplementedError

    async def _fetch_details(self, key: int) -> Any:
        """The details of row ``key``; raises TitanError when it is gone."""
        raise NotImplementedError

    def _show_details(self, details: Any) -> Any:
        """Fill the detail models; return what becomes ``selected`` (``selected`` is still the
        previous value while this runs)."""
        raise NotImplementedError

    def _clear_details(self) -> None:
        """Empty the detail models when nothing is selected."""

    # -- machinery -----------------------------------------------------------------------------

    def _on_tables(self, tables: set[str]) -> None:
        if self.list_table in tables:
            self._list.request()
        if self.selected_id is not None and tables & self.watched:
            self._details.request()

    async def _load_details(self) -> None:
        key = self.selected_id
        if key is None:
            return
        try:
            details = await self._fetch_details(key)
        except TitanError:  # deleted meanwhile: the list reload drops the row
            return
        if key != self.selected_id:  # the person selected another row while this loaded
            return
        self.selected = self._show_details(details)
        self.selectionChanged.emit(self.selected)

    def _act_on_selected(self, call: Callable[[int], Awaitable[T]], *, failed: str,
                         done: Callable[[int, T], None], unselected: str | None = None) -> None:
        """Run ``call(selected id)`` on the loop, then ``done(id, result)``. A TitanError becomes
        the message "{failed}: {error}"; with nothing selected, ``unselected`` (if any) is shown."""
        key = self.selected_id
        if key is None:
            if unselected:
                self.message.emit(unselected)
            return

        async def run() -> None:
            try:
                result = await call(key)
            except TitanError as exc:
                self.message.emit(f"{failed}: {exc}")
                return
            done(key, result)

        self.ctx.spawn(run())
