from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.server import ApiServer
from worker.config import reload_settings

TOKEN = "your-ops-token"


@pytest.fixture
def api(titan_env: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiServer]:
    """The API on a loopback port, with OPS_TOKEN set (the original spec's example token)."""
    monkeypatch.setenv("OPS_TOKEN", TOKEN)
    titan_env["OPS_TOKEN"] = TOKEN
    with ApiServer(reload_settings()) as server:
        yield server
