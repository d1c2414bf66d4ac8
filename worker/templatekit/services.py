"""Long-running services a deploy starts (``fastapi/service`` apps): detached processes that
outlive the worker, recorded in ``TITAN_HOME/services/NAME.json``, started again after a reboot
(``ensure_service``) and stopped by process group."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worker.errors import ServiceFailed
from worker.templatekit.tools import output_tail, summary_line, tool_env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As servers bind (SO_REUSEADDR): a port in TIME_WAIT is free, a listening one is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _services_dir(home: Path) -> Path:
    return home / "services"


def service_state(home: Path, name: str) -> dict[str, Any]:
    try:
        return json.loads((_services_dir(home) / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def start_service(home: Path, name: str, argv: list[str], *, cwd: Path, port: int,
                  health_path: str = "/health", env: dict[str, str] | None = None,
                  timeout: float = 30.0, log: Callable[[str], None] | None = None,
                  record_env: bool = False) -> dict[str, Any]:
    """Start ``argv`` as a detached process that outlives the worker, and wait until
    ``http://127.0.0.1:PORT/health_path`` answers 200. Its pid and port go to
    ``TITAN_HOME/services/NAME.json`` (stop it with ``stop_service``). A running instance of the
    same service is stopped first: a redeploy replaces it. ``record_env`` keeps ``env`` in the
    record for restarts (only for an environment without secrets, such as the sandbox proxy's).
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
    if record_env and env is not None:
        state["env"] = env
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
                       f"{health}: {summary_line(output)}\n{output_tail(output)}")
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
                       f"{summary_line(output)}\n{output_tail(output)}")


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
                            health_path=health_path, env=state.get("env") or tool_env(),
                            timeout=timeout, record_env="env" in state)
    return str(started["url"])


def restart_service(home: Path, name: str, timeout: float = 60.0,
                    log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Stop a recorded service and start the same command again on the same port (verify
    checks that a service's data survives this)."""
    state = service_state(home, name)
    if not state.get("argv") or not state.get("port"):
        raise RuntimeError(f"{name} is not running: nothing to restart")
    return start_service(home, name, list(state["argv"]), cwd=Path(state["cwd"]),
                         port=int(state["port"]), health_path=state.get("health_path", "/health"),
                         env=state.get("env") or tool_env(), timeout=timeout, log=log,
                         record_env="env" in state)


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
