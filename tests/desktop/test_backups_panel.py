"""The settings dialog's Backups page: retention, the last backup (time, size, file), the kept
backups, a failed attempt, and "Back up now" making a real pg_dump while the window runs.

Screenshots go to ``TITAN_SHOTS_DIR`` when it is set."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from tests.desktop.conftest import run
from titan_desktop.settings_dialog import SettingsDialog
from worker.config import Settings, reload_settings
from worker.services import backups

W = TypeVar("W", bound=QWidget)


@pytest.fixture
def owned(qloop: Any) -> Iterator[Callable[[W], W]]:
    """Widgets deleted at the test's end, here on the GUI thread, while the loop still runs."""
    made: list[QWidget] = []

    def own(widget: W) -> W:
        made.append(widget)
        return widget

    yield own
    for widget in made:
        if shiboken6.isValid(widget):
            widget.close()
            shiboken6.delete(widget)


def shoot(widget: QWidget, name: str) -> None:
    where = os.environ.get("TITAN_SHOTS_DIR")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        assert widget.grab().save(str(Path(where) / f"backups-{name}.png"))


def open_page(settings: Settings, owned: Callable[[W], W]) -> SettingsDialog:
    # No Ollama lookup that matters here: the AI page looks at a closed loopback port.
    dialog = owned(SettingsDialog(settings, ollama_base="http://127.0.0.1:9"))
    dialog.pages.setCurrentWidget(dialog.backups_page)
    dialog.show()
    return dialog


def test_back_up_now_makes_a_backup_and_the_page_shows_it(titan_env: dict, qloop: Any,
                                                          qtbot: Any, owned: Any) -> None:
    """A DATABASE_URL installation: the page says there is no daily backup, and "Back up now"
    runs the server's pg_dump off the UI thread, then shows the new file."""
    settings = reload_settings()

    async def body() -> None:
        dialog = open_page(settings, owned)
        page = dialog.backups_page
        await page.controller.idle()
        assert page.latest.text() == "No backup yet."
        assert "no daily backup here" in page.schedule.text()
        assert dialog.editor("backup_keep").spin.value() == 7

        qtbot.mouseClick(page.now_button, Qt.MouseButton.LeftButton)
        assert not page.now_button.isEnabled()  # the UI thread went on at once
        assert page.now_button.text() == "Backing up…"
        await page.controller.idle()
        assert page.now_button.isEnabled() and page.now_button.text() == "Back up now"
        made = backups.list_backups(settings.titan_home / "backups")
        assert len(made) == 1
        assert str(made[0].path) in page.latest.text()
        assert " KB · " in page.latest.text() or " MB · " in page.latest.text()
        assert page.model.rowCount() == 1
        assert page.model.data(page.model.index(0, 0)) == made[0].path.name
        assert not page.error.isVisible()
        assert backups.archive_revision(made[0].path,
                                        backups.find_tools(settings, _url(titan_env)))
        shoot(dialog, "server-after-back-up-now")

    run(qloop, body())


def _url(env: dict) -> str:
    return str(env["DATABASE_URL"])


def test_the_page_shows_the_daily_backups_retention_and_a_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, qloop: Any, qtbot: Any,
        owned: Any) -> None:
    """An embedded installation with a week of daily backups and today's attempt failed:
    the newest is the last backup, all are listed, the failure is said; retention saves."""
    home = tmp_path / "home"
    for key in ("DATABASE_URL", "TITAN_BACKUP", "TITAN_BACKUP_KEEP", "TITAN_PG_BIN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TITAN_HOME", str(home))
    settings = reload_settings()
    folder = backups.backups_dir(settings)
    folder.mkdir(parents=True)
    start = datetime.now() - timedelta(days=7)
    for day in range(7):
        made = backups.new_backup_path(folder, start + timedelta(days=day))
        made.write_bytes(b"x" * (180_000 + day * 2_000))
        stamp = (start + timedelta(days=day)).timestamp()
        os.utime(made, (stamp, stamp))
    (folder / backups.LAST_ATTEMPT).write_text(json.dumps({
        "at": datetime.now().astimezone().isoformat(), "ok": False,
        "error": "pg_dump failed: pg_dump: error: could not write to output file: "
                 "No space left on device"}))

    async def body() -> None:
        dialog = open_page(settings, owned)
        page = dialog.backups_page
        await page.controller.idle()
        newest = backups.list_backups(folder)[0]
        assert page.latest.text().endswith(f"· 187.5 KB · {newest.path}")
        assert "once a day" in page.schedule.text() and "keeps the newest 7" in \
            page.schedule.text()
        assert page.model.rowCount() == 7
        assert page.error.isVisibleTo(dialog)
        assert "The last backup failed" in page.error.text()
        assert "No space left on device" in page.error.text()
        shoot(dialog, "embedded-week-and-a-failure")

        dialog.editor("backup_keep").spin.setValue(3)
        assert dialog.save()

    run(qloop, body())
    saved = json.loads((home / "settings.json").read_text())
    assert saved["TITAN_BACKUP_KEEP"] == 3
    assert reload_settings().backup_keep == 3
