"""The Input form's "Deploy to" rows: a static site offers every deploy target, a service only
this machine; a missing option is shown under its field and nothing is written; a complete
choice is stored with the project."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt
from sqlalchemy import text

from tests.desktop.conftest import open_window, run, wait_until
from worker.config import reload_settings

LEFT = Qt.MouseButton.LeftButton
SHOTS = Path(os.environ.get("TITAN_SHOTS_DIR", "/work/wt/shots"))


def test_deploy_target_rows_refuse_a_missing_option_and_store_a_choice(
        titan_env: dict, qloop, qtbot, tmp_path: Path) -> None:
    async def body() -> None:
        async with open_window(reload_settings(), spawn_worker=False) as window:
            form = window.input_tab.form
            deploy = form.deploy
            assert [deploy.target.itemData(i) for i in range(deploy.target.count())] == [
                "local", "folder", "github-pages", "render"]
            assert deploy.target.currentData() == "local" and not deploy.fields

            form.name.setText("Web Root Site")
            deploy.target.setCurrentIndex(deploy.target.findData("folder"))
            assert set(deploy.fields) == {"root", "url"}
            deploy.fields["url"].setText("https://example.org/")
            qtbot.mouseClick(form.create_button, LEFT)
            error = deploy.errors["deployConfig.root"]
            await wait_until(lambda: error.isVisibleTo(form), 10, "the root error")
            assert "needs it" in error.text()
            async with window.ctx.db.session() as session:
                assert await session.scalar(text("SELECT count(*) FROM jobs")) == 0

            deploy.fields["root"].setText(str(tmp_path / "www"))
            if SHOTS.parent.is_dir():
                SHOTS.mkdir(exist_ok=True)
                window.tabs.setCurrentWidget(window.input_tab)
                window.resize(1280, 860)
                await wait_until(lambda: window.input_tab.width() >= 1200, 10, "the resize")
                window.grab().save(str(SHOTS / "deploy-input-form.png"))
            qtbot.mouseClick(form.create_button, LEFT)
            await wait_until(lambda: "Created" in form.status.text(), 10, "the project")
            assert not error.isVisibleTo(form)
            async with window.ctx.db.session() as session:
                row = (await session.execute(text(
                    "SELECT deploy_target, deploy_config FROM projects"))).one()
            assert row == ("folder", {"root": str(tmp_path / "www"),
                                      "url": "https://example.org/"})

            form.template.setCurrentIndex(form.template.findData("fastapi/service"))
            assert deploy.target.count() == 1 and not deploy.target.isEnabled()
            assert deploy.target.currentData() == "local"

    run(qloop, body())
