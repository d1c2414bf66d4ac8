"""``titan ops propose|list|show|approve|reject|approve-run``: the ops loop from a terminal."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from worker.errors import InvalidInput


def add_commands(subparsers: Any, commands: dict[str, Callable[..., int]]) -> None:
    ops = subparsers.add_parser("ops", help="propose and decide on changes to Titan's own code")
    # The same parser class as the rest of the CLI: usage errors become one line and exit 2.
    sub = ops.add_subparsers(dest="ops_command", required=True,
                             parser_class=subparsers._parser_class)
    p = sub.add_parser("propose", help="propose a change (it is validated, tested, then "
                                       "waits for approval)")
    p.add_argument("--title", help="required with --patch; with --ask it defaults to the "
                                   "request")
    p.add_argument("--description", default="")
    p.add_argument("--patch", action="append", default=[], metavar="PATH=FILE",
                   help="set repository file PATH to the contents of local FILE (repeatable)")
    p.add_argument("--ask", metavar="REQUEST",
                   help="what to change, in words: the model drafts the edits (instead of "
                        "--patch); the change is tested and waits for approval the same way")
    p.add_argument("--json", action="store_true")
    ls = sub.add_parser("list", help="list ops changes")
    ls.add_argument("--status")
    ls.add_argument("--json", action="store_true")
    show = sub.add_parser("show", help="a change: status, diff, tests, canary, reason")
    show.add_argument("change_id", type=int, metavar="ID")
    show.add_argument("--json", action="store_true")
    for name in ("approve", "reject"):
        cmd = sub.add_parser(name, help=f"{name} a change awaiting approval")
        cmd.add_argument("change_id", type=int, metavar="ID")
        cmd.add_argument("--comment", default="")
        cmd.add_argument("--json", action="store_true")
    run = sub.add_parser("approve-run", help="let a change's tests run without a sandbox "
                                             "(where none exists: docs/sandbox.md)")
    run.add_argument("change_id", type=int, metavar="ID")
    run.add_argument("--json", action="store_true")
    commands["ops"] = cmd_ops


def _patches(specs: list[str]) -> list[dict[str, str]]:
    patches = []
    for index, spec in enumerate(specs):
        path, sep, local = spec.partition("=")
        if not sep or not path or not local:
            raise InvalidInput(f"--patch[{index}]", f"{spec!r} is not PATH=FILE")
        try:
            content = Path(local).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"--patch[{index}]", f"cannot read {local}: {exc}") from None
        patches.append({"path": path, "content": content})
    if not patches:
        raise InvalidInput("--patch", "at least one --patch PATH=FILE is required")
    return patches


def cmd_ops(args: argparse.Namespace, settings: Any) -> int:
    from worker.cli import _emit, _with_db
    from worker.services.ops import (
        OpsService,
        change_dict,
        drafting_model,
        parse_propose,
        shown_status,
    )
    from worker.services.principals import os_user

    request = None
    if args.ops_command == "propose":
        # Validate everything before the database is touched: bad input writes nothing.
        data: dict[str, Any] = {"description": args.description}
        if args.title is not None:
            data["title"] = args.title
        if args.ask is not None:
            if args.patch:
                raise InvalidInput("--ask", "give either --patch or --ask, not both")
            data["ask"] = args.ask
        else:
            data["patches"] = _patches(args.patch)
        request = parse_propose(data)
        if request.ask is not None:
            drafting_model(settings)  # AI off: say so now, before anything is written

    async def body(db: Any) -> int:
        service = OpsService(db, settings)
        cmd = args.ops_command
        if cmd == "propose":
            assert request is not None  # parsed above, before the database was touched
            change = await service.propose(request, proposed_by=os_user())
            drafted = (f"; {change.ai_model} drafts it, then it is tested and waits for "
                       "approval" if change.ask else "")
            _emit(args, change_dict(change), f"proposed ops change {change.id}: "
                  f"{change.title}{drafted}; a worker takes it from here")
        elif cmd == "list":
            changes = await service.list(status=args.status, limit=1000)
            if args.json:
                print(json.dumps([change_dict(c) for c in changes], indent=2))
            for c in [] if args.json else changes:
                print(f"{c.id:>5}  {shown_status(c):<21} {c.title[:50]:<50} {c.reason or ''}")
        elif cmd == "show":
            data = await service.details(args.change_id)
            _emit(args, data, _describe(data))
        elif cmd == "approve-run":
            change = await service.approve_run(args.change_id, actor=os_user())
            _emit(args, change_dict(change), f"ops change {change.id}: its tests run now, "
                  "without a sandbox")
        else:
            decision = "approved" if cmd == "approve" else "rejected"
            change = await service.decide(
                args.change_id, decision, decided_by="person",
                actor=os_user().removeprefix("user:"), comment=args.comment,
                principal=os_user())
            # Say what the person did: the worker may already have moved the change on.
            _emit(args, change_dict(change),
                  f"ops change {change.id} {decision} (now {change.status})")
        return 0

    return _with_db(settings, body)


def _describe(data: dict[str, Any]) -> str:
    lines = [f"ops change {data['id']}: {data['title']}",
             f"  status:  {data['status']}" + (f"  ({data['reason']})" if data["reason"] else ""),
             f"  proposed by: {data.get('proposedBy') or '-'}",
             *([f"  asked:   {data['ask']}",
                f"  model:   {data['aiModel'] or '-'}  tokens: {data['aiTokens']:,}  "
                f"drafts: {data['aiDrafts']}"] if data.get("ask") else []),
             f"  paths:   {', '.join(data['paths'])}",
             f"  branch:  {data['branch'] or '-'}  base: {data['baseRef'] or '-'}"
             + (f"  PR #{data['prNumber']} {data['prUrl']}" if data["prNumber"] else ""),
             f"  tests:   {data['testSummary'] or '-'}",
             f"  canary:  {len(data['canaryProbes'])} probes of {data['canaryUrl'] or '-'}"]
    for a in data.get("approvals", []):
        lines.append(f"  {a['decision']} by {a['principal'] or a['decidedBy']} at "
                     f"{a['createdAt']}" + (f": {a['comment']}" if a["comment"] else ""))
    for job in data["jobs"]:
        lines.append(f"    #{job['id']:<6} {job['kind']:<18} {job['status']:<10}"
                     + (f"  {job['lastError']}" if job["lastError"] else ""))
    if data["diff"]:
        lines += ["", data["diff"]]
    return "\n".join(lines)
