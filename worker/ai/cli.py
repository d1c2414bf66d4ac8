"""``titan ai status [--json]`` and ``titan ai calls [--project X] [--limit N] [--json]``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from worker.config import Settings

PROBE = [{"role": "user", "content": "Count from 1 to 30, separated by spaces."}]
PROBE_MAX_TOKENS = 48


def add_commands(subparsers: Any, commands: dict[str, Any]) -> None:
    ai = subparsers.add_parser("ai", help="the AI endpoint and its call ledger")
    sub = ai.add_subparsers(dest="ai_command", required=True, parser_class=type(ai))
    status = sub.add_parser("status", help="endpoint, model, whether it answers, tokens/s")
    status.add_argument("--json", action="store_true")
    calls = sub.add_parser("calls", help="the AI call ledger, newest first")
    calls.add_argument("--project", metavar="ID_OR_SLUG")
    calls.add_argument("--limit", type=_positive_int, default=50)
    calls.add_argument("--json", action="store_true")
    commands["ai"] = cmd_ai


def _positive_int(value: str) -> int:
    from worker.cli import _positive_int as positive

    return positive(value)


def cmd_ai(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli import _with_db

    if args.ai_command == "status":
        # Configuration mistakes (a URL without a model) are usage errors: say so first.
        from worker.ai.endpoint import configured_endpoint

        configured_endpoint(settings)
        return _with_db(settings, lambda db: _status(db, args, settings))
    return _with_db(settings, lambda db: _calls(db, args))


async def _status(db: Any, args: argparse.Namespace, settings: Settings) -> int:
    from worker.ai import AIError, AIOff, ai_off_reason, open_client

    report: dict[str, Any] = {"enabled": False, "endpoint": None, "model": None, "local": False,
                              "answers": False, "error": None, "timeToFirstTokenMs": None,
                              "tokensPerSecond": None, "completionTokens": None}
    off = ai_off_reason(settings)
    if off is not None:
        report["error"] = off
        return _print_status(args, report, 1)
    report["enabled"] = True
    try:
        async with open_client(settings, db) as client:
            report.update(endpoint=client.endpoint.safe_url, model=client.endpoint.model,
                          local=client.endpoint.local)
            done = await client.chat(PROBE, purpose="status probe", max_tokens=PROBE_MAX_TOKENS,
                                     temperature=0)
    except AIOff as exc:
        report.update(enabled=False, error=str(exc))
        return _print_status(args, report, 1)
    except AIError as exc:
        report["error"] = str(exc)
        return _print_status(args, report, 1)
    speed = done.tokens_per_second
    report.update(answers=True, timeToFirstTokenMs=_round(done.time_to_first_token_ms),
                  tokensPerSecond=_round(speed), completionTokens=done.completion_tokens)
    return _print_status(args, report, 0)


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def _round(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _print_status(args: argparse.Namespace, report: dict[str, Any], code: int) -> int:
    if args.json:
        print(json.dumps(report, indent=2))
        return code
    if not report["enabled"]:
        print(report["error"])
        return code
    where = "the local model, served on loopback" if report["local"] else "configured"
    print(f"endpoint: {report['endpoint'] or '-'} ({where})")
    print(f"model:    {report['model'] or '-'}")
    if report["answers"]:
        speed = report["tokensPerSecond"]
        print(f"answers:  yes; first token after {report['timeToFirstTokenMs']} ms, "
              f"{speed if speed is not None else '?'} tokens/s")
        if report["local"]:
            print("note:     the local model writes rough drafts only; connect Ollama or a "
                  "hosted model (TITAN_AI_URL) for real work")
    else:
        print(f"answers:  no; {report['error']}")
    return code


async def _calls(db: Any, args: argparse.Namespace) -> int:
    from worker.services.ai_calls import call_dict, list_calls

    project_id = None
    if args.project is not None:
        from worker.services.projects import ProjectService
        from worker.templates import TemplateRegistry

        service = ProjectService(db, TemplateRegistry([]))
        project_id = (await service.get(args.project)).id
    rows = await list_calls(db, project_id=project_id, limit=args.limit)
    if args.json:
        print(json.dumps([call_dict(row) for row in rows], indent=2))
        return 0
    if not rows:
        print("no AI calls yet")
        return 0
    for row in rows:
        tokens = f"{_count(row.prompt_tokens)}+{_count(row.completion_tokens)} tok"
        cost = f" {row.cost}" if row.cost is not None else ""
        outcome = f"  ERROR {row.error}" if row.error else ""
        print(f"{row.id:>6}  {row.created_at:%Y-%m-%d %H:%M:%S}  "
              f"{(str(row.project_id) if row.project_id else '-'):>5}  {row.purpose:<20} "
              f"{row.model:<24} {tokens:>14} {row.total_ms or 0:>8.0f} ms{cost}{outcome}")
    return 0
