"""``titan jason ask``: the chat's text path from the shell, against the real database."""

from __future__ import annotations

import json

from tests.conftest import titan


def test_ask_creates_reports_and_confirms(titan_env: dict) -> None:
    created = titan(titan_env, "jason", "ask", "create project Moon Garden using persona basic")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("Creating Moon Garden")
    asked = titan(titan_env, "jason", "ask", "cancel moon garden", "--json")
    reply = json.loads(asked.stdout)
    assert reply["awaitingConfirmation"] and reply["command"] == "cancel_project"
    shown = json.loads(titan(titan_env, "project", "show", "moon-garden", "--json").stdout)
    assert shown["status"] == "queued"  # nothing happened without a yes
    confirmed = titan(titan_env, "jason", "ask", "cancel moon garden", "--yes")
    assert confirmed.stdout.strip() == "Cancelled Moon Garden."
    shown = json.loads(titan(titan_env, "project", "show", "moon-garden", "--json").stdout)
    assert shown["status"] == "cancelled"
