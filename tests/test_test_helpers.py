"""The tests' one waiting helper: it waits for conditions, and no test folder grows its own."""

from __future__ import annotations

import ast
import asyncio
import time
from pathlib import Path

import pytest

from tests.helpers import wait_until, wait_until_blocking

TESTS = Path(__file__).resolve().parent
OWN_COPIES = {"wait_until", "_wait_until", "until", "wait_until_blocking"}


def test_no_test_module_defines_its_own_wait_until() -> None:
    copies = []
    for path in sorted(TESTS.rglob("*.py")):
        if path == TESTS / "helpers.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                    and node.name in OWN_COPIES:
                copies.append(f"{path.relative_to(TESTS)}:{node.lineno} {node.name}")
    assert copies == [], "use tests/helpers.py instead of: " + ", ".join(copies)


async def test_wait_until_returns_the_value_once_the_condition_holds() -> None:
    polls: list[int] = []

    async def probe() -> int:  # a coroutine function, like a database query
        polls.append(1)
        return len(polls)

    assert await wait_until(probe, 5, "three polls", done=lambda n: n >= 3, interval=0) == 3
    assert await wait_until(lambda: "ready", 5) == "ready"


async def test_wait_until_names_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"waiting for the moon \(last value 0\)"):
        await wait_until(lambda: 0, 0.1, "the moon", interval=0.01)


async def test_wait_until_gives_up_early_with_the_reason() -> None:
    started = time.monotonic()
    with pytest.raises(AssertionError, match="the worker died"):
        await wait_until(lambda: False, 60, "jobs", give_up=lambda: "the worker died")
    assert time.monotonic() - started < 30  # not the whole timeout


async def test_wait_until_lets_the_loop_run_between_polls() -> None:
    done: list[bool] = []
    asyncio.get_running_loop().call_later(0.05, done.append, True)
    assert await wait_until(lambda: done, 5, "the callback") == [True]


def test_wait_until_blocking_polls_the_same_way() -> None:
    polls: list[int] = []
    assert wait_until_blocking(lambda: polls.append(1) or len(polls), 5,
                               done=lambda n: n == 2, interval=0) == 2
    with pytest.raises(AssertionError, match="waiting for nothing"):
        wait_until_blocking(lambda: None, 0.05, "nothing", interval=0.01)
