"""The status bar: database (embedded or host, online/offline), worker, queue, the AI in use
("AI: llama3.2 @ ollama", "AI: local draft model", "AI off"; the tooltip says how to change
it); worker buttons."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QStatusBar, QToolButton, QWidget

from titan_desktop import fmt
from titan_desktop.context import AppContext
from titan_desktop.elided_label import ElidedLabel
from titan_desktop.live import ALL_TABLES
from titan_desktop.supervisor import EmbeddedDatabaseWatch, WorkerSupervisor
from titan_desktop.tasks import Reloader
from worker.ai.discovery import AIInUse, in_use
from worker.config import Settings
from worker.services.database import describe
from worker.services.workers import WorkerInfo


class StatusController(QObject):
    """Keeps the numbers the status bar shows; refreshes on events and every 2 seconds."""

    changed = Signal()

    def __init__(self, ctx: AppContext, supervisor: WorkerSupervisor,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.supervisor = supervisor
        self.online = False
        self.queued = 0
        self.running = 0
        self.database = ("embedded (" + str(ctx.settings.titan_home / "pgdata") + ")"
                         if ctx.settings.embedded else describe(ctx.db))
        self._reload = Reloader(ctx, self._load)
        ctx.events.online.connect(self._on_online)
        ctx.events.tablesChanged.connect(self._on_tables)
        supervisor.stateChanged.connect(lambda _s: self.changed.emit())
        supervisor.workerChanged.connect(lambda _w: self.changed.emit())
        self.db_watch: EmbeddedDatabaseWatch | None = None
        if ctx.settings.embedded:
            self.db_watch = EmbeddedDatabaseWatch(ctx.settings.titan_home, self)
            self.db_watch.restarted.connect(self._on_database_restarted)
        self._timer = QTimer(self, interval=2000)
        self._timer.timeout.connect(self._reload.request)
        self._timer.start()
        self._reload.request()

    def _on_online(self, online: bool) -> None:
        self.online = online
        self.changed.emit()

    def _on_database_restarted(self, _when: object) -> None:
        # Whatever changed while it was down (or was lost with it): every tab reloads now
        # rather than when the event listener's backoff lets it reconnect.
        self.ctx.events.tablesChanged.emit(set(ALL_TABLES))
        self._reload.request()
        self.changed.emit()

    def _on_tables(self, tables: set[str]) -> None:
        if tables & {"jobs", "workers"}:
            self._reload.request()

    async def _load(self) -> None:
        try:
            counts = await self.ctx.workers.queue_counts()
            self.queued, self.running = counts.get("queued", 0), counts.get("running", 0)
            await self.supervisor.refresh()
        except Exception:
            self.online = False  # the listener will say when it is back
        self.changed.emit()

    # -- texts ---------------------------------------------------------------------------------

    def database_text(self) -> str:
        state = "online" if self.online else "offline (polling)"
        restarted = self.db_watch.restarted_at if self.db_watch else None
        if restarted is not None:
            state += f" · restarted at {restarted:%H:%M}"
        return f"Database: {self.database} · {state}"

    def worker_text(self) -> str:
        sup = self.supervisor
        info: WorkerInfo | None = sup.info
        state = sup.state
        if state == "external" and info is not None:
            head = f"Worker: external on {info.host} (pid {info.pid}), {info.status}"
        elif state in ("running", "starting") and info is not None:
            head = f"Worker: {info.status} (pid {info.pid})"
        elif state == "crashed":
            head = f"Worker: crashed — restarting (restart #{sup.restarts})"
        else:
            head = f"Worker: {state}" + (f" (pid {sup.pid})" if sup.pid else "")
        if info is not None and state != "stopped":
            head += (f" · heartbeat {fmt.duration(info.heartbeat_age())} ago"
                     f" · {info.jobs_succeeded} jobs done")
            if info.jobs_failed:
                head += f", {info.jobs_failed} failed"
        return head

    def queue_text(self) -> str:
        return f"Queue: {self.queued} queued · {self.running} running"


class AILabel(ElidedLabel):
    """A few words ("AI: llama3.2 @ ollama"), shortened like its neighbours when the window is
    narrow; its tooltip always carries the detail and how to turn AI on or change it."""

    detail = ""

    def _update_tooltip(self) -> None:
        self.setToolTip(self.detail)


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Eliding labels: a long path or project name shortens with "…" (full text in the
        # tooltip) instead of pushing the window wider than the screen.
        self.database = ElidedLabel("Database: starting…", mode=Qt.TextElideMode.ElideMiddle,
                                    minimum_chars=16)
        self.database.setObjectName("statusDatabase")
        self.worker = ElidedLabel("Worker: not started", minimum_chars=16)
        self.worker.setObjectName("statusWorker")
        self.queue = ElidedLabel("", minimum_chars=12)
        self.queue.setObjectName("statusQueue")
        self.ai = AILabel("", minimum_chars=10)
        self.ai.setObjectName("statusAI")
        self.ai_state: AIInUse | None = None
        self.pause_button = QToolButton()
        self.pause_button.setText("Pause")
        self.pause_button.setToolTip("Stop claiming new jobs (running jobs finish)")
        self.resume_button = QToolButton()
        self.resume_button.setText("Resume")
        self.restart_button = QToolButton()
        self.restart_button.setText("Restart worker")
        self.restart_button.setToolTip("Stop the worker gracefully and start a new one")
        self.notice = ElidedLabel("")
        self.notice.setObjectName("statusNotice")
        self._notice_timer = QTimer(self, singleShot=True)
        self._notice_timer.timeout.connect(self.notice.clear)
        # Permanent, so a passing message never hides the database and worker state.
        for widget in (self.database, self.worker, self.queue, self.ai):
            self.addPermanentWidget(widget)
        self.addWidget(self.notice, 1)
        for button in (self.pause_button, self.resume_button, self.restart_button):
            button.setEnabled(False)
            self.addPermanentWidget(button)
        self.controller: StatusController | None = None

    def say(self, text: str, seconds: float = 8.0) -> None:
        """A passing notice (project published, created, ...)."""
        self.notice.setText(text)
        self._notice_timer.start(int(seconds * 1000))

    def show_ai(self, settings: Settings) -> None:
        """Which model Titan's AI uses with these settings (read from them, nothing is called)."""
        state = in_use(settings)
        self.ai_state = state
        self.ai.detail = state.tooltip
        self.ai.setText(state.label)
        self.ai.setProperty("state", {"configured": "ok", "local": "ok",
                                      "misconfigured": "bad"}.get(state.kind, "warn"))
        self.ai.style().unpolish(self.ai)
        self.ai.style().polish(self.ai)

    def bind(self, controller: StatusController) -> None:
        self.controller = controller
        self.show_ai(controller.ctx.settings)
        sup = controller.supervisor
        self.pause_button.clicked.connect(lambda: controller.ctx.spawn(sup.send_command("pause")))
        self.resume_button.clicked.connect(
            lambda: controller.ctx.spawn(sup.send_command("resume")))
        self.restart_button.clicked.connect(lambda: controller.ctx.spawn(sup.restart()))
        controller.changed.connect(self.refresh)
        if controller.db_watch is not None:
            controller.db_watch.restarted.connect(lambda when: self.say(
                f"Database restarted at {when:%H:%M}: the embedded PostgreSQL had stopped",
                seconds=30))
        # Heartbeat age ticks between refreshes.
        self._tick = QTimer(self, interval=1000)
        self._tick.timeout.connect(self.refresh)
        self._tick.start()
        self.refresh()

    def refresh(self) -> None:
        c = self.controller
        if c is None:
            return
        self.database.setText(c.database_text())
        self.database.setProperty("state", "ok" if c.online else "warn")
        self.worker.setText(c.worker_text())
        state = c.supervisor.state
        info = c.supervisor.info
        self.worker.setProperty("state", {"running": "ok", "external": "ok",
                                          "crashed": "bad"}.get(state, "warn"))
        self.queue.setText(c.queue_text())
        for label in (self.database, self.worker):
            label.style().unpolish(label)
            label.style().polish(label)
        live = info is not None and state in ("running", "external", "starting")
        self.pause_button.setEnabled(live and info is not None and info.status == "running")
        self.resume_button.setEnabled(live and info is not None and info.status == "paused")
        self.restart_button.setEnabled(True)
        self.restart_button.setText("Start worker here" if state in ("external", "stopped")
                                    else "Restart worker")
