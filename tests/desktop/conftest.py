"""Desktop tests: offscreen Qt, a qasync loop per test, and Qt warnings fail the test.

Tests are plain functions that run a coroutine on the qasync loop (``run(qloop, coro)``), so the
app's coroutines, Qt signals and real worker processes all interleave as they do in ``titan``.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["TITAN_NO_KEYRING"] = "1"  # never read or write the developer's real keyring

import pytest
import qasync
from PySide6.QtCore import QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

from tests.helpers import wait_until  # noqa: F401  (the GUI tests import it from here)
from titan_desktop.output.web import prepare_web_engine

prepare_web_engine()  # before pytest-qt's QApplication, as titan does before its own

# The offscreen platform plugin says this whenever a window is shown; it is not about Titan.
PLATFORM_NOISE = ("This plugin does not support propagateSizeHints()",)
# QtWebEngine on the offscreen platform: no OpenGL or Vulkan there, so it renders in software.
WEBENGINE_NOISE = ("QRhiGles2: Failed to create", "Failed to create RHI for backend",
                   "This plugin does not support createPlatformVulkanInstance",
                   "QVulkanInstance: Failed to initialize Vulkan", "GBM is not supported",
                   "GPUInfo not initialized")


@pytest.fixture(autouse=True)
def qt_warnings_fail(qapp: QApplication) -> Iterator[list[str]]:
    problems: list[str] = []

    def handler(mode: QtMsgType, context: Any, message: str) -> None:
        if mode in (QtMsgType.QtDebugMsg, QtMsgType.QtInfoMsg) or message in PLATFORM_NOISE:
            return
        if message.startswith(WEBENGINE_NOISE):
            return
        problems.append(f"{mode.name}: {message}")

    previous = qInstallMessageHandler(handler)
    yield problems
    qInstallMessageHandler(previous)
    assert not problems, "Qt warnings:\n" + "\n".join(problems)


@pytest.fixture
def qloop(qapp: QApplication) -> Iterator[asyncio.AbstractEventLoop]:
    qapp.setQuitOnLastWindowClosed(False)  # as in titan: the window's closing ends the run
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    gc.disable()  # no collection on another thread (Qt objects must die on the GUI thread)
    try:
        yield loop
    finally:
        gc.collect()  # collect the test's Qt objects here, on the GUI thread
        loop.close()
        asyncio.set_event_loop(None)
        gc.collect()  # and the loop's own (its timers)
        gc.enable()


def run(loop: asyncio.AbstractEventLoop, coro: Any, timeout: float = 90) -> Any:
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


@asynccontextmanager
async def open_window(settings: Any, **kwargs: Any) -> AsyncIterator[Any]:
    """The real main window, started (database, tabs, live events, worker unless told not)."""
    from titan_desktop.window import MainWindow

    window = MainWindow(settings, **kwargs)
    window.closed = asyncio.get_running_loop().create_future()
    window.show()
    try:
        assert await window.start(), "the window could not open the database"
        yield window
    finally:
        await window.shutdown()
        window.close()
        window.deleteLater()
