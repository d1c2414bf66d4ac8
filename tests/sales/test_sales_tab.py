"""The Sales tab (pytest-qt, offscreen): KPI cards per currency, the chart's points, the
tables, the empty state, live updates through real LISTEN/NOTIFY and the Record order dialog.

Runs on a qasync loop, as the app does, against a real PostgreSQL. Any Qt warning fails a test.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6.QtCharts")
qasync = pytest.importorskip("qasync")

from tests.helpers import wait_until  # noqa: E402
from tests.sales.helpers import NOW, UTC_ZONE, seed_shop  # noqa: E402
from titan_desktop.context import AppContext  # noqa: E402
from titan_desktop.live import LiveEvents  # noqa: E402
from titan_desktop.sales.controller import SalesController  # noqa: E402
from titan_desktop.sales.view import SalesTab  # noqa: E402
from worker.db.engine import Database  # noqa: E402
from worker.sales.csvimport import import_csv  # noqa: E402

pytestmark = [
    pytest.mark.gui,
    pytest.mark.qt_log_level_fail("WARNING"),
    # The offscreen platform's own limitation, printed whenever any window is shown.
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints"),
]


def run_qt(qapp: Any, body: Callable[[], Awaitable[None]]) -> None:
    # Closing the tab (the only window) must not stop the loop under the test's feet.
    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp)
    try:
        loop.run_until_complete(body())
    finally:
        gc.collect()  # the test's Qt objects go here, on the GUI thread, while the loop exists
        loop.close()


def card_values(tab: SalesTab) -> dict[str, list[str]]:
    return {card.title.text(): card.value.text().split("\n") for card in tab.cards}


def test_tab_shows_kpis_chart_and_tables(qapp: Any, settings: Any, db_url: str,
                                         tmp_path: Path) -> None:
    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        try:
            await seed_shop(db)
            controller = SalesController(ctx, now=lambda: NOW, tz=UTC_ZONE)
            tab = SalesTab(ctx, controller=controller)
            tab.resize(1360, 900)
            tab.show()
            await wait_until(lambda: controller.overview and controller.series and
                             not controller.busy, 15, "the first load")

            cards = card_values(tab)  # one line per currency: EUR, JPY, USD
            assert cards["Revenue today"] == ["€15.50", "¥0", "$129.00"]
            assert cards["Last 7 days"] == ["€15.50", "¥1,200", "$179.00"]
            assert cards["Last 30 days"] == ["€115.49", "¥1,200", "$199.00"]
            assert cards["All time"] == ["€115.49", "¥1,200", "$1,199.00"]
            assert cards["Orders"] == ["2 EUR", "1 JPY", "4 USD"]
            assert cards["Average order"] == ["€57.75", "¥1,200", "$299.75"]
            assert cards["Refunds"] == ["€15.50", "¥0", "$29.99"]
            assert not tab.banner.isVisible()
            assert tab.income.value.text() == "¥1,200"  # yesterday, 14 June
            assert "Friday 14 June" in tab.yesterday_box.title()

            # Each currency charted on its own; USD sold on the most days, so it comes first.
            assert tab.currency.currentText() == "USD"
            assert tab.chart.line.count() == 30
            assert tab.chart.line.at(29).y() == 129.0
            tab.currency.setCurrentText("EUR")
            assert tab.chart.line.count() == 30 and tab.chart.line.at(29).y() == 15.5
            tab.bucket.setCurrentIndex(1)  # by week
            await wait_until(lambda: controller.series.bucket == "week" and not controller.busy, 15,
                             "the weekly series")
            assert tab.chart.line.count() == 12
            tab.bucket.setCurrentIndex(2)  # by month
            await wait_until(lambda: controller.series.bucket == "month" and not controller.busy,
                             15, "the monthly series")
            assert tab.chart.line.count() == 12

            assert tab.projects_table.model().rowCount() == 5
            first = [tab.projects_table.model().index(0, c).data() for c in range(4)]
            assert first == ["Ebook", "EUR", "2", "€115.49"]  # by currency, then revenue
            # Its JPY row still shows the project's price in the project's own currency.
            assert tab.projects_table.model().index(1, 5).data() == "€15.50"
            assert tab.actions_table.model().rowCount() == 10
            assert tab.actions_table.model().index(1, 1).data() == \
                "Sold 3 PDFs: received €15.50 via Shopify"
            assert tab.grab().save(str(tmp_path / "sales-tab.png"))
            if os.environ.get("TITAN_SALES_SCREENSHOT"):
                tab.grab().save(os.environ["TITAN_SALES_SCREENSHOT"])
            tab.close()
            tab.deleteLater()
        finally:
            await ctx.cancel_tasks()
            await db.dispose()

    run_qt(qapp, body)


def test_empty_tab_then_live_orders_and_the_record_dialog(qapp: Any, settings: Any,
                                                          db_url: str, tmp_path: Path) -> None:
    async def body() -> None:
        db = Database(db_url)
        ctx = AppContext(settings, db)
        live = LiveEvents(ctx.events, db_url)
        try:
            tab = SalesTab(ctx)
            tab.show()
            controller = tab.controller
            await wait_until(lambda: controller.overview is not None and not controller.busy, 15,
                             "the first load")
            # Nothing sold, nothing connected: say how to connect, show no figures.
            assert tab.banner.isVisible()
            assert "Stripe (set STRIPE_API_KEY)" in tab.banner.text()
            assert "Shopify (set SHOPIFY_STORE and SHOPIFY_TOKEN)" in tab.banner.text()
            assert card_values(tab)["All time"] == ["—"]
            assert tab.chart.line.count() == 0
            # The empty chart spans this period's dates (not 1970) and says why it is empty.
            starts = controller.series.starts
            assert tab.chart.x_axis.min().date().toPython() == starts[0]
            assert tab.chart.x_axis.max().date().toPython() == starts[-1]
            assert starts[-1] == datetime.now().date()
            assert tab.chart.chart().title() == "No paid orders in the last 30 days"
            assert not tab.chart.y_axis.labelsVisible()
            assert tab.chart.grab().save(str(tmp_path / "empty-chart.png"))
            assert not tab.sync_button.isEnabled()

            live.start()
            await wait_until(lambda: live.is_online, 15, "the LISTEN connection")
            now = datetime.now(UTC).isoformat()
            csv_file = tmp_path / "orders.csv"
            csv_file.write_text(
                "date,project,customer,email,amount,currency,status,external id\n"
                f"{now},,Ann,,40.00,USD,paid,L-1\n{now},,Bob,,2.50,USD,paid,L-2\n",
                encoding="utf-8")
            await import_csv(db, csv_file)  # as `titan sales import` would, elsewhere
            await wait_until(lambda: card_values(tab)["All time"] == ["$42.50"], 15,
                             "the live update after an import")
            assert card_values(tab)["Revenue today"] == ["$42.50"]
            assert not tab.banner.isVisible()

            dialog = tab.open_record_dialog()
            dialog.customer.setText("Cleo")
            dialog.amount.setText("9.999")
            dialog.currency.setCurrentText("USD")
            dialog.submit()
            await wait_until(lambda: dialog.error.text() != "", 15, "the validation message")
            assert dialog.error.text().startswith("Amount: '9.999' has more than 2 decimal")
            assert dialog.isVisible()
            dialog.amount.setText("10.00")
            dialog.submit()
            await wait_until(lambda: not dialog.isVisible(), 15, "the dialog to close")
            await wait_until(lambda: card_values(tab)["Orders"] == ["3 USD"], 15,
                             "the recorded order")
            await wait_until(lambda: tab.chart.line.count() == 30, 15, "the chart's first points")
            assert tab.chart.y_axis.labelsVisible()
            assert tab.chart.chart().title() == "Revenue per day (USD)"
            assert card_values(tab)["All time"] == ["$52.50"]
            assert tab.actions_table.model().index(0, 1).data() == \
                "Sold an order to Cleo: received $10.00 via manual entry"
            tab.close()
            tab.deleteLater()
        finally:
            await live.stop()
            live.deleteLater()
            await ctx.cancel_tasks()
            await db.dispose()

    run_qt(qapp, body)
