"""Project tests: the build step of a generated Python project runs its own pytest suite
in the project's venv and keeps the output as a report artifact. A project a model wrote part of
(``model_written``) runs its tests and commands only in the sandbox (worker.sandbox)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from worker.errors import ToolFailed
from worker.templatekit.tools import make_venv, output_tail, run_tool, tool_env

# Written by worker.ai.builds into the workdir when a model wrote part of the project.
AI_MARKER = Path(".titan-ai") / "accepted.json"
PYTEST = ("-m", "pytest", "-q", "-p", "no:cacheprovider")


def model_written(workdir: Path) -> bool:
    """True when a model wrote part of this project: its code runs only in the sandbox."""
    return (workdir / AI_MARKER).is_file()


def run_project_tests(ctx: Any, src: Path) -> Any:
    """The build step of a Python project: its own pytest suite in the project's venv, with the
    output kept as a report artifact (and shown in full when it fails). Model-written projects
    run it in the sandbox instead."""
    from worker.templates import ArtifactOut, StepResult

    if model_written(ctx.workdir):
        output = run_sandboxed(ctx, [sys.executable, *PYTEST], src, what="pytest (sandboxed)",
                               env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    else:
        python = make_venv(ctx.workdir / "venv", ctx.log)
        output = run_tool([str(python), *PYTEST], cwd=src, log=ctx.log, what="pytest",
                          env=tool_env(pytest=True))
    report = ctx.workdir / "test-report.txt"
    report.write_text(output, encoding="utf-8")
    summary = output.strip().splitlines()[-1] if output.strip() else "no output"
    return StepResult(f"Tests: {summary}", [ArtifactOut("report", "test-report.txt", report)])


def run_sandboxed(ctx: Any, argv: Sequence[str], tree: Path, *, what: str,
                  env: dict[str, str] | None = None, timeout: float = 600.0) -> str:
    """Blocking (a step runs off the event loop): ``argv`` on a copy of ``tree`` in bubblewrap.
    No sandbox here, or a non-zero exit: ToolFailed with the output's tail."""
    from worker import sandbox

    try:
        choice = sandbox.choose(ctx.settings)
    except sandbox.SandboxUnavailable as exc:
        raise ToolFailed(f"model-written code runs only in the sandbox, and {exc}") from None
    if choice.mode != "bwrap":
        raise ToolFailed(f"model-written code runs only in the sandbox, and there is none to "
                         f"run it: {choice.reason}")
    limits = sandbox.Limits.from_settings(ctx.settings, timeout)
    done = asyncio.run(sandbox.run(ctx.settings, list(argv), tree, limits, env=env))
    output = done.output.replace(f"{sandbox.TREE}/", "")
    ctx.log(f"{what} exited {done.returncode} in the sandbox")
    if done.returncode != 0 or done.timed_out:
        why = "timed out" if done.timed_out else f"exited {done.returncode}"
        raise ToolFailed(f"{what} {why}; last lines of its output:\n{output_tail(output)}")
    return output
