"""Queue → Jobs: pages as you scroll, filters, header sorting, selection, and bulk actions whose
confirmation names the count; live updates from NOTIFY. Real PostgreSQL, real LiveEvents.

The confirmation's answer is patched in (a modal dialog's own event loop cannot run inside the
test's qasync task); the buttons, the clicks, the counts and the database changes are real.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox
from sqlalchemy import text

from tests.desktop.conftest import run, wait_until
from titan_desktop.context import AppContext
from titan_desktop.jobs.tab import QueueTab
from titan_desktop.live import LiveEvents
from worker.db.engine import Database

LEFT = Qt.MouseButton.LeftButton
CTRL = Qt.KeyboardModifier.ControlModifier


async def _sql(db: Database, sql: str) -> Any:
    async with db.session() as s:
        return (await s.execute(text(sql))).scalar()


def _click_row(qtbot: Any, table: Any, row: int, modifier: Any = Qt.KeyboardModifier.NoModifier
               ) -> None:
    rect = table.visualRect(table.model().index(row, 1))
    qtbot.mouseClick(table.viewport(), LEFT, modifier, QPoint(rect.center()))


def test_jobs_view_filters_sorts_pages_and_acts_in_bulk(settings, db_url: str, qloop, qtbot,
                                                       monkeypatch) -> None:
    asked: list[str] = []
    answers: list[QMessageBox.StandardButton] = []

    def question(_parent, _title, words, *_args):  # type: ignore[no-untyped-def]
        asked.append(words)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        live = LiveEvents(ctx.events, db.url)
        try:
            async with db.session() as s:
                await s.execute(text("""
                    INSERT INTO jobs (kind, status, attempts, last_error)
                    SELECT 'noop', 'succeeded', 1, NULL FROM generate_series(1, 400);
                    INSERT INTO jobs (kind, status, attempts, last_error)
                    SELECT 'build', 'dead', 3, 'build failed: exit 2' FROM generate_series(1, 30);
                    INSERT INTO jobs (kind, status) SELECT 'deploy', 'queued'
                    FROM generate_series(1, 5);"""))
            live.start()
            tab = QueueTab(ctx)
            qtbot.addWidget(tab)
            tab.resize(1200, 600)
            tab.show()
            assert tab.tabText(0) == "Jobs"
            view = tab.jobs
            model = view.controller.model
            await wait_until(lambda: len(model.rows) == 200, 15, "the first page")
            await wait_until(lambda: view.counter.text() == "435 matching jobs", 15, "the count")
            assert [model.index(0, c).data() for c in (1, 2)] == ["deploy", "queued"]

            view.table.scrollToBottom()  # the view asks for the next page itself
            await wait_until(lambda: len(model.rows) == 400, 15, "the second page")

            view.state.setCurrentIndex(view.state.findData("dead"))
            await wait_until(lambda: len(model.rows) == 30 and model.exhausted, 15, "dead jobs")
            assert {model.index(r, 2).data() for r in range(30)} == {"dead"}
            await wait_until(lambda: view.counter.text() == "30 matching jobs", 15, "30")

            # Sort by attempts, ascending then descending, by clicking the header.
            header = view.table.horizontalHeader()
            attempts_x = header.sectionViewportPosition(4) + 10
            qtbot.mouseClick(header.viewport(), LEFT, pos=QPoint(attempts_x, 5))
            await wait_until(lambda: model.sort_key == "attempts" and len(model.rows) == 30,
                             15, "sorted by attempts")

            # Select three rows: click, ctrl-click, ctrl-click; Retry… names 3.
            _click_row(qtbot, view.table, 0)
            _click_row(qtbot, view.table, 4, CTRL)
            _click_row(qtbot, view.table, 7, CTRL)
            chosen = view.selected_ids()
            assert len(chosen) == 3 and view.selected_label.text() == "3 selected"
            answers.append(QMessageBox.StandardButton.No)
            qtbot.mouseClick(view.buttons["retry"], LEFT)
            await wait_until(lambda: len(asked) == 1, 15, "the question")
            assert asked[0].startswith("Retry 3 jobs?")
            await wait_until(lambda: view.feedback.text() == "Nothing changed.", 15, "no")
            assert await _sql(db, "SELECT count(*) FROM jobs WHERE status = 'dead'") == 30

            answers.append(QMessageBox.StandardButton.Yes)
            qtbot.mouseClick(view.buttons["retry"], LEFT)
            await wait_until(lambda: view.feedback.text() == "Retried 3 jobs.", 15, "retried")
            assert asked[1].startswith("Retry 3 jobs?")
            ids = ",".join(map(str, chosen))
            assert await _sql(db, f"SELECT count(*) FROM jobs WHERE id IN ({ids}) "
                                  "AND status = 'queued' AND attempts = 0") == 3
            # The retried jobs leave the "dead" list by themselves.
            await wait_until(lambda: len(model.rows) == 27, 15, "the list to follow")
            await wait_until(lambda: view.counter.text() == "27 matching jobs", 15, "27")

            # "All 27 matching" → Discard… names 27 and deletes them.
            qtbot.mouseClick(view.all_matching, LEFT)
            assert view.all_matching.isChecked() and view.all_matching.text() == \
                "All 27 matching"
            answers.append(QMessageBox.StandardButton.Yes)
            qtbot.mouseClick(view.buttons["discard"], LEFT)
            await wait_until(lambda: view.feedback.text() == "Discarded 27 jobs.", 15, "gone")
            assert asked[2].startswith("Discard 27 jobs?")
            assert await _sql(db, "SELECT count(*) FROM jobs WHERE status = 'dead'") == 0
            await wait_until(lambda: len(model.rows) == 0, 15, "an empty list")

            # A job dying elsewhere shows up on its own (NOTIFY → LiveEvents → refresh).
            await _sql(db, "UPDATE jobs SET status = 'dead', attempts = 3, last_error = 'x' "
                           "WHERE kind = 'deploy' AND id = (SELECT min(id) FROM jobs "
                           "WHERE kind = 'deploy') RETURNING id")
            await wait_until(lambda: len(model.rows) == 1, 15, "the newly dead job")
            assert model.index(0, 1).data() == "deploy"

            # Cancel on "all matching" with nothing cancellable says so, asks nothing.
            qtbot.mouseClick(view.buttons["cancel"], LEFT)
            await wait_until(lambda: view.feedback.text().startswith("Nothing to cancel"), 15,
                             "nothing to cancel")
            assert len(asked) == 3
            tab.close()
        finally:
            await live.stop()
            await ctx.cancel_tasks()
            await db.dispose()

    run(qloop, body())


def test_live_updates_keep_the_selection_on_its_job(settings, db_url: str, qloop, qtbot) -> None:
    """New jobs arriving at the top, a selected job changing state, and (sorted by Updated)
    a selected job moving to the top: the same job stays selected and shows what it is now."""

    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        live = LiveEvents(ctx.events, db.url)
        try:
            await _sql(db, "INSERT INTO jobs (kind, status, attempts, updated_at) "
                           "SELECT 'noop', 'succeeded', 1, now() - g * interval '1 min' "
                           "FROM generate_series(1, 50) g RETURNING 1")
            live.start()
            tab = QueueTab(ctx)
            qtbot.addWidget(tab)
            tab.resize(1200, 600)
            tab.show()
            view = tab.jobs
            model = view.controller.model
            await wait_until(lambda: len(model.rows) == 50, 15, "the first page")

            _click_row(qtbot, view.table, 3)
            [chosen] = view.selected_ids()
            await _sql(db, "INSERT INTO jobs (kind, status) SELECT 'deploy', 'queued' "
                           "FROM generate_series(1, 5) RETURNING 1")
            await wait_until(lambda: len(model.rows) == 55, 15, "the new jobs on top")
            assert [model.index(r, 1).data() for r in range(5)] == ["deploy"] * 5
            assert view.selected_ids() == [chosen] and model.row_of(chosen) == 8
            assert view.selected_label.text() == "1 selected"

            await _sql(db, "UPDATE jobs SET status = 'dead', attempts = 3, last_error = 'boom', "
                           f"updated_at = now() WHERE id = {chosen} RETURNING id")
            await wait_until(lambda: model.index(8, 2).data() == "dead", 15, "its new state")
            assert view.selected_ids() == [chosen]
            assert model.index(8, 5).data() == "boom"

            # Sorted by Updated (newest first), a job that changes moves to the top.
            header = view.table.horizontalHeader()
            updated_x = header.sectionViewportPosition(8) + 10
            qtbot.mouseClick(header.viewport(), LEFT, pos=QPoint(updated_x, 5))
            await wait_until(lambda: model.sort_key == "updatedAt" and len(model.rows) == 55,
                             15, "sorted by Updated")
            if not model.descending:  # the first click may sort ascending
                qtbot.mouseClick(header.viewport(), LEFT, pos=QPoint(updated_x, 5))
                await wait_until(lambda: model.descending and len(model.rows) == 55, 15,
                                 "newest first")
            oldest = model.rows[-1].id
            _click_row(qtbot, view.table, 54)
            assert view.selected_ids() == [oldest]
            await _sql(db, "UPDATE jobs SET attempts = 2, updated_at = now() + interval '1 min' "
                           f"WHERE id = {oldest} RETURNING id")
            await wait_until(lambda: model.row_of(oldest) == 0, 15, "the job to move up")
            assert view.selected_ids() == [oldest]
            assert model.index(0, 4).data() == "2/3"
            tab.close()
        finally:
            await live.stop()
            await ctx.cancel_tasks()
            await db.dispose()

    run(qloop, body())
