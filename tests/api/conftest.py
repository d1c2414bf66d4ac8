from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.server import ApiServer
from worker.config import reload_settings

TOKEN = "your-ops-token"
APPROVER_TOKEN = "your-approver-token"


@pytest.fixture
def api(titan_env: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiServer]:
    """The API on a loopback port, with OPS_TOKEN set (the original spec's example token) and
    OPS_APPROVER_TOKEN, the other credential that decides on ops changes. No model: free text
    to Jason would start the local model once a request (the AI tests cover that path)."""
    for name, value in (("OPS_TOKEN", TOKEN), ("OPS_APPROVER_TOKEN", APPROVER_TOKEN),
                        ("TITAN_AI_LOCAL", "0")):
        monkeypatch.setenv(name, value)
        titan_env[name] = value
    with ApiServer(reload_settings()) as server:
        yield server
