"""SelectionController, the list-plus-details logic behind the Output, Progress and Ops panels.

The subclass here loads its "details" from gates the test opens, so the test decides the order
in which loads finish (a person clicking faster than the database answers); the Reloader, the
qasync loop and the table-change signal are the real ones the panels use.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.desktop.conftest import run, wait_until
from titan_desktop.context import AppContext
from titan_desktop.selection import SelectionController
from worker.db.engine import Database
from worker.errors import Conflict, NotFound

GONE = 13  # the row that is deleted while its details load


class Gated(SelectionController):
    list_table = "things"
    watched = frozenset({"things", "parts"})

    def __init__(self, ctx: AppContext) -> None:
        super().__init__(ctx)
        self.gates: dict[int, asyncio.Event] = {}
        self.fetched: list[int] = []
        self.lists = 0
        self.cleared = 0
        self.shown: list[Any] = []
        self.selectionChanged.connect(self.shown.append)

    def open(self, key: int) -> None:
        self.gates.setdefault(key, asyncio.Event()).set()

    async def _load_list(self) -> None:
        self.lists += 1

    async def _fetch_details(self, key: int) -> str:
        self.fetched.append(key)
        await self.gates.setdefault(key, asyncio.Event()).wait()
        if key == GONE:
            raise NotFound(f"no thing {key}")
        return f"thing {key}"

    def _show_details(self, details: str) -> str:
        return details.upper()

    def _clear_details(self) -> None:
        self.cleared += 1


def idle(c: Gated) -> bool:
    return not c._details.busy and not c._list.busy


def test_details_of_a_row_the_person_left_are_dropped(settings, db_url: str, qloop) -> None:
    async def scenario() -> None:
        ctx = AppContext(settings, Database(db_url))
        c = Gated(ctx)
        c.select(1)
        await wait_until(lambda: c.fetched == [1], what="row 1 loading")
        c.select(2)  # before row 1's details arrive
        c.open(1)
        c.open(2)
        await wait_until(lambda: idle(c) and c.fetched == [1, 2], what="both loads")
        assert c.shown == ["THING 2"] and c.selected == "THING 2"

        c.select(2)  # the same row again loads nothing
        assert idle(c)
        c.select(None)
        assert (c.selected, c.shown[-1], c.cleared) == (None, None, 1)
        assert c.fetched == [1, 2]

    run(qloop, scenario())


def test_a_row_deleted_while_loading_is_skipped(settings, db_url: str, qloop) -> None:
    async def scenario() -> None:
        ctx = AppContext(settings, Database(db_url))
        c = Gated(ctx)
        c.open(5)
        c.select(5)
        await wait_until(lambda: c.selected == "THING 5", what="row 5 shown")
        c.select(GONE)
        await wait_until(lambda: c.fetched == [5, GONE], what="row 13 loading")
        c.select(6)  # the person moves on while row 13 turns out to be deleted
        c.open(GONE)
        c.open(6)
        await wait_until(lambda: c.selected == "THING 6", what="row 6 shown after all")
        assert c.shown == ["THING 5", "THING 6"]  # nothing was announced for the deleted row

    run(qloop, scenario())


def test_table_changes_reload_the_list_and_the_selected_details(settings, db_url: str,
                                                                qloop) -> None:
    async def scenario() -> None:
        ctx = AppContext(settings, Database(db_url))
        c = Gated(ctx)
        c.open(7)
        ctx.events.tablesChanged.emit({"parts"})  # nothing selected: nothing to reload
        ctx.events.tablesChanged.emit({"things"})
        await wait_until(lambda: idle(c) and c.lists == 1, what="the list reload")
        assert c.fetched == []

        c.select(7)
        await wait_until(lambda: idle(c) and c.fetched == [7], what="row 7 loaded")
        ctx.events.tablesChanged.emit({"parts"})
        await wait_until(lambda: idle(c) and c.fetched == [7, 7], what="row 7 reloaded")
        ctx.events.tablesChanged.emit({"unrelated"})  # a reload would start right here
        assert idle(c) and c.lists == 1 and c.fetched == [7, 7]

    run(qloop, scenario())


def test_an_action_reports_its_failure_in_one_line(settings, db_url: str, qloop) -> None:
    async def scenario() -> None:
        ctx = AppContext(settings, Database(db_url))
        c = Gated(ctx)
        messages: list[str] = []
        c.message.connect(messages.append)
        done: list[tuple[int, str]] = []

        async def refuse(key: int) -> str:
            raise Conflict(f"thing {key} is busy")

        async def accept(key: int) -> str:
            return f"did {key}"

        c._act_on_selected(accept, failed="Could not do it", done=lambda *a: done.append(a),
                           unselected="Select a thing first.")
        assert messages == ["Select a thing first."] and done == []

        c.open(3)
        c.select(3)
        c._act_on_selected(refuse, failed="Could not do it", done=lambda *a: done.append(a))
        await wait_until(lambda: messages[-1:] == ["Could not do it: thing 3 is busy"],
                         what="the failure line")
        c._act_on_selected(accept, failed="Could not do it", done=lambda *a: done.append(a))
        await wait_until(lambda: done == [(3, "did 3")], what="the action done")
        assert len(messages) == 2
        await ctx.cancel_tasks()

    run(qloop, scenario())
