"""Helpers templates share: slugs, atomic folder swaps, link checks, deploy, verify, archive,
build tools with their output kept, venvs, rendered source trees and long-running services."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import html
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from worker.errors import DiskFull, RenderError, ServiceFailed, ToolFailed
from worker.slugs import python_identifier as python_identifier  # re-exported for templates
from worker.slugs import slugify as slugify


def replace_dir(staging: Path, target: Path) -> None:
    """Move a fully written folder into place; readers never see a half-written one."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.links.append(value)


def check_links(site: Path) -> list[str]:
    """Every internal href/src in every page must name a file inside the site."""
    problems = []
    root = site.resolve()
    for page in sorted(site.rglob("*.html")):
        parser = _LinkParser()
        parser.feed(page.read_text(encoding="utf-8"))
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("#", "mailto:", "data:")):
                continue
            if not parts.path:
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_relative_to(root) or not target.is_file():
                problems.append(f"{page.relative_to(site)} -> {link}")
    return problems



def copy_to_output(source: Path, staging: Path, output_root: Path, **copytree: Any) -> None:
    """``shutil.copytree`` into OUTPUT_DIR, with one readable line instead of its list of
    per-file errors. A partial copy is removed (it would only hold on to the space)."""
    try:
        shutil.copytree(source, staging, **copytree)
    except (OSError, shutil.Error) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise output_error(exc, output_root) from None


def output_error(exc: BaseException, output_root: Path) -> Exception:
    """What went wrong writing to OUTPUT_DIR, said in one line."""
    if isinstance(exc, shutil.Error):  # args[0]: [(src, dst, "[Errno N] reason: 'path'"), ...]
        problems = [p for p in exc.args[0] if isinstance(p, tuple) and len(p) == 3] \
            if exc.args and isinstance(exc.args[0], list) else []
        if any(f"[Errno {errno.ENOSPC}]" in str(p[2]) for p in problems):
            return DiskFull(f"no space left on OUTPUT_DIR ({output_root})")
        if problems:
            first = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            return RuntimeError(f"could not copy {first[0]} to {first[1]}: {first[2]}{more}")
        return RuntimeError(str(exc))
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(f"no space left on OUTPUT_DIR ({output_root})")
    return exc if isinstance(exc, Exception) else RuntimeError(str(exc))


def serve_and_url(dist: Path, output_dir: Path, slug: str, settings: Any) -> str:
    """Copy the built site to OUTPUT_DIR/<slug>/ and return its URL on the loopback site host."""
    from worker.sitehost import ensure_site_host

    if not (dist / "index.html").is_file():
        raise RuntimeError(f"nothing to deploy: {dist}/index.html is missing (build first)")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = output_dir.with_name(f".{output_dir.name}.deploy-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    copy_to_output(dist, staging, output_dir.parent)
    replace_dir(staging, output_dir)
    base = ensure_site_host(output_dir.parent, settings.titan_home)
    return urljoin(base, f"{slug}/")


def verify_page(url: str, must_contain: str, also: list[str] | None = None) -> str:
    """GET the page (200, contains the text) and each related path (200); say what passed."""
    import httpx

    with httpx.Client(timeout=10.0, follow_redirects=True, trust_env=False) as client:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} answered {response.status_code}, expected 200")
        if html.escape(must_contain) not in response.text and must_contain not in response.text:
            raise RuntimeError(f"GET {url} answered 200 but the page does not mention "
                               f"{must_contain!r}")
        for path in also or []:
            extra = client.get(urljoin(url, path))
            if extra.status_code != 200:
                raise RuntimeError(f"GET {urljoin(url, path)} answered {extra.status_code}")
    return f"GET {url} -> 200 with {must_contain!r}" + (f", {len(also)} more paths OK" if also
                                                        else "")


def publish_archive(dist: Path, output_dir: Path, slug: str, label: str = "site") -> Path:
    """Zip a folder (the built site by default) into ``OUTPUT_DIR/<slug>/<slug>-<label>.zip``
    (written to a temp name, then renamed). Caches (``__pycache__``, ``.pytest_cache``) stay out.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    archive = output_dir / f"{slug}-{label}.zip"
    partial = archive.with_suffix(".zip.partial")
    skip = {"__pycache__", ".pytest_cache"}
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(p for p in dist.rglob("*") if p.is_file()):
                relative = path.relative_to(dist)
                if skip.isdisjoint(relative.parts):
                    zf.write(path, relative.as_posix())
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise output_error(exc, output_dir.parent) from None
    os.replace(partial, archive)
    return archive


# -- tools, rendered source trees, venvs and long-running services ----------------------------
# Used by the python/cli and fastapi/service templates; any template may use them.

TAIL_LINES = 40
TAIL_CHARS = 3000





def output_tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept[-chars:]


def _summary_line(output: str) -> str:
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
        raise ToolFailed(f"{what} exited {proc.returncode}: {_summary_line(proc.stdout)}\n{tail}")
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


def render_tree(source: Path, dest: Path, context: dict[str, Any]) -> list[Path]:
    """Copy ``source`` to ``dest``; ``*.j2`` files are rendered with Jinja2 (suffix dropped).

    Path parts may hold ``{{ variables }}`` too (``src/{{ package }}/cli.py.j2``). Undefined
    variables are errors, so a typo in a template fails the check instead of writing blanks.
    """
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

    env = Environment(loader=FileSystemLoader(source), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=False)
    written = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source).as_posix()
        if "__pycache__" in relative:
            continue
        try:
            target_rel = env.from_string(relative).render(context) if "{{" in relative \
                else relative
            target = dest / target_rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".j2":
                target = target.with_suffix("")
                target.write_text(env.get_template(relative).render(context), encoding="utf-8")
            else:
                shutil.copy2(path, target)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None) or _template_line(exc, path)
            where = f"{relative} line {line}" if line else relative
            raise RenderError(f"{where}: {type(exc).__name__}: {exc}") from None
        written.append(target)
    return written


def _template_line(exc: BaseException, path: Path) -> int | None:
    """Jinja rewrites tracebacks so template frames carry the template's file and line."""
    import traceback

    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == str(path):
            return frame.lineno
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _services_dir(home: Path) -> Path:
    return home / "services"


def service_state(home: Path, name: str) -> dict[str, Any]:
    try:
        return json.loads((_services_dir(home) / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def start_service(home: Path, name: str, argv: list[str], *, cwd: Path, port: int,
                  health_path: str = "/health", env: dict[str, str] | None = None,
                  timeout: float = 30.0, log: Callable[[str], None] | None = None
                  ) -> dict[str, Any]:
    """Start ``argv`` as a detached process that outlives the worker, and wait until
    ``http://127.0.0.1:PORT/health_path`` answers 200. Its pid and port go to
    ``TITAN_HOME/services/NAME.json`` (stop it with ``stop_service``). A running instance of the
    same service is stopped first: a redeploy replaces it.
    """
    import httpx

    stop_service(home, name)
    folder = _services_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / f"{name}.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=log_file, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    state = {"name": name, "pid": proc.pid, "port": port, "argv": argv, "cwd": str(cwd),
             "log": str(log_path), "url": f"http://127.0.0.1:{port}/",
             "health_path": health_path}
    tmp = folder / f".{name}.json.tmp"
    tmp.write_text(json.dumps(state, indent=2), encoding="utf-8")
    os.replace(tmp, folder / f"{name}.json")
    deadline = time.monotonic() + timeout
    health = f"http://127.0.0.1:{port}{health_path}"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _forget(home, name)
            output = _read(log_path)
            if log is not None:
                log(f"{name} exited with status {proc.returncode}; last lines of its output:\n"
                    f"{output_tail(output)}")
            # The summary (a traceback's last line) goes first: a job's error keeps one line.
            message = (f"{name} exited with status {proc.returncode} before answering "
                       f"{health}: {_summary_line(output)}\n{output_tail(output)}")
            if "address already in use" in output.lower():
                raise RuntimeError(message)  # another process took the port: worth a retry
            raise ServiceFailed(message)
        try:
            if httpx.get(health, timeout=1.0, trust_env=False).status_code == 200:
                return state
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_service(home, name)
    output = _read(log_path)
    if log is not None:
        log(f"{name} did not answer in time; last lines of its output:\n{output_tail(output)}")
    raise RuntimeError(f"{name} did not answer {health} within {timeout:.0f}s: "
                       f"{_summary_line(output)}\n{output_tail(output)}")


def ensure_service(home: Path, name: str, timeout: float = 30.0) -> str | None:
    """Start a recorded service again if it does not answer (after a reboot or a crash), on
    its old port when that is free. Returns its URL (None: no record of it)."""
    import httpx

    state = service_state(home, name)
    if not state.get("argv") or not state.get("port"):
        return None
    health_path = state.get("health_path", "/health")
    try:
        if httpx.get(f"{state['url'].rstrip('/')}{health_path}", timeout=2.0,
                     trust_env=False).status_code == 200:
            return str(state["url"])
    except httpx.HTTPError:
        pass
    old_port = int(state["port"])
    port = old_port if port_is_free(old_port) else free_port()
    argv = [str(port) if arg == str(old_port) else arg for arg in state["argv"]]
    started = start_service(home, name, argv, cwd=Path(state["cwd"]), port=port,
                            health_path=health_path, env=tool_env(), timeout=timeout)
    return str(started["url"])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers bind (SO_REUSEADDR): a port in TIME_WAIT is free, a listening one is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stop_service(home: Path, name: str, grace: float = 5.0) -> bool:
    """Stop a service started by ``start_service`` (its whole process group). True if one ran."""
    state = service_state(home, name)
    _forget(home, name)
    pid = state.get("pid")
    if not pid or not _is_same_process(int(pid), state.get("argv") or []):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(int(pid), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _running(int(pid)):
        time.sleep(0.05)
    if _running(int(pid)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(pid), signal.SIGKILL)
    return True


def stop_all_services(home: Path) -> list[str]:
    folder = _services_dir(home)
    names = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    return [name for name in names if stop_service(home, name)]


def _forget(home: Path, name: str) -> None:
    (_services_dir(home) / f"{name}.json").unlink(missing_ok=True)


def _running(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child: reap it
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_same_process(pid: int, argv: list[str]) -> bool:
    """Guard against a recycled pid: the live process must run the recorded command line."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (macOS): trust the pid if it is alive
        return _running(pid)
    return bool(argv) and cmdline[: len(argv)] == [a.encode() for a in argv]


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


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
