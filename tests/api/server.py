"""A real uvicorn server running ``create_app`` on a free loopback port, in a thread."""

from __future__ import annotations

import threading
from types import TracebackType

import uvicorn

from tests.helpers import wait_until_blocking
from worker.api.app import create_app
from worker.config import Settings
from worker.ops.canary import free_port


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
