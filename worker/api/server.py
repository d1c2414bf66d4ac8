"""``titan api``: serve the REST API with uvicorn (loopback only unless --host says otherwise)."""

from __future__ import annotations

import sys

import uvicorn

from worker.api.app import create_app
from worker.config import Settings
from worker.logs import configure_logging


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 3000) -> int:
    configure_logging(settings.log_level, secrets=settings.secret_values())
    server = uvicorn.Server(uvicorn.Config(
        create_app(settings), host=host, port=port, log_level=settings.log_level.lower(),
        access_log=False, lifespan="on", server_header=False,
        # Clients pool connections; closing idle ones after 5 s (the default) races with their
        # reuse under load and shows up as connection resets.
        timeout_keep_alive=30))
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits when it cannot bind the port
        return int(exc.code) if isinstance(exc.code, int) else 1
    except KeyboardInterrupt:
        return 130
    if not server.started:
        print(f"titan: the API did not start on {host}:{port}", file=sys.stderr)
        return 1
    return 0
