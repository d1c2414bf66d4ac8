"""Sending alerts to ``TITAN_ALERT_WEBHOOK``: a Slack-compatible JSON POST, with retries.

The body is what Slack's incoming webhooks (and Mattermost, Discord's ``/slack`` endpoint,
Rocket.Chat, ...) take: ``{"text": ..., "blocks": [...]}``; ``text`` alone says everything for
receivers that ignore blocks. It holds the alert's title and message and nothing else: no
settings, no environment, and every configured secret value is masked in the text, should one
have slipped into an error message. The webhook URL (a secret too) is never logged; a failed
delivery records ``HTTP 500`` or the error's type, never the URL.

A burst (more than ``BATCH_AFTER`` alerts in one round, say a thousand dead jobs) goes out as
one message listing the first few, not as a thousand POSTs.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import httpx

from worker.db.engine import Database
from worker.logs import get_logger
from worker.services.alerts import AlertInfo, mark

log = get_logger("titan.alerts")

ATTEMPTS = 4  # the first try and three retries
BACKOFF_SECONDS = 0.5  # doubled after each failed try: 0.5, 1, 2
TIMEOUT_SECONDS = 10.0
BATCH_AFTER = 5
LISTED = 10  # alerts a batch message lists one by one
RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def _masked(value: str, secrets: list[str]) -> str:
    for secret in secrets:
        value = value.replace(secret, "***")
    return value


def payload(alerts: list[AlertInfo], secrets: list[str], host: str = "") -> dict[str, Any]:
    """The JSON body for one alert, or one message for several."""
    where = f" on {host}" if host else ""
    if len(alerts) == 1:
        alert = alerts[0]
        title, lines = f"Titan alert: {alert.title}", [alert.message]
        footer = f"{alert.event} · alert #{alert.id}{where}"
    else:
        title = f"Titan: {len(alerts)} alerts"
        lines = [f"• {a.title}: {a.message}" for a in alerts[:LISTED]]
        if len(alerts) > LISTED:
            lines.append(f"… and {len(alerts) - LISTED} more (titan logs, or the desktop)")
        footer = f"alerts #{alerts[0].id} to #{alerts[-1].id}{where}"
    body = _masked("\n".join(lines), secrets)
    title = _masked(title, secrets)
    return {
        "text": f"{title}\n{body}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:2900]}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]},
        ],
    }


async def post(url: str, body: dict[str, Any], *, attempts: int = ATTEMPTS,
               backoff: float = BACKOFF_SECONDS) -> tuple[bool, int, str | None]:
    """POST ``body`` as JSON, retrying network errors, timeouts, 429 and 5xx with exponential
    backoff. Returns (delivered, tries made, the last error without the URL)."""
    error: str | None = None
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, trust_env=False) as client:
        for attempt in range(1, attempts + 1):
            try:
                response = await client.post(url, json=body)
            except httpx.HTTPError as exc:  # connection refused, reset, timeout
                error = type(exc).__name__
            else:
                if response.is_success:
                    return True, attempt, None
                error = f"HTTP {response.status_code}"
                if response.status_code not in RETRIED_STATUSES:
                    return False, attempt, error  # 400, 403, 404: another try cannot help
            if attempt < attempts:
                await asyncio.sleep(backoff * 2 ** (attempt - 1))
    return False, attempts, error


async def deliver(db: Database, settings: Any, alerts: list[AlertInfo]) -> bool:
    """Send ``alerts`` (one POST, or one per alert when there are few) and record the outcome
    on their rows. True when all went out."""
    if settings.alert_webhook is None or not alerts:
        return True
    url = settings.alert_webhook.get_secret_value()
    secrets = settings.secret_values()
    host = socket.gethostname()
    groups = [alerts] if len(alerts) > BATCH_AFTER else [[a] for a in alerts]
    all_sent = True
    for group in groups:
        sent, tries, error = await post(url, payload(group, secrets, host))
        await mark(db, [a.id for a in group], sent=sent, attempts=tries, error=error)
        if not sent:
            all_sent = False
            log.error(f"could not send {len(group)} alert(s) to the webhook after {tries} "
                      f"tries: {error}", alert_ids=[a.id for a in group])
    return all_sent
