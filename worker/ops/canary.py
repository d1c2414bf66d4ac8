"""Canary deploys: start the patched code somewhere and probe its health URL.

Local (the default): run ``OPS_CANARY_COMMAND`` (``titan api`` of the patched tree) in a worktree
on a free loopback port and probe ``/health``. Render: call the deploy hooks
(``RENDER_DEPLOY_HOOK_API``, ``RENDER_DEPLOY_HOOK_WORKER``) with ``ref=<commit>`` and probe
``OPS_CANARY_HEALTH_URL``. Every probe is recorded; healthy means an HTTP 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

PROBE_INTERVAL_SECONDS = 0.5


@dataclass
class CanaryResult:
    healthy: bool
    url: str
    probes: list[dict[str, Any]] = field(default_factory=list)
    detail: str = ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def probe_until_healthy(url: str, timeout: float,
                              process: asyncio.subprocess.Process | None = None
                              ) -> CanaryResult:
    result = CanaryResult(False, url)
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as client:
        while True:
            probe: dict[str, Any] = {"n": len(result.probes) + 1,
                                     "at": datetime.now(UTC).isoformat(), "url": url}
            try:
                response = await client.get(url)
                probe["status"] = response.status_code
                probe["ok"] = response.status_code == 200
            except httpx.HTTPError as exc:
                probe["error"] = f"{type(exc).__name__}: {exc}"[:300]
                probe["ok"] = False
            result.probes.append(probe)
            if probe["ok"]:
                result.healthy, result.detail = True, f"healthy after {len(result.probes)} probes"
                return result
            if process is not None and process.returncode is not None:
                result.detail = f"the canary process exited with code {process.returncode}"
                return result
            if time.monotonic() >= deadline:
                last = probe.get("status", probe.get("error"))
                result.detail = (f"not healthy within {timeout:g}s "
                                 f"({len(result.probes)} probes, last: {last})")
                return result
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)


async def run_local_canary(tree: Path, command: str, timeout: float, log_file: Path
                           ) -> CanaryResult:
    """Start ``command`` in ``tree`` on a free loopback port, probe /health, then stop it."""
    port = free_port()
    argv = shlex.split(command.replace("{python}", shlex.quote(sys.executable))
                       .replace("{port}", str(port)))
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"}
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=tree, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)
        try:
            return await probe_until_healthy(f"http://127.0.0.1:{port}/health", timeout, process)
        finally:
            await stop_process(process)


async def stop_process(process: asyncio.subprocess.Process, grace: float = 5.0) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), grace)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


def render_hooks(settings: Any) -> list[str]:
    return [secret.get_secret_value() for secret in
            (settings.render_deploy_hook_api, settings.render_deploy_hook_worker)
            if secret is not None and secret.get_secret_value()]


async def trigger_render(hooks: list[str], ref: str | None) -> list[str]:
    """Call each deploy hook (POST, as Render documents), deploying commit ``ref``.

    Returns a description per hook without the hook's key (hook URLs are secrets).
    """
    done = []
    async with httpx.AsyncClient(trust_env=False, timeout=30.0) as client:
        for hook in hooks:
            url = _with_ref(hook, ref)
            response = await client.post(url)
            where = urlsplit(hook)
            safe = f"{where.scheme}://{where.netloc}{where.path.rsplit('/', 1)[0]}/…"
            if response.status_code >= 300:
                raise RuntimeError(f"deploy hook {safe} answered {response.status_code}")
            done.append(f"{safe} -> {response.status_code}")
    return done


def _with_ref(hook: str, ref: str | None) -> str:
    if not ref:
        return hook
    parts = urlsplit(hook)
    query = f"{parts.query}&{urlencode({'ref': ref})}" if parts.query else urlencode({"ref": ref})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
