"""A Python project's deploy step: its wheel, built once into OUTPUT_DIR.

Building a wheel runs no project code (hatchling reads ``pyproject.toml``, which Titan renders
and a model may not edit, and copies files), so it runs on the host even for model-written
projects; installing and running the wheel of such a project happens only in the sandbox
(``testing.run_sandboxed``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from worker.templatekit.tools import make_venv, pip_command, run_tool, tool_env

if TYPE_CHECKING:
    from worker.templates import StepContext, StepResult


def build_wheel(ctx: StepContext, src: Path) -> StepResult:
    """``pip wheel`` the project in ``src`` and put the one wheel into ``ctx.output_dir``
    (replacing an earlier one, atomically); its file URL is the step's URL."""
    from worker.templates import ArtifactOut, StepResult

    python = make_venv(ctx.workdir / "venv", ctx.log)
    wheelhouse = ctx.workdir / "wheelhouse"
    shutil.rmtree(wheelhouse, ignore_errors=True)
    run_tool([str(python), "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
              "--no-index", "--disable-pip-version-check", "-w", str(wheelhouse), str(src)],
             cwd=ctx.workdir, log=ctx.log, what="pip wheel", env=tool_env())
    wheels = sorted(wheelhouse.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"pip wheel made {len(wheels)} wheels, expected 1")
    ctx.output_dir.mkdir(parents=True, exist_ok=True)
    for old in ctx.output_dir.glob("*.whl"):
        old.unlink()
    wheel = ctx.output_dir / wheels[0].name
    partial = wheel.with_name(wheel.name + ".partial")
    shutil.copy2(wheels[0], partial)
    os.replace(partial, wheel)
    ctx.log(f"built {wheel.name} into {ctx.output_dir}")
    return StepResult(f"Built {wheel.name}", [ArtifactOut("file", "wheel", wheel)],
                      url=wheel.as_uri())


def built_wheel(ctx: StepContext, step: str = "verify") -> Path:
    """The wheel the deploy step put into ``ctx.output_dir`` (``step``: who needs it)."""
    wheels = sorted(ctx.output_dir.glob("*.whl"))
    if not wheels:
        raise RuntimeError(f"no wheel in {ctx.output_dir} to {step} (deploy first)")
    return wheels[0]


def install_fresh(ctx: StepContext, wheel: Path) -> Path:
    """Install ``wheel`` alone into a new, empty venv (Titan's own code only: a model-written
    wheel is installed in the sandbox); returns the venv's ``bin`` folder."""
    venv = ctx.workdir / "verify-venv"
    shutil.rmtree(venv, ignore_errors=True)
    python = make_venv(venv, ctx.log, system_site_packages=False)
    run_tool(pip_command(python, "install", "--no-index", "--no-deps", str(wheel)),
             cwd=ctx.workdir, log=ctx.log, what="pip install", env=tool_env())
    return venv / "bin"
