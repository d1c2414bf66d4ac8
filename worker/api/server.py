"""``titan api``: serve the REST API with uvicorn (loopback only unless TITAN_API_TOKEN is set)."""

from __future__ import annotations

import sys

import uvicorn

from worker.api.app import create_app
from worker.api.guard import is_loopback_host
from worker.config import Settings
from worker.logs import configure_logging

EXIT_USAGE = 2


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 3000,
          log_format: str = "auto") -> int:
    if not is_loopback_host(host) and settings.api_token is None:
        print(f"titan: refusing to serve the API on {host} without TITAN_API_TOKEN: set it "
              "(and put a TLS proxy in front, see docs/security.md) or use --host 127.0.0.1",
              file=sys.stderr)
        return EXIT_USAGE
    configure_logging(settings.log_level, secrets=settings.secret_values(),
                      log_format=log_format)
    server = uvicorn.Server(uvicorn.Config(
        create_app(settings, bind_host=host), host=host, port=port,
        log_level=settings.log_level.lower(),
        # uvicorn's own lines go through Titan's handler: same format, secrets scrubbed.
        log_config=None,
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
