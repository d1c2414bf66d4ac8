"""Build Titan's one-folder bundle (``dist/titan/``) and prove it works before calling it done.

Steps: a clean virtual environment in ``build/venv``; ``pip install ".[desktop,api,voice]"`` and
PyInstaller into it; ``pyinstaller titan.spec``; then the bundle itself runs ``titan --version``
and ``titan --smoke-test`` on a fresh TITAN_HOME with the embedded database and Qt's offscreen
platform. Any failing step fails the build (exit status 1). Standard library only, so it runs with
any Python 3.11+ on Linux, macOS and Windows (``py scripts\\build_installer.py`` there).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WINDOWS = os.name == "nt"
EXTRAS = "desktop,api,voice"
PYINSTALLER_REQUIREMENT = "pyinstaller>=6.5"
# Settings that would point the smoke test away from a fresh installation.
FOREIGN_SETTINGS = ("DATABASE_URL", "OUTPUT_DIR", "TEMPLATES_DIR", "TITAN_REQUIRE_APPROVAL")
# Third-party modules Titan imports only when they are there; the bundle may go without them.
OPTIONAL_MODULES = {
    "github": "PyGithub (the ops extra): the ops loop edits a source checkout, not a bundle",
    "keyring": "the OS keyring; without it tokens stay in settings.json",
}
TITAN_PACKAGES = ("worker", "titan_desktop", "templates")


class BuildFailed(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    started = time.monotonic()
    try:
        python = _venv(args.venv, reuse=args.reuse_venv, base_python=args.python)
        if not args.skip_install:
            _step("install Titan and PyInstaller into the build environment",
                  [python, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                   f".[{EXTRAS}]", PYINSTALLER_REQUIREMENT, *args.also_install])
        workpath = args.venv.parent / "pyinstaller"
        _step("run PyInstaller on titan.spec",
              [python, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
               "--distpath", str(args.dist), "--workpath", str(workpath),
               str(ROOT / "titan.spec")])
        check_dependencies(workpath / "titan" / "warn-titan.txt")
        bundle = args.dist / "titan"
        executable = bundle / ("titan.exe" if WINDOWS else "titan")
        if not executable.is_file():
            raise BuildFailed(f"PyInstaller did not produce {executable}")
        version = _check_version(executable)
        print(f"bundle: {bundle} ({_megabytes(bundle):.0f} MB), {version}", flush=True)
        result = smoke_test(executable, timeout=args.smoke_timeout)
        print(f"smoke test passed: project {result['project']} published in "
              f"{result['seconds']} s by worker pid {result['worker_pid']}", flush=True)
    except BuildFailed as exc:
        print(f"build-installer: FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"build-installer: done in {time.monotonic() - started:.0f} s -> {bundle}", flush=True)
    return 0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="build-installer", description=__doc__.split("\n")[0])
    p.add_argument("--venv", type=Path, default=ROOT / "build" / "venv",
                   help="the build's virtual environment (recreated unless --reuse-venv)")
    p.add_argument("--dist", type=Path, default=ROOT / "dist",
                   help="where the bundle goes (DIST/titan)")
    p.add_argument("--python", default=sys.executable,
                   help="the Python that creates the build environment (3.11+)")
    p.add_argument("--reuse-venv", action="store_true",
                   help="keep an existing build environment instead of starting clean")
    p.add_argument("--skip-install", action="store_true",
                   help="with --reuse-venv: do not reinstall the project (iterating on the spec)")
    p.add_argument("--also-install", action="append", default=[], metavar="REQUIREMENT",
                   help="an extra pip requirement for the build environment (repeatable)")
    p.add_argument("--smoke-timeout", type=float, default=300.0,
                   help="seconds the bundle's smoke test may take")
    args = p.parse_args(argv)
    args.venv, args.dist = args.venv.resolve(), args.dist.resolve()
    if args.skip_install and not args.reuse_venv:
        p.error("--skip-install needs --reuse-venv")
    return args


def _venv(path: Path, *, reuse: bool, base_python: str) -> str:
    python = path / ("Scripts/python.exe" if WINDOWS else "bin/python")
    if reuse and python.is_file():
        print(f"== reusing the build environment {path}", flush=True)
    else:
        _step(f"create a clean virtual environment in {path}",
              [base_python, "-m", "venv", "--clear", str(path)])
    return str(python)


def _step(title: str, command: list[str], **kwargs: object) -> None:
    print(f"== {title}", flush=True)
    started = time.monotonic()
    code = subprocess.call(command, cwd=ROOT, **kwargs)  # type: ignore[call-overload]
    if code != 0:
        raise BuildFailed(f"{title}: exit status {code} from {' '.join(command)}")
    print(f"   ({time.monotonic() - started:.0f} s)", flush=True)


def undeclared_modules(warn_text: str) -> dict[str, list[str]]:
    """Third-party modules Titan's code imports unconditionally that the build did not find.

    Reads PyInstaller's warnings (``missing module named X - imported by A (top-level), ...``).
    Such a module is missing from the clean environment, so pyproject.toml does not declare the
    distribution that provides it: a fresh ``pip install titan`` would break the same way.
    """
    absent: set[str] = set()  # whole top-level modules (``pydantic.X`` lines are attributes)
    importers_of: dict[str, list[str]] = {}
    for line in warn_text.splitlines():
        if not line.startswith("missing module named ") or " - imported by " not in line:
            continue
        name, importers = line[len("missing module named "):].split(" - imported by ", 1)
        name = name.strip("'")
        top = name.split(".")[0]
        if name == top:
            absent.add(top)
        if top in TITAN_PACKAGES or top in OPTIONAL_MODULES:
            continue
        for importer in importers.split("), "):
            module, _, how = importer.partition(" (")
            if module.split(".")[0] in TITAN_PACKAGES and "optional" not in how:
                importers_of.setdefault(top, []).append(module)
    return {top: by for top, by in importers_of.items() if top in absent}


def check_dependencies(warn_file: Path) -> None:
    try:
        text = warn_file.read_text(encoding="utf-8")
    except OSError:
        print(f"   (no {warn_file.name}; dependency check skipped)", flush=True)
        return
    missing = undeclared_modules(text)
    if missing:
        lines = [f"  {top}: imported by {', '.join(sorted(set(by)))}"
                 for top, by in sorted(missing.items())]
        raise BuildFailed("modules Titan imports are not installed by "
                          f"pip install '.[{EXTRAS}]' (undeclared in pyproject.toml?):\n"
                          + "\n".join(lines))


def _check_version(executable: Path) -> str:
    done = subprocess.run([str(executable), "--version"], capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0 or not done.stdout.startswith("titan "):
        raise BuildFailed(f"`titan --version` failed (exit {done.returncode}): "
                          f"{done.stdout.strip()} {done.stderr.strip()}")
    return done.stdout.strip()


def smoke_test(executable: Path, timeout: float = 300.0) -> dict:
    """Run ``titan --smoke-test`` from the bundle as a new user would: fresh home, no server."""
    print("== smoke test: the bundle builds one project end to end (offscreen, embedded DB)",
          flush=True)
    home = Path(tempfile.mkdtemp(prefix="titan-bundle-smoke-"))
    env = {k: v for k, v in os.environ.items() if k not in FOREIGN_SETTINGS}
    env.update(TITAN_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    try:
        try:
            done = subprocess.run([str(executable), "--smoke-test", "--timeout", str(timeout)],
                                  env=env, capture_output=True, text=True,
                                  timeout=timeout + 120)
        except subprocess.TimeoutExpired as exc:
            raise BuildFailed(f"the smoke test did not finish within {timeout + 120:.0f} s"
                              ) from exc
        result = _last_json_line(done.stdout)
        if done.returncode != 0 or result is None or result.get("status") != "published":
            tail = "\n".join(done.stderr.strip().splitlines()[-30:])
            hint = locked_parent_hint(executable)
            raise BuildFailed(f"the bundle's smoke test failed (exit {done.returncode}): "
                              f"{done.stdout.strip() or 'no output'}\n--- stderr (last lines):"
                              f"\n{tail}" + (f"\n{hint}" if hint else ""))
        return result
    finally:
        _stop_site_host(home)
        shutil.rmtree(home, ignore_errors=True)


def locked_parent_hint(executable: Path) -> str | None:
    """Why pgserver's PostgreSQL may not reach the bundle, when run as root; None otherwise.

    As root, pgserver runs PostgreSQL's programs as its own ``pgserver`` user and opens the
    bundle's parent folders to others (o+rx) when it starts. A folder that something closes again
    meanwhile (pytest resets ``/tmp/pytest-of-root`` to 0700 whenever a session starts) makes
    initdb/pg_ctl fail with "Permission denied".
    """
    if WINDOWS or os.geteuid() != 0:
        return None
    for folder in executable.resolve().parents:
        if not folder.stat().st_mode & stat.S_IXOTH:
            return (f"hint: run as root, pgserver starts PostgreSQL as the 'pgserver' user, which "
                    f"cannot enter {folder} (mode {stat.S_IMODE(folder.stat().st_mode):o}); "
                    "build into a folder other users can enter (--dist)")
    return None


def _last_json_line(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _stop_site_host(home: Path) -> None:
    """The worker leaves a small web server for published sites running; stop the smoke test's."""
    try:
        pid = int(json.loads((home / "sitehost.json").read_text(encoding="utf-8"))["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        pass


def _megabytes(folder: Path) -> float:
    """On-disk size; PyInstaller links some libraries by symlink, so those count once."""
    return sum(p.lstat().st_size for p in folder.rglob("*")
               if p.is_file() and not p.is_symlink()) / 1e6


if __name__ == "__main__":
    sys.exit(main())
