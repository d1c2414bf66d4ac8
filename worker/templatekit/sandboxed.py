"""Serving model-written code: an ASGI app that runs in the sandbox behind a loopback port.

The app's files are copied into the sandbox's throwaway tree; its one writable, kept folder is
``data`` (bound at ``worker.sandbox.SERVICE_DATA``: its database and its unix socket live there).
The process that outlives the worker is Titan's proxy (worker.templatekit.proxy), which starts the
sandbox as its child; ``start_service`` records it like any other service, so ``stop_service``,
``ensure_service`` (after a reboot) and project deletion work unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worker.errors import PermanentError
from worker.templatekit.services import free_port, start_service

SOCKET = "http.sock"


def proxy_env() -> dict[str, str]:
    """The proxy's own environment: it needs none of the worker's settings or secrets."""
    import os

    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    return {k: os.environ[k] for k in keep if k in os.environ}


def serve_sandboxed(settings: Any, name: str, app_dir: Path, data: Path, app: str, *,
                    env: dict[str, str] | None = None, log: Callable[[str], None] | None = None,
                    timeout: float = 60.0) -> dict[str, Any]:
    """Start ``uvicorn APP`` in the sandbox on a copy of ``app_dir``, reachable at a free
    loopback port; returns the service's recorded state (``url``, ``pid``, ``port``).

    Raises PermanentError when there is no sandbox here: model-written code never runs outside.
    """
    from worker import sandbox

    try:
        choice = sandbox.choose(settings)
    except sandbox.SandboxUnavailable as exc:
        raise PermanentError(f"model-written code runs only in the sandbox, and {exc}") from None
    if choice.mode != "bwrap":
        raise PermanentError(f"model-written code runs only in the sandbox, and there is none "
                             f"to serve it: {choice.reason}")
    data.mkdir(parents=True, exist_ok=True)
    inside = [sys.executable, "-m", "uvicorn", app, "--uds", f"{sandbox.SERVICE_DATA}/{SOCKET}"]
    bwrap = sandbox.service_argv(settings, app_dir, inside, data, env)
    port = free_port()
    return start_service(
        settings.titan_home, name,
        [sys.executable, "-m", "worker.templatekit.proxy", str(port), SOCKET, "--", *bwrap],
        cwd=data, port=port, env=proxy_env(), log=log, timeout=timeout, record_env=True)
