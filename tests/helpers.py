"""Waiting in tests: poll a condition until it holds, never sleep a fixed time and hope.

``wait_until`` is for coroutines (a test's body on asyncio or on the qasync loop of a GUI
test: the loop keeps running between polls, so Qt events and database I/O go on).
``wait_until_blocking`` is the same for plain synchronous tests (subprocesses, threads).
Qt tests outside a coroutine use pytest-qt's ``qtbot.waitUntil`` / ``qtbot.waitSignal``.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any


def _failure(what: object, timeout: float, value: object, reason: str = "") -> AssertionError:
    why = f": {reason}" if reason else f" (last value {value!r})"
    return AssertionError(f"timed out after {timeout:g} s waiting for {what}{why}")


async def wait_until(probe: Callable[[], Any], timeout: float = 30.0, what: str = "", *,
                     done: Callable[[Any], object] = bool, interval: float = 0.05,
                     give_up: Callable[[], str | None] | None = None) -> Any:
    """Call ``probe`` (a function, or a coroutine function) until ``done(value)`` holds; return
    that value. ``give_up`` returns a reason to stop waiting early (a process died)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if done(value):
            return value
        reason = give_up() if give_up else None
        if reason or time.monotonic() > deadline:
            raise _failure(what or probe, timeout, value, reason or "")
        await asyncio.sleep(interval)


def wait_until_blocking(probe: Callable[[], Any], timeout: float = 30.0, what: str = "", *,
                        done: Callable[[Any], object] = bool, interval: float = 0.05,
                        give_up: Callable[[], str | None] | None = None) -> Any:
    """``wait_until`` for synchronous code: blocks the calling thread between polls."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        reason = give_up() if give_up else None
        if reason or time.monotonic() > deadline:
            raise _failure(what or probe, timeout, value, reason or "")
        time.sleep(interval)
