"""A real nginx (Debian's ``nginx`` package) for the folder deploy target's tests: started as
an unprivileged process of its own (no service manager, no root, no system config) on a loopback
port, with a temporary config whose ``root`` is the web root under test.

As root (a CI container), nginx is started as ``nobody``, so the files it serves must be
readable by anybody, as on a real web server; its prefix folder (pid, logs, temp) is given to
that user.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import httpx

from tests.helpers import wait_until_blocking

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NOBODY = 65534

CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root {root};
        index index.html;
        location / {{ try_files $uri $uri/ =404; }}
    }}
}}
"""


def nginx_available() -> bool:
    return Path(NGINX).is_file() and os.access(NGINX, os.X_OK)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Nginx:
    """``with Nginx(web_root) as server: httpx.get(server.url + "site/")``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.prefix = Path(tempfile.mkdtemp(prefix="titan-nginx-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Nginx:
        (self.prefix / "nginx.conf").write_text(
            CONFIG.format(prefix=self.prefix, port=self.port, root=self.root), encoding="utf-8")
        as_root = os.geteuid() == 0
        if as_root:
            for path in (self.prefix, *self.prefix.iterdir()):
                os.chown(path, NOBODY, NOBODY)
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
             "-e", str(self.prefix / "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            user=NOBODY if as_root else None, group=NOBODY if as_root else None,
            extra_groups=[] if as_root else None)
        wait_until_blocking(self._answers, timeout=20, what=f"nginx on {self.url}",
                            give_up=self._died)
        return self

    def _answers(self) -> bool:
        try:
            httpx.get(self.url, timeout=1, trust_env=False)
        except httpx.HTTPError:
            return False
        return True

    def _died(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            return f"nginx exited with {self.proc.returncode}: {err[-2000:]}"
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: the master stops its worker
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.prefix, ignore_errors=True)
