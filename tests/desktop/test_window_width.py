"""The main window fits the screen and never widens itself: long names, descriptions and status
messages are shortened ("…", full text in the tooltip) or wrapped, not laid out at full width.

Offscreen, the screen is 800 x 800: narrower than the window's default size, as a small laptop
screen is. The project is created through the Input form, as a person would, and published by
the worker the window spawns.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QApplication

from tests.desktop.conftest import open_window, run, wait_until
from worker.config import reload_settings

LONG_NAME = ("The Extraordinarily Comprehensive Northern Hemisphere Amateur Astronomy Society "
             "Members Newsletter Archive and Events Calendar")
LONG_DESCRIPTION = " ".join(["A newsletter archive with observing reports, star parties and "
                             "equipment reviews for members across the hemisphere."] * 6)


def _fits(window, free_width: int, when: str) -> None:  # type: ignore[no-untyped-def]
    # Lay out now: only the posted layout requests (processEvents would re-enter the qasync
    # loop from inside this test's task).
    QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
    assert window.width() <= free_width, f"{when}: window {window.width()} > {free_width}"
    hint = window.minimumSizeHint().width()
    assert hint <= free_width, f"{when}: minimum width {hint} > screen {free_width}"
    assert window.minimumWidth() <= free_width, f"{when}: minimumWidth {window.minimumWidth()}"


def _status(progress, project_id: int) -> str | None:  # type: ignore[no-untyped-def]
    model = progress.controller.projects
    row = model.row_for_key(project_id)
    return model.rows[row].status if row >= 0 else None


def test_window_fits_the_screen_and_does_not_grow_after_creating_a_project(
        titan_env: dict, qloop, qtbot, tmp_path) -> None:
    async def body() -> None:
        async with open_window(reload_settings()) as window:
            free = window.screen().availableGeometry().width()
            assert free < 1280  # the default size must have been clamped
            _fits(window, free, "opened")
            opened_width = window.width()

            window.tabs.setCurrentWidget(window.input_tab)
            form = window.input_tab.form
            created: list[object] = []
            form.controller.created.connect(created.append)
            form.name.setText(LONG_NAME)
            fields = {f.path: f for f in form.spec_fields}
            fields["spec.description"].write(LONG_DESCRIPTION)
            qtbot.mouseClick(form.create_button, Qt.MouseButton.LeftButton)
            await wait_until(lambda: created, 20, "the project to be created")
            project = created[0]
            _fits(window, free, "after creating")
            assert window.width() == opened_width

            # Every tab, with the long project selected where a tab shows one.
            progress = window.progress_tab
            await wait_until(lambda: progress.controller.projects.row_for_key(project.id) >= 0,
                             15, "the project in Progress")
            await wait_until(lambda: _status(progress, project.id) == "published", 90,
                             "the worker to publish it")  # so the tabs show its long URL
            progress.select_project(project.id)
            await wait_until(lambda: progress.controller.selected is not None, 15,
                             "Progress's details")
            output = window.output_tab.projects_panel
            await wait_until(lambda: output.controller.projects.row_for_key(project.id) >= 0,
                             15, "the project in Output")
            output.select_project(project.id)
            await wait_until(lambda: output.controller.selected is not None, 15,
                             "Output's details")
            window.status.say("Published " + LONG_NAME + " at http://127.0.0.1:12345/"
                              + project.slug + "/ after 5 steps; " + LONG_DESCRIPTION)
            for index in range(window.tabs.count()):
                window.tabs.setCurrentIndex(index)
                _fits(window, free, f"on tab {window.tabs.tabText(index)}")
                assert window.width() == opened_width
            # The status bar shortened the notice; the whole of it is in the tooltip.
            assert window.status.notice.toolTip().startswith("Published " + LONG_NAME)
            assert window.status.resume_button.geometry().right() <= window.width()
            window.tabs.setCurrentWidget(window.input_tab)
            assert window.grab().save(str(tmp_path / "window.png"))

    run(qloop, body())
