"""Canary deploys: start the patched code somewhere and probe its health URL.

Local (the default): run ``OPS_CANARY_COMMAND`` (``titan api`` of the patched tree) on a copy of
the branch in the sandbox (docs/sandbox.md) and probe ``/health`` on the sandbox's own loopback.
Render: call the deploy hooks (``RENDER_DEPLOY_HOOK_API``, ``RENDER_DEPLOY_HOOK_WORKER``) with
``ref=<commit>`` and probe
``OPS_CANARY_HEALTH_URL``. Every probe is recorded; healthy means an HTTP 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shlex
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


# Runs inside the sandbox (Titan's interpreter, isolated mode): starts the canary, probes its
# /health on the sandbox's own loopback, prints one marked JSON line per probe, then stops it.
# The probe has to run in there: the sandbox's network namespace is unreachable from outside.
PROBE_MARK = "@@titan-canary-probe@@ "
_PROBE_SCRIPT = r"""
import json, os, signal, subprocess, sys, time, urllib.error, urllib.request
from datetime import datetime, timezone
port, timeout, interval = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
mark = sys.argv[4]
child = subprocess.Popen(sys.argv[5:], stdout=sys.stderr, stderr=sys.stderr,
                         stdin=subprocess.DEVNULL, start_new_session=True)
url = "http://127.0.0.1:%d/health" % port
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + timeout
n = 0
while True:
    n += 1
    probe = {"n": n, "at": datetime.now(timezone.utc).isoformat(), "url": url}
    try:
        with opener.open(url, timeout=5) as answer:
            probe["status"] = answer.status
    except urllib.error.HTTPError as exc:
        probe["status"] = exc.code
    except Exception as exc:
        probe["error"] = ("%s: %s" % (type(exc).__name__, exc))[:300]
    probe["ok"] = probe.get("status") == 200
    if not probe["ok"] and child.poll() is not None:
        probe["exited"] = child.returncode
    sys.stdout.write(mark + json.dumps(probe) + "\n")
    sys.stdout.flush()
    if probe["ok"] or "exited" in probe or time.monotonic() >= deadline:
        break
    time.sleep(interval)
try:
    os.killpg(child.pid, signal.SIGTERM)
    child.wait(5)
except Exception:
    pass
"""


async def run_local_canary(settings: Any, source: Path, command: str, timeout: float,
                           log_file: Path, *, unsandboxed: bool = False) -> CanaryResult:
    """Start ``command`` on a copy of ``source`` in the sandbox, probe /health, then stop it."""
    from worker import sandbox

    port = free_port()
    argv = shlex.split(command.replace("{python}", shlex.quote(sys.executable))
                       .replace("{port}", str(port)))
    if not argv:
        return CanaryResult(False, "", detail="the canary command (OPS_CANARY_COMMAND) is empty")
    probe = [sys.executable, "-I", "-c", _PROBE_SCRIPT, str(port), str(timeout),
             str(PROBE_INTERVAL_SECONDS), PROBE_MARK, *argv]
    # The probes' own timeout ends the run; the wall limit is only a backstop.
    limits = sandbox.Limits.from_settings(settings, timeout + 30)
    ran = await sandbox.run(settings, probe, source, limits, unsandboxed=unsandboxed,
                            env={"PYTHONPATH": "."})
    result = CanaryResult(False, f"http://127.0.0.1:{port}/health")
    lines = []
    for line in ran.output.split("\n"):
        if line.startswith(PROBE_MARK):
            with contextlib.suppress(ValueError):
                result.probes.append(json.loads(line[len(PROBE_MARK):]))
        else:
            lines.append(line)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    last = result.probes[-1] if result.probes else None
    if last is not None and last.get("ok"):
        result.healthy, result.detail = True, f"healthy after {len(result.probes)} probes"
    elif last is not None and "exited" in last:
        result.detail = f"the canary process exited with code {last['exited']}"
    elif last is None:
        result.detail = f"the canary never ran (exit code {ran.returncode}): " \
                        f"{(lines or ['no output'])[-1][:300]}"
    else:
        result.detail = (f"not healthy within {timeout:g}s ({len(result.probes)} probes, "
                         f"last: {last.get('status', last.get('error'))})")
    return result


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
