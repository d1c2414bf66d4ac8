"""Published sites and services come back when a worker starts after a "reboot" (the site host
and the service process killed), on their old ports; when a port is taken by something else,
the URLs in the database follow the new one. Real processes, real HTTP on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import titan
from worker.sitebuild import service_state, stop_all_services
from worker.sitehost import read_state

# Real processes over tens of seconds: part of the fault suite (-m 'not slow' leaves it out).
pytestmark = pytest.mark.slow


@pytest.fixture
def env(titan_env: dict) -> Iterator[dict]:
    yield titan_env
    stop_all_services(Path(titan_env["TITAN_HOME"]))


def _published(env: dict) -> dict[str, str]:
    listed = titan(env, "project", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return {p["slug"]: p["url"] for p in json.loads(listed.stdout) if p["status"] == "published"}


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, trust_env=False, timeout=5).status_code
    except httpx.TransportError:
        return None


def _reboot(home: Path) -> None:
    """What a reboot does to the processes: gone without a word (their records stay)."""
    os.kill(int(read_state(home)["pid"]), signal.SIGKILL)
    os.killpg(int(service_state(home, "notes-api")["pid"]), signal.SIGKILL)


def _fetch_all(urls: dict[str, str]) -> dict[str, int | None]:
    return {slug: _status(url + ("health" if slug == "notes-api" else "")) for slug, url
            in urls.items()}


def _squat(port: int, timeout: float = 10.0) -> socket.socket:
    """Listen on ``port`` as some other program would, once the killed process let it go."""
    deadline = time.monotonic() + timeout
    while True:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            assert time.monotonic() < deadline, f"port {port} was never released"
            time.sleep(0.05)
            continue
        sock.listen()
        return sock


def _worker(env: dict) -> None:
    worker = titan(env, "worker", "--exit-when-idle", timeout=240)
    assert worker.returncode == 0, worker.stdout[-3000:]


def test_published_urls_come_back_after_a_reboot_and_follow_a_moved_port(env: dict) -> None:
    home = Path(env["TITAN_HOME"])
    for args in (("Notes API", "--template", "fastapi/service", "--feature", "notes"),
                 ("Moon Garden",), ("Sun Garden",)):
        assert titan(env, "project", "create", *args).returncode == 0
    _worker(env)
    urls = _published(env)
    assert set(urls) == {"notes-api", "moon-garden", "sun-garden"}
    assert set(_fetch_all(urls).values()) == {200}

    _reboot(home)
    assert set(_fetch_all(urls).values()) == {None}  # every URL is dead now
    _worker(env)  # a worker starts (nothing to do): it brings them back, same ports
    assert _published(env) == urls
    assert set(_fetch_all(urls).values()) == {200}

    # Another reboot; this time something else took both old ports.
    _reboot(home)
    squatters = [_squat(httpx.URL(urls[slug]).port) for slug in ("moon-garden", "notes-api")]
    try:
        _worker(env)
        moved = _published(env)
        assert set(moved) == set(urls)
        assert all(moved[slug] != urls[slug] for slug in urls)  # new ports, stored
        assert set(_fetch_all(moved).values()) == {200}
        shown = json.loads(titan(env, "project", "show", "notes-api", "--json").stdout)
        assert [a["uri"] for a in shown["artifacts"] if a["kind"] == "url"] == [moved["notes-api"]]
    finally:
        for sock in squatters:
            sock.close()
