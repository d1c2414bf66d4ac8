"""The API on a free loopback port: ``ApiServer`` (uvicorn running ``create_app`` in a thread)
and ``TitanApiProcess`` (the real ``titan api`` command in a child process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn

from tests.helpers import wait_until_blocking
from worker.api.app import create_app
from worker.config import Settings
from worker.ops.canary import free_port

ROOT = Path(__file__).resolve().parent.parent.parent


class ApiServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, log_level="warning",
            lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, name="api-server", daemon=True)

    def __enter__(self) -> ApiServer:
        self.thread.start()
        wait_until_blocking(lambda: self.server.started, 60, "the API server to start",
                            interval=0.02,
                            give_up=lambda: None if self.thread.is_alive() else "it stopped")
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(15)


class TitanApiProcess:
    """``titan api`` as a user starts it: a child process on a free loopback port.

    Its output goes to a file (nobody reads a pipe while the test runs); ``output()`` reads it.
    """

    def __init__(self, env: dict, *args: str, port: int | None = None,
                 log_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env, self.args = env, args
        fd, name = tempfile.mkstemp(prefix="titan-api-", suffix=".log", dir=log_dir)
        os.close(fd)
        self.log_path = Path(name)
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> TitanApiProcess:
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "worker.cli", "api", "--port", str(self.port),
                 *self.args], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                text=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"titan api did not start: {self.output()[-2000:]}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
