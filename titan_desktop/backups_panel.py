"""The settings dialog's "Backups" page: retention, the last backup, the kept ones, "Back up now".

- ``BackupsController`` asks ``worker.services.backups`` for the folder's state and makes a
  backup on request, as coroutines on the qasync loop (pg_dump runs in a thread there): the
  window never waits.
- ``BackupListModel`` lists the backups kept in ``TITAN_HOME/backups``, newest first.
- ``BackupsPage`` is the view: the TITAN_BACKUP* editors of the dialog, the last backup (time,
  size, file), the last failure if any, the list and the button.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtCore import Signal as QtSignal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from titan_desktop import fmt
from titan_desktop.input.schema_form import error_label
from worker.config import Settings
from worker.services.backups import BackupFile, BackupStatus, back_up, backup_status

if TYPE_CHECKING:
    from titan_desktop.settings_dialog import SettingsDialog

# The dialog's editors this page shows instead of the General page.
BACKUP_FIELDS = ("backup", "backup_keep", "pg_bin_dir")
_Index = QModelIndex | QPersistentModelIndex


class BackupsController(QObject):
    """Reads the backup folder's state and makes backups, off the UI thread."""

    statusChanged = QtSignal(object)  # BackupStatus
    busyChanged = QtSignal(bool)
    failed = QtSignal(str)

    def __init__(self, settings: Settings, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.status: BackupStatus | None = None
        self.busy = False
        self._tasks: set[asyncio.Task[Any]] = set()

    def refresh(self) -> None:
        self._spawn(self._refresh())

    def back_up_now(self) -> None:
        if self.busy:
            return
        self.busy = True
        self.busyChanged.emit(True)
        self._spawn(self._back_up())

    async def _refresh(self) -> None:
        self.status = await backup_status(self.settings)
        self.statusChanged.emit(self.status)

    async def _back_up(self) -> None:
        try:
            await back_up(self.settings)
        except Exception as exc:  # the service recorded and logged it; say it here too
            self.failed.emit(fmt.one_line(str(exc), 400))
        finally:
            self.busy = False
            self.busyChanged.emit(False)
        await self._refresh()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        """Stop waiting (the dialog is closing); a backup under way still finishes."""
        for task in list(self._tasks):
            task.cancel()

    async def idle(self) -> None:
        """Wait until no refresh or backup is running (tests use it)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class BackupListModel(QAbstractTableModel):
    HEADERS = ("Backup", "Size", "Made")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows: list[BackupFile] = []

    def set_rows(self, rows: list[BackupFile]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return (row.path.name, fmt.size(row.size), fmt.when(row.created))[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return str(row.path)
        return None


def describe_latest(status: BackupStatus) -> str:
    latest = status.latest
    if latest is None:
        return "No backup yet."
    return f"{fmt.when(latest.created)} · {fmt.size(latest.size)} · {latest.path}"


def describe_schedule(status: BackupStatus) -> str:
    if not status.embedded:
        return ("Titan uses a PostgreSQL server (DATABASE_URL): no daily backup here. Back it "
                "up with the server's own tools, or with “Back up now” / titan db backup.")
    if not status.enabled:
        return f"Daily backups are off (TITAN_BACKUP). Backups go to {status.folder}."
    return (f"The worker backs up the embedded database once a day into {status.folder} and "
            f"keeps the newest {status.keep}. To restore one, close Titan and run: "
            "titan db restore FILE")


class BackupsPage(QWidget):
    def __init__(self, dialog: SettingsDialog) -> None:
        super().__init__()
        self.controller = BackupsController(dialog.settings, self)
        self.model = BackupListModel(self)

        settings_box = QGroupBox("Daily backup")
        form = QFormLayout(settings_box)
        for name in BACKUP_FIELDS:
            editor = dialog.editor(name)
            form.addRow(editor.env, dialog.row(editor))

        self.schedule = QLabel("")
        self.schedule.setObjectName("hint")
        self.schedule.setWordWrap(True)
        self.latest = QLabel("Looking…")
        self.latest.setObjectName("lastBackup")
        self.latest.setWordWrap(True)
        self.latest.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = error_label()
        self.now_button = QPushButton("Back up now")
        self.now_button.setObjectName("backUpNow")
        self.now_button.clicked.connect(self.controller.back_up_now)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for section in (1, 2):
            header.setSectionResizeMode(section, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSelectionMode(QTableView.SelectionMode.NoSelection)

        last_box = QGroupBox("Backups")
        column = QVBoxLayout(last_box)
        column.addWidget(self.schedule)
        row = QHBoxLayout()
        row.addWidget(QLabel("Last backup:"))
        row.addWidget(self.latest, 1)
        row.addWidget(self.now_button, 0, Qt.AlignmentFlag.AlignTop)
        column.addLayout(row)
        column.addWidget(self.error)
        column.addWidget(self.table, 1)

        layout = QVBoxLayout(self)
        layout.addWidget(settings_box)
        layout.addWidget(last_box, 1)

        self.controller.statusChanged.connect(self._show)
        self.controller.busyChanged.connect(self._busy)
        self.controller.failed.connect(self._failed)
        self.controller.refresh()

    def _show(self, status: BackupStatus) -> None:
        self.schedule.setText(describe_schedule(status))
        self.latest.setText(describe_latest(status))
        self.model.set_rows(list(status.kept))
        if status.error and status.failed_at:
            self.error.setText(f"The last backup failed ({fmt.when(status.failed_at)}): "
                               f"{fmt.one_line(status.error, 400)}")
            self.error.setVisible(True)
        elif not self.controller.busy:
            self.error.setVisible(False)

    def _busy(self, busy: bool) -> None:
        self.now_button.setEnabled(not busy)
        self.now_button.setText("Backing up…" if busy else "Back up now")
        if busy:
            self.error.setVisible(False)

    def _failed(self, message: str) -> None:
        self.error.setText(f"The backup failed: {message}")
        self.error.setVisible(True)

    def stop(self) -> None:
        self.controller.stop()

