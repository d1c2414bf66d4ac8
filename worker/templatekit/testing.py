"""Project tests: the build step of a generated Python project runs its own pytest suite
in the project's venv and keeps the output as a report artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worker.templatekit.tools import make_venv, run_tool, tool_env


def run_project_tests(ctx: Any, src: Path) -> Any:
    """The build step of a Python project: its own pytest suite in the project's venv, with the
    output kept as a report artifact (and shown in full when it fails)."""
    from worker.templates import ArtifactOut, StepResult

    python = make_venv(ctx.workdir / "venv", ctx.log)
    output = run_tool([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                      cwd=src, log=ctx.log, what="pytest", env=tool_env(pytest=True))
    report = ctx.workdir / "test-report.txt"
    report.write_text(output, encoding="utf-8")
    summary = output.strip().splitlines()[-1] if output.strip() else "no output"
    return StepResult(f"Tests: {summary}", [ArtifactOut("report", "test-report.txt", report)])
