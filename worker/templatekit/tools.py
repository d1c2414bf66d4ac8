"""Build tools with their output kept: run a tool (``ToolFailed`` with the tail of its
output on a non-zero exit), a clean environment for it, and fast virtual environments (no pip
inside; ``pip_command`` acts on them from Titan's interpreter)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from worker.errors import ToolFailed

TAIL_LINES = 40
TAIL_CHARS = 3000


def output_tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept[-chars:]


def summary_line(output: str) -> str:
    """The line that says what went wrong: pytest's first E/FAILED line, else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("E ", "FAILED ", "ERROR ")):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def run_tool(argv: list[str], *, cwd: Path, log: Callable[[str], None], what: str = "",
             env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run a tool to completion and return its output (stdout and stderr interleaved).

    On a non-zero exit the tail of the output is logged line by line and raised as ToolFailed.
    """
    what = what or Path(argv[0]).name
    log(f"$ {' '.join(argv)}")
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise ToolFailed(f"{what}: cannot run {argv[0]}: {exc.strerror}") from None
    except subprocess.TimeoutExpired as exc:
        output = exc.output if isinstance(exc.output, str) else (exc.output or b"").decode()
        raise RuntimeError(f"{what} did not finish within {timeout:.0f}s:\n"
                           f"{output_tail(output)}") from None
    if proc.returncode != 0:
        tail = output_tail(proc.stdout)
        log(f"{what} failed (exit {proc.returncode}); last lines of its output:\n{tail}")
        raise ToolFailed(f"{what} exited {proc.returncode}: {summary_line(proc.stdout)}\n{tail}")
    return proc.stdout


def tool_env(*, pytest: bool = False) -> dict[str, str]:
    """The worker's environment for a build tool, minus Titan's own venv and pytest settings.

    ``pytest=True``: a generated project's tests do not need the plugins of Titan's environment
    (Qt, benchmarks...); autoloading them costs seconds and can only break the run.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "VIRTUAL_ENV", "PYTHONHOME"))}
    if pytest:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return env


def make_venv(path: Path, log: Callable[[str], None], *, system_site_packages: bool = True
              ) -> Path:
    """Create (or reuse) a virtual environment and return its python.

    No pip inside (``--without-pip`` is what makes it fast): ``pip --python VENV`` from Titan's
    own interpreter installs into it. With system site packages the venv sees pytest, fastapi,
    hatchling... from Titan's environment, so it works with no network.
    """
    python = path / "bin" / "python"
    cfg = path / "pyvenv.cfg"
    wanted = f"include-system-site-packages = {'true' if system_site_packages else 'false'}"
    if python.exists() and cfg.is_file() and wanted in cfg.read_text(encoding="utf-8"):
        return python
    shutil.rmtree(path, ignore_errors=True)
    argv = [_base_python(), "-m", "venv", "--without-pip", str(path)]
    if system_site_packages:
        argv.insert(3, "--system-site-packages")
    run_tool(argv, cwd=path.parent, log=log, what="python -m venv")
    if system_site_packages:
        _see_parent_environment(path)
    return python


def _see_parent_environment(venv: Path) -> None:
    """When Titan itself runs in a virtual environment, ``--system-site-packages`` shows the
    base interpreter's packages, not Titan's: a .pth file adds Titan's site-packages after the
    new venv's own (so what the project installs still wins)."""
    if sys.prefix == sys.base_prefix or getattr(sys, "frozen", False):
        return
    import site

    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    target = venv / "lib" / version / "site-packages"
    if target.is_dir():
        paths = [p for p in site.getsitepackages() if Path(p).is_dir()]
        (target / "titan-parent-env.pth").write_text("\n".join(paths) + "\n", encoding="utf-8")


def _base_python() -> str:
    """The real interpreter (not a frozen bundle's executable) to create venvs with."""
    if getattr(sys, "frozen", False):
        found = shutil.which("python3")
        if not found:
            raise ToolFailed("no python3 on PATH to create a virtual environment with")
        return found
    return sys.executable


def pip_command(python: Path, *args: str) -> list[str]:
    """``pip`` acting on the environment of ``python`` (which has no pip of its own)."""
    return [_base_python(), "-m", "pip", "--python", str(python), "--disable-pip-version-check",
            "--no-input", *args]
