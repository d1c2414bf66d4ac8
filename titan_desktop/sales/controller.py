"""Sales tab controller: loads the overview and the revenue series off the UI thread, records
orders, runs a sync, and reloads when ``orders`` (or ``projects``) change."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from PySide6.QtCore import QObject, QTimer, Signal

from titan_desktop.context import AppContext
from titan_desktop.sales.models import KpiModel, actions_model, project_sales_model
from titan_desktop.tasks import Reloader
from worker.db.models import Project
from worker.errors import InvalidInput, TitanError
from worker.sales.clock import local_timezone
from worker.sales.money import format_money
from worker.sales.overview import SalesOverview
from worker.sales.summary import Bucket, RevenueSeries

# Only these tables change the tab's figures. Yesterday's artifacts and messages cannot change
# today, so artifacts/log_entries (written all the time) are not watched; the day timer
# reloads everything when the date rolls over.
WATCHED = {"orders", "projects"}


class SalesController(QObject):
    overviewChanged = Signal(object)  # SalesOverview
    seriesChanged = Signal(object)  # RevenueSeries
    message = Signal(str)  # a line for the person: done, or why not
    recorded = Signal(int)  # id of the order just recorded (the dialog closes on it)
    recordFailed = Signal(str, str)  # field, message (the dialog shows it on that field)

    def __init__(self, ctx: AppContext, parent: QObject | None = None, *,
                 now: Callable[[], datetime] | None = None, tz: ZoneInfo | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.now = now or (lambda: datetime.now(UTC))
        self.tz = tz or local_timezone()
        self.kpis = KpiModel(self)
        self.projects = project_sales_model(self)
        self.actions = actions_model(self)
        self.bucket: Bucket = "day"
        self.overview: SalesOverview | None = None
        self.series: RevenueSeries | None = None
        self._overview = Reloader(ctx, self._load_overview)
        self._series = Reloader(ctx, self._load_series)
        ctx.events.tablesChanged.connect(self._on_tables)
        self._today = self._local_today()
        self._day_timer = QTimer(self, interval=60_000)
        self._day_timer.timeout.connect(self._check_day)
        self._day_timer.start()

    # -- loading -------------------------------------------------------------------------------

    def start(self) -> None:
        self.reload()

    def reload(self) -> None:
        self._overview.request()
        self._series.request()

    @property
    def busy(self) -> bool:
        return self._overview.busy or self._series.busy

    def _on_tables(self, tables: set[str]) -> None:
        if tables & WATCHED:
            self.reload()

    def _local_today(self) -> date:
        return self.now().astimezone(self.tz).date()

    def _check_day(self) -> None:
        if self._local_today() != self._today:
            self._today = self._local_today()
            self.reload()

    async def _load_overview(self) -> None:
        overview = await self.ctx.sales.overview(now=self.now(), tz=self.tz)
        self.overview = overview
        self.kpis.set_figures(overview.currencies)
        self.projects.set_rows(overview.projects)
        self.actions.set_rows(overview.actions)
        self.overviewChanged.emit(overview)

    async def _load_series(self) -> None:
        bucket = self.bucket
        series = await self.ctx.sales.series(bucket, now=self.now(), tz=self.tz)
        if bucket == self.bucket:  # a newer choice reloads on its own
            self.series = series
            self.seriesChanged.emit(series)

    def set_bucket(self, bucket: Bucket) -> None:
        if bucket != self.bucket:
            self.bucket = bucket
            self._series.request()

    # -- actions -------------------------------------------------------------------------------

    async def published_projects(self) -> list[Project]:
        """What the Record order dialog offers (newest first)."""
        return list(await self.ctx.projects.list(status="published", limit=500))

    def record(self, data: dict[str, Any]) -> None:
        """Record an order from the dialog; answers with ``recorded`` or ``recordFailed``."""

        async def run() -> None:
            try:
                order, created = await self.ctx.sales.record(data, tz=self.tz)
            except InvalidInput as exc:
                self.recordFailed.emit(exc.field, exc.message)
                return
            except TitanError as exc:
                self.recordFailed.emit("", str(exc))
                return
            money = format_money(order.amount_minor, order.currency)
            self.message.emit(f"Recorded {money} ({order.status})" if created
                              else "That order was already recorded.")
            self.recorded.emit(order.id)
            self.reload()  # also when live events are offline

        self.ctx.spawn(run())

    @property
    def can_sync(self) -> bool:
        return any(s.connected for s in self.ctx.sales.sources())

    def sync(self) -> None:
        async def run() -> None:
            self.message.emit("Syncing…")
            try:
                results = await self.ctx.sales.sync()
            except TitanError as exc:
                self.message.emit(f"Sync failed: {exc}")
                return
            self.message.emit("; ".join(f"{r.source.title()}: {r.inserted} new, "
                                        f"{r.updated} updated" for r in results))
            self.reload()

        self.ctx.spawn(run())
