"""The Logs tab's time column: every line shows its date, so yesterday never reads as today."""

from __future__ import annotations

from datetime import datetime, timedelta

from PySide6.QtCore import Qt
from sqlalchemy import text

from tests.desktop.conftest import run, wait_until
from titan_desktop.context import AppContext
from titan_desktop.logs.view import LogsTab
from worker.db.engine import Database


def test_time_column_shows_the_date_of_old_and_new_lines(settings, db_url: str, qloop,
                                                         qtbot) -> None:
    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            async with db.session() as session:
                await session.execute(text("""
                    INSERT INTO log_entries (ts, level, logger, message) VALUES
                      (now() - interval '1 day', 'INFO', 'test', 'a line from yesterday'),
                      (now(), 'INFO', 'test', 'a line from today')"""))
            tab = LogsTab(ctx)
            qtbot.addWidget(tab)
            tab.resize(1200, 400)
            tab.show()
            model = tab.controller.model
            await wait_until(lambda: len(model.rows) == 2, 15, "both lines")
            shown = {model.index(r, 5).data(): model.index(r, 0).data() for r in range(2)}
            today = datetime.now().astimezone()
            yesterday = today - timedelta(days=1)
            assert shown["a line from today"].startswith(today.strftime("%Y-%m-%d "))
            assert shown["a line from yesterday"].startswith(yesterday.strftime("%Y-%m-%d "))
            # The column is wide enough for the whole stamp (nothing elided away).
            width = tab.table.columnWidth(0)
            for stamp in shown.values():
                assert tab.table.fontMetrics().horizontalAdvance(stamp) < width
            # The tooltip has the full ISO time with its UTC offset.
            tip = model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
            assert datetime.fromisoformat(tip).utcoffset() is not None
            tab.close()
            await ctx.cancel_tasks()
        finally:
            await db.dispose()

    run(qloop, body())
