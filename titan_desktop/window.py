"""The main window: starts the database off the UI thread, then the tabs, live events, the
worker supervisor, the status bar and the tray icon. Remembers geometry and the last tab."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QIcon, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QSystemTrayIcon,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from titan_desktop.context import AppContext
from titan_desktop.history.view import HistoryView
from titan_desktop.input.view import InputTab
from titan_desktop.jason.desk import JasonDesk
from titan_desktop.jobs.tab import QueueTab
from titan_desktop.live import LiveEvents
from titan_desktop.logs.view import LogsTab
from titan_desktop.output.view import OutputTab
from titan_desktop.placeholder import SalesPlaceholder
from titan_desktop.progress.view import ProgressTab
from titan_desktop.statusbar import StatusBar, StatusController
from titan_desktop.supervisor import WorkerSupervisor
from titan_desktop.watcher import ProjectEvent, ProjectWatcher
from titan_desktop.workers.view import WorkersView
from worker.bootstrap import open_database
from worker.config import Settings
from worker.db.models import Project
from worker.logs import get_logger
from worker.paths import resources_dir

log = get_logger("titan.desktop")
TAB_NAMES = ("Progress", "Input", "Logs", "Output", "Sales", "Queue")


def app_icon() -> QIcon:
    try:
        return QIcon(str(resources_dir() / "icons" / "titan.svg"))
    except FileNotFoundError:
        return QIcon()


def optional_tab(module: str, attr: str) -> Callable[[AppContext], QWidget] | None:
    """A feature's tab class if that feature is installed and imports cleanly."""
    try:
        return getattr(importlib.import_module(module), attr)
    except Exception as exc:  # absent or broken: the window still opens
        if not isinstance(exc, ModuleNotFoundError):
            log.warning("optional tab failed to load", module=module, error=str(exc))
        return None


class MainWindow(QMainWindow):
    ready = Signal()  # the database is up and the tabs are built
    failed = Signal(str)  # the database could not be opened

    def __init__(self, settings: Settings, *, spawn_worker: bool = True,
                 worker_env: dict[str, str] | None = None, worker_concurrency: int = 4) -> None:
        super().__init__()
        self.settings = settings
        self.spawn_worker = spawn_worker
        self.worker_env = worker_env or {}
        self.worker_concurrency = worker_concurrency
        self.ctx: AppContext | None = None
        self.live: LiveEvents | None = None
        self.supervisor: WorkerSupervisor | None = None
        self.watcher: ProjectWatcher | None = None
        self.tray: QSystemTrayIcon | None = None
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.closed: asyncio.Future[None] | None = None
        self._shut_down = False

        self.setWindowTitle("Titan")
        self.setWindowIcon(app_icon())
        self.resize(1280, 820)
        self.prefs = QSettings(str(settings.titan_home / "desktop.ini"),
                               QSettings.Format.IniFormat)
        geometry = self.prefs.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.fit_to_screen()

        self.loading = QLabel("Starting the database…")
        self.loading.setObjectName("loading")
        self.loading.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.loading.setWordWrap(True)
        self.retry_button = QPushButton("Try again")
        self.retry_button.setVisible(False)
        self.retry_button.clicked.connect(self._retry_start)
        loading_page = QWidget()
        loading_layout = QVBoxLayout(loading_page)
        loading_layout.addStretch(1)
        loading_layout.addWidget(self.loading)
        loading_layout.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignCenter)
        loading_layout.addStretch(1)
        self.stack = QStackedWidget()
        self.stack.addWidget(loading_page)
        self.stack.addWidget(self.tabs)
        self.setCentralWidget(self.stack)

        self.status = StatusBar(self)
        self.setStatusBar(self.status)
        self._build_menu()

    def fit_to_screen(self) -> None:
        """Never larger than the screen's free area (whatever the default or the saved size)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        free = screen.availableGeometry()
        frame = self.frameGeometry()
        extra_w = max(0, frame.width() - self.width())  # the window manager's borders
        extra_h = max(0, frame.height() - self.height())
        width = min(self.width(), free.width() - extra_w)
        height = min(self.height(), free.height() - extra_h)
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        if not free.contains(self.frameGeometry()):
            self.move(max(free.left(), min(self.x(), free.right() - self.frameGeometry().width())),
                      max(free.top(), min(self.y(), free.bottom() - self.frameGeometry().height())))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.fit_to_screen()  # now the screen and the frame are known

    # -- start -----------------------------------------------------------------------------

    async def start(self) -> bool:
        where = ("the embedded PostgreSQL in " + str(self.settings.titan_home / "pgdata")
                 if self.settings.embedded else "the database")
        self.loading.setText(f"Starting {where} and applying migrations…")
        try:
            db = await open_database(self.settings)
        except Exception as exc:
            message = f"Could not open {where}: {type(exc).__name__}: {exc}"
            log.error("could not open the database", error=str(exc))
            self.loading.setText(message + "\n\nCheck DATABASE_URL in Settings.")
            self.retry_button.setVisible(True)
            self.failed.emit(message)
            return False
        self.ctx = ctx = AppContext(self.settings, db)
        self.live = LiveEvents(ctx.events, db.url, parent=self)
        self.watcher = ProjectWatcher(ctx, self)
        self.supervisor = WorkerSupervisor(db, env=self.worker_env,
                                           concurrency=self.worker_concurrency, parent=self)
        self._build_tabs(ctx)
        self.jason = JasonDesk(self, ctx)
        self.status.bind(StatusController(ctx, self.supervisor, self))
        self._build_tray(ctx)
        self._build_alerts(ctx)
        self.live.start()
        self.watcher.refresh()
        self.stack.setCurrentIndex(1)
        if self.spawn_worker:
            await self.supervisor.ensure_worker()
        self.ready.emit()
        return True

    def _retry_start(self) -> None:
        self.retry_button.setVisible(False)
        self._start_task = asyncio.ensure_future(self.start())

    def _build_tabs(self, ctx: AppContext) -> None:
        self.progress_tab = ProgressTab(ctx)
        self.input_tab = InputTab(ctx)
        self.logs_tab = LogsTab(ctx)
        self.output_tab = OutputTab(ctx)
        sales_class = optional_tab("titan_desktop.sales.view", "SalesTab")
        self.sales_tab = (sales_class or SalesPlaceholder)(ctx)
        self.queue_tab = QueueTab(ctx)  # sub-tabs: Jobs, then History and Workers
        self.queue_tab.addTab(HistoryView(ctx), "History")
        self.queue_tab.addTab(WorkersView(ctx), "Workers")
        for tab, name in zip((self.progress_tab, self.input_tab, self.logs_tab, self.output_tab,
                              self.sales_tab, self.queue_tab), TAB_NAMES, strict=True):
            self.tabs.addTab(tab, name)
        last = int(str(self.prefs.value("window/tab", 0) or 0))  # an int, or text from the .ini
        self.tabs.setCurrentIndex(last if 0 <= last < self.tabs.count() else 0)
        self.input_tab.form.controller.created.connect(self._on_created)
        self.input_tab.describe.controller.created.connect(self._on_created)

    @property
    def chat(self) -> object:
        """The chat controller (Jason plugs in with ``window.chat.set_responder(fn)``)."""
        return self.input_tab.chat

    def _on_created(self, project: Project) -> None:
        # The new project is what the person wants to watch next.
        self.tabs.setCurrentWidget(self.progress_tab)
        self.progress_tab.controller.reload_list()
        self.status.say(f"Created {project.name}")

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        settings_action = QAction("&Settings…", self)
        settings_action.setShortcut(QKeySequence.StandardKey.Preferences)
        settings_action.triggered.connect(self.open_settings)
        file_menu.addAction(settings_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        worker_menu = self.menuBar().addMenu("&Worker")
        for label, command in (("Pause", "pause"), ("Resume", "resume")):
            action = QAction(label, self)
            action.triggered.connect(lambda _c=False, cmd=command: self._worker_command(cmd))
            worker_menu.addAction(action)
        restart = QAction("Restart", self)
        restart.triggered.connect(self._restart_worker)
        worker_menu.addAction(restart)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("About Titan", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    def _worker_command(self, command: str) -> None:
        if self.ctx and self.supervisor:
            self.ctx.spawn(self.supervisor.send_command(command))

    def _restart_worker(self) -> None:
        if self.ctx and self.supervisor:
            self.ctx.spawn(self.supervisor.restart())

    def open_settings(self) -> None:
        from titan_desktop.settings_dialog import SettingsDialog

        dialog = SettingsDialog(self.settings, self)
        if dialog.exec() and dialog.saved:
            QMessageBox.information(self, "Settings saved",
                                    "Saved. Restart Titan (and its worker) to apply them.")

    def _about(self) -> None:
        from worker import __version__

        QMessageBox.about(self, "About Titan",
                          f"<b>Titan {__version__}</b><br>Describe a project; the worker builds, "
                          "deploys, verifies and publishes it.<br>Data: "
                          f"{self.settings.titan_home}")

    # -- tray ------------------------------------------------------------------------------

    def _build_tray(self, ctx: AppContext) -> None:
        ctx.events.projectEvent.connect(self._notify)
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return
        self.tray = QSystemTrayIcon(app_icon(), self)
        self.tray.setToolTip("Titan")
        self.tray.activated.connect(self._show_from_tray)
        self.tray.show()

    def _build_alerts(self, ctx: AppContext) -> None:
        from titan_desktop.alerts.attach import attach_alerts

        # Tray notices where there is a tray, else a banner above the tabs.
        self.alerts = attach_alerts(self, ctx, self.tray)

    def _show_from_tray(self, _reason: QSystemTrayIcon.ActivationReason) -> None:
        self.showNormal()
        self.raise_()

    def _notify(self, event: ProjectEvent) -> None:
        if event.kind not in ("published", "failed", "awaiting_approval"):
            return
        title = {"published": "Project published", "failed": "Project failed",
                 "awaiting_approval": "Approval needed"}[event.kind]
        if self.tray is not None:
            icon = (QSystemTrayIcon.MessageIcon.Critical if event.kind == "failed"
                    else QSystemTrayIcon.MessageIcon.Information)
            self.tray.showMessage(title, event.text, icon, 8000)
        self.status.say(f"{title}: {event.text}")

    # -- shutdown --------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        self.prefs.setValue("window/geometry", self.saveGeometry())
        self.prefs.setValue("window/tab", self.tabs.currentIndex())
        self.prefs.sync()
        event.accept()
        if self.closed is not None and not self.closed.done():
            self.closed.set_result(None)

    async def shutdown(self) -> None:
        """Stop the worker this window spawned, the listener, background tasks; close the db."""
        if self._shut_down:
            return
        self._shut_down = True
        if self.supervisor is not None:
            await self.supervisor.stop()
        if self.live is not None:
            await self.live.stop()
        if self.tray is not None:
            self.tray.hide()
        # Stopped timers may be destroyed from any thread (Python's GC runs where it runs).
        for timer in self.findChildren(QTimer):
            timer.stop()
        if self.ctx is not None:
            await self.ctx.cancel_tasks()
            with contextlib.suppress(Exception):
                await self.ctx.db.dispose()


def screenshot_name(index: int, name: str) -> str:
    return f"{index + 1:02d}-{name.lower()}.png"


def save_screenshot(widget: QWidget, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    return path
