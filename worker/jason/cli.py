"""``titan jason ...``: Jason's speech and command core from the command line (no Qt needed).

    titan jason say TEXT --out FILE.wav [--voice ID] [--rate N]
    titan jason hear FILE.wav [--project NAME ...] [--template NAME ...]
    titan jason parse TEXT [--project NAME ...] [--template NAME ...]
    titan jason ask TEXT [--yes] [--json]
    titan jason help

``hear`` knows the project and template names in the database, as the app does; ``--project``
and ``--template`` add to them. ``hear`` and ``parse`` print one JSON line:
{"command", "slots", "text"}, or {"command": null, "text", "suggestions"} when it is not a
command.

``ask`` parses first; text that is no command goes to the AI model (TITAN_AI_*), which may pick
one of Jason's commands, propose a plan ("make me a site for my bakery") or answer a question
from the database. ``--yes`` answers Jason's "are you sure?" (and builds a proposed plan).
"""

from __future__ import annotations

import argparse
import json
import sys
import wave

DEFAULT_TEMPLATES = ("persona/basic",)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="titan jason", description="Jason's voice and commands")
    sub = ap.add_subparsers(dest="cmd", required=True)
    say = sub.add_parser("say", help="synthesize TEXT into a WAV file")
    say.add_argument("text")
    say.add_argument("--out", required=True, help="WAV file to write")
    say.add_argument("--voice", help="voice id (see --list-voices), e.g. gmw/en-us")
    say.add_argument("--rate", type=int, default=175, help="words per minute")
    for name, help_text in (("hear", "recognize a command in a WAV file"),
                            ("parse", "parse a typed command")):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("wav" if name == "hear" else "text")
        p.add_argument("--project", action="append", default=[], help="a known project name")
        p.add_argument("--template", action="append", default=[], help="a known template")
    ask = sub.add_parser("ask", help="ask Jason (the chat's text path); prints his answer")
    ask.add_argument("text")
    ask.add_argument("--yes", action="store_true",
                     help="answer yes if Jason asks for confirmation (destructive commands, "
                          "building a plan the AI proposed)")
    ask.add_argument("--json", action="store_true", help="print the reply as JSON")
    sub.add_parser("help", help="what Jason understands")
    sub.add_parser("voices", help="list voice ids for --voice")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.cmd == "help":
        from worker.jason.commands import help_text

        print(help_text())
        return 0
    if args.cmd in ("say", "voices"):
        return _speak(args)
    if args.cmd == "ask":
        return _ask(args)
    templates = args.template or list(DEFAULT_TEMPLATES)
    if args.cmd == "parse":
        from worker.jason.parser import parse

        result = parse(args.text, args.project, templates)
    else:
        from worker.jason.audio import load_wav
        from worker.jason.recognizer import Recognizer

        try:
            audio = load_wav(args.wav)
        except (OSError, EOFError, ValueError, KeyError, wave.Error) as exc:
            print(f"titan jason hear: cannot read {args.wav}: {exc}", file=sys.stderr)
            return 2
        projects, known_templates = _known_names()
        result = Recognizer(_merged(projects, args.project),
                            _merged(known_templates, args.template) or list(DEFAULT_TEMPLATES),
                            parallel=False).decode(audio)
    print(json.dumps(result.to_json(), ensure_ascii=False))
    return 0


def _merged(known: list[str], extra: list[str]) -> list[str]:
    return list(dict.fromkeys([*known, *extra]))


def _known_names() -> tuple[list[str], list[str]]:
    """The project and template names the app's ears know: the brain's own query, against the
    database the app would use. Without a database: none (a warning; the flags still count)."""
    import asyncio

    from worker.bootstrap import open_database
    from worker.config import get_settings
    from worker.jason.brain import Jason

    async def read() -> tuple[list[str], list[str]]:
        settings = get_settings()
        db = await open_database(settings)
        try:
            jason = Jason(db, settings)
            return await jason.project_names(), jason.template_names()
        finally:
            await db.dispose()

    try:
        return asyncio.run(read())
    except Exception as exc:  # any failure to reach the database: hear with the flags alone
        print(f"titan jason hear: no project names from the database: {exc}", file=sys.stderr)
        return [], []


def _speak(args: argparse.Namespace) -> int:
    from pathlib import Path

    from worker.jason.speech import Speaker

    if args.cmd == "say":
        out = Path(args.out)
        problem = (f"{out} is a directory" if out.is_dir() else
                   f"the directory {out.parent} does not exist" if not out.parent.is_dir()
                   else None)
        if problem:  # say so rather than create folders nobody asked for
            print(f"titan jason say: --out: {problem}", file=sys.stderr)
            return 2
    with Speaker(rate=getattr(args, "rate", 175)) as speaker:
        if args.cmd == "voices":
            for v in speaker.voices():
                print(f"{v.id}\t{v.name}")
            return 0
        try:
            path = speaker.synthesize(args.text, args.out, voice=args.voice).result(timeout=120)
        except (ValueError, RuntimeError, OSError) as exc:
            print(f"titan jason say: {exc}", file=sys.stderr)
            return 1
    print(path)
    return 0


def _ask(args: argparse.Namespace) -> int:
    """The text path against the real database: same parser and actions as the chat."""
    import asyncio

    from worker.bootstrap import open_database
    from worker.config import get_settings
    from worker.jason.brain import Jason

    async def run() -> int:
        settings = get_settings()
        db = await open_database(settings)
        try:
            jason = Jason(db, settings)
            reply = await jason.ask(args.text)
            if reply.awaiting_confirmation and args.yes:
                print(reply.text, file=sys.stderr)
                reply = await jason.ask("yes")
        finally:
            await db.dispose()
        if args.json:
            print(json.dumps({"command": reply.command, "slots": reply.slots, "text": reply.text,
                              "action": reply.action,
                              "awaitingConfirmation": reply.awaiting_confirmation,
                              "projectId": reply.project_id, "detail": reply.detail},
                             ensure_ascii=False))
        else:
            print(reply.chat_text)
        return 0

    return asyncio.run(run())
