"""The loopback web server that keeps deployed sites online after the worker exits.

One detached process per TITAN_HOME serves OUTPUT_DIR at ``http://127.0.0.1:<port>/<slug>/``.
Its pid, port and root are in ``TITAN_HOME/sitehost.json``; a deploy reuses a live one.
"""

from __future__ import annotations

import functools
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO

import fasteners
import httpx

from worker.paths import titan_command

PROBE = "/__titan_sitehost__"
_THREAD_LOCK = threading.Lock()


def _state_file(home: Path) -> Path:
    return home / "sitehost.json"


def _alive(state: dict, root: Path) -> bool:
    if state.get("root") != str(root):
        return False
    try:
        response = httpx.get(f"http://127.0.0.1:{state['port']}{PROBE}", timeout=2,
                             trust_env=False)
    except (httpx.HTTPError, KeyError):
        return False
    return response.status_code == 200 and response.text == str(root)


def read_state(home: Path) -> dict:
    try:
        return json.loads(_state_file(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def ensure_site_host(root: Path, home: Path, timeout: float = 15.0) -> str:
    """Return the base URL of a live site host for ``root``, starting one if needed.

    Concurrent deploys (several jobs, several workers) serialize on a lock file, so exactly
    one host is started and everybody gets its URL.
    """
    root = root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    # File locks exclude other processes only; the thread lock covers this process's threads.
    with _THREAD_LOCK, fasteners.InterProcessLock(str(home / "sitehost.lock")):
        return _ensure_locked(root, home, timeout)


def _ensure_locked(root: Path, home: Path, timeout: float) -> str:
    state = read_state(home)
    if _alive(state, root):
        return f"http://127.0.0.1:{state['port']}/"
    _state_file(home).unlink(missing_ok=True)
    # Ask for the port it had before, so URLs already handed out keep working.
    previous_port = str(state.get("port", 0)) if state.get("root") == str(root) else "0"
    log_file = (home / "sitehost.log").open("ab")
    subprocess.Popen(
        titan_command("site-host", "--root", str(root), "--state", str(_state_file(home)),
                      "--port", previous_port),
        stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, start_new_session=True,
        close_fds=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(home)
        if state and _alive(state, root):
            return f"http://127.0.0.1:{state['port']}/"
        time.sleep(0.05)
    raise RuntimeError(f"the site host did not start within {timeout:.0f}s "
                       f"(see {home / 'sitehost.log'})")


def stop_site_host(home: Path, timeout: float = 5.0) -> bool:
    """Stop the host (waiting for it to exit); its port is remembered for the next start."""
    state = read_state(home)
    pid = state.pop("pid", None)
    if state:
        _state_file(home).write_text(json.dumps(state), encoding="utf-8")
    if not pid:
        return False
    try:
        os.kill(int(pid), signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _running(int(pid)):
        time.sleep(0.02)
    return True


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # an exited child of ours that nobody reaped yet is a zombie: it is gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return True


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == PROBE:
            body = str(Path(self.directory).resolve()).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def send_head(self) -> io.BytesIO | BinaryIO | None:
        """Only files inside the root: no symlink out of it (a published site could otherwise
        expose any file the host can read)."""
        path = Path(self.translate_path(self.path))
        root = Path(self.directory).resolve()
        served = [path, path / "index.html", path / "index.htm"] if path.is_dir() else [path]
        try:
            inside = all(p.resolve().is_relative_to(root) for p in served)
        except (OSError, RuntimeError):  # a symlink loop
            inside = False
        if not inside:
            self.send_error(404, "File not found")
            return None
        return super().send_head()

    def list_directory(self, path: str | os.PathLike[str]) -> io.BytesIO | None:
        """A folder without index.html is not a page: no listing of what else lies there."""
        self.send_error(404, "File not found")
        return None

    def log_message(self, format: str, *args: object) -> None:  # keep the log file small
        pass


def serve(root: Path, state_file: Path, port: int = 0) -> None:
    handler = functools.partial(_Handler, directory=str(root.resolve()))
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError:  # the old port is taken now: any free one will do
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "port": server.server_address[1],
                               "root": str(root.resolve())}), encoding="utf-8")
    os.replace(tmp, state_file)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever()
    finally:
        server.server_close()
