# ruff: noqa: E402  (sys.path must be fixed before the imports)
"""Projects written by a model, end to end: published %, repair rounds, tokens and wall time,
with Titan's repair loop and without it (one shot), one row per model.

    python bench/ai_build.py [--specs N] [--modes loop,one-shot] [--no-local]
                             [--url URL --model M [--key K]] [--rounds 3]

Twenty small specs (``SPECS``: command-line tools for ``python/cli``, REST services for
``fastapi/service``, small applications for ``ai/python-app``). For each model and mode: a fresh
embedded PostgreSQL and TITAN_HOME in a temp dir, the projects created through
``ProjectService.create`` (what the CLI, API, GUI and Jason call), then one real worker
(``python -m worker.cli worker --exit-when-idle``, concurrency 1: one project's model at a
time) builds them all exactly as a user's worker would: the model writes the code, its tests run
in bubblewrap, the repair loop feeds failures back, and deploy, verify and publish follow.

* **loop**: ``TITAN_AI_REPAIR_ROUNDS`` rounds (``--rounds``, default 3, Titan's default).
  **one shot**: ``TITAN_AI_REPAIR_ROUNDS=1`` — the model's first draft must pass as it is.
* **published**: projects that ended ``published`` (the others ended ``failed`` with a reason;
  the commonest reasons are printed).
* **published, model's edits**: of those, the ones where some round changed a file; a project
  can also pass with the scaffold's own placeholder code when the model's edits changed nothing
  (python/cli's verify runs ``hello``, ``--version`` and each subcommand's ``--help``, not what the
  subcommand does).
* **rounds**: ``ai_rounds`` rows per project (the scaffold's repair loop), mean.
* **tokens**: per project, from the ``ai_calls`` ledger (prompt + completion; llama-cpp-python's
  server reports no prompt tokens while streaming, so the local model's are completion only).
* **wall**: ``finished_at - started_at`` of the project (database clock), p50 / mean; it includes
  starting the local model for each scaffold, as a user's worker does.

The local model is SmolLM2-135M-Instruct (the ai-local extra, ``TITAN_AI_BUILDS=on``). A model at
``--url`` (or TITAN_AI_URL with TITAN_AI_MODEL / TITAN_AI_KEY) gets its own rows when it answers.
``--specs 2 --modes loop`` is a quick look (tests/bench/test_bench_smoke.py does not run this:
a project takes minutes on the local model).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import argparse
import asyncio
import collections
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass

from sqlalchemy import text

from bench.common import (
    embedded_server,
    endpoint_arguments,
    forget_user_data,
    header,
    load_average,
    parsed_with_endpoint,
    print_table,
)

# (name, template, description, resources or subcommands)
SPECS: list[tuple[str, str, str, list[str]]] = [
    ("Temp Convert", "python/cli", "Converts Celsius to Fahrenheit and back", ["convert"]),
    ("Word Count", "python/cli", "Counts the words, lines and characters of a text file",
     ["count"]),
    ("Dice", "python/cli", "Rolls dice written like 2d6 and prints the total", ["roll"]),
    ("Slugger", "python/cli", "Turns a title into a URL slug", ["slug"]),
    ("Reverse", "python/cli", "Reverses the words of a sentence", ["reverse"]),
    ("Vowels", "python/cli", "Counts the vowels in a word", ["vowels"]),
    ("Leap Year", "python/cli", "Tells whether a year is a leap year", ["check"]),
    ("Reading List", "fastapi/service", "A REST service for a reading list of books with "
     "title and author", ["books"]),
    ("Todo Service", "fastapi/service", "A REST API for todo items with a title and a done flag",
     ["todos"]),
    ("Notes API", "fastapi/service", "An HTTP API to store short notes with a text", ["notes"]),
    ("Contacts", "fastapi/service", "A service for contacts with a name and an email address",
     ["contacts"]),
    ("Recipes", "fastapi/service", "A backend for recipes with a name and minutes to cook",
     ["recipes"]),
    ("Bookmarks", "fastapi/service", "A service that stores bookmarks with a url and a title",
     ["bookmarks"]),
    ("Tip Calc", "ai/python-app", "Computes a restaurant tip and splits the bill between "
     "people", []),
    ("Roman", "ai/python-app", "Converts numbers to Roman numerals and back", []),
    ("Palindromes", "ai/python-app", "Checks whether words are palindromes, ignoring case", []),
    ("Fizz", "ai/python-app", "Prints FizzBuzz up to a number given on the command line", []),
    ("BMI", "ai/python-app", "Computes the body mass index from weight and height", []),
    ("Caesar", "ai/python-app", "Encrypts and decrypts text with a Caesar cipher", []),
    ("Primes", "ai/python-app", "Lists the prime numbers below a number", []),
]
TERMINAL = ("published", "failed", "cancelled", "rejected")


@dataclass
class Outcome:
    name: str
    template: str
    status: str
    reason: str
    rounds: int
    tokens: int
    seconds: float
    edited: bool  # some round changed a file (else the scaffold's own code passed)


def _spec(template: str, description: str, items: list[str]) -> dict[str, object]:
    spec: dict[str, object] = {"description": description}
    if items:
        spec["features"] = items
    return spec


async def _outcomes(db: object, ids: list[int]) -> list[Outcome]:
    async with db.session() as s:  # type: ignore[attr-defined]
        rows = (await s.execute(text("""
            SELECT p.name, p.template_ref, p.status, coalesce(p.last_error, ''),
                   (SELECT count(*) FROM ai_rounds r WHERE r.project_id = p.id),
                   (SELECT coalesce(sum(coalesce(c.prompt_tokens, 0)
                                        + coalesce(c.completion_tokens, 0)), 0)
                      FROM ai_calls c WHERE c.project_id = p.id),
                   extract(epoch FROM coalesce(p.finished_at, now())
                                      - coalesce(p.started_at, p.created_at)),
                   EXISTS (SELECT 1 FROM ai_rounds r WHERE r.project_id = p.id AND r.diff <> '')
              FROM projects p WHERE p.id = ANY(:ids) ORDER BY p.id"""), {"ids": ids})).all()
    return [Outcome(r[0], r[1], r[2], r[3], int(r[4]), int(r[5]), float(r[6]), bool(r[7]))
            for r in rows]


async def run_mode(label: str, rounds: int, extra_env: dict[str, str],
                   specs: list[tuple[str, str, str, list[str]]], timeout: float
                   ) -> list[Outcome]:
    with tempfile.TemporaryDirectory(prefix="titan-bench-ai-build-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # pgserver drops to its own user when run as root
        with embedded_server(tmp / "server") as url:
            from worker.db.engine import libpq_url

            env = {**os.environ, "DATABASE_URL": libpq_url(url), "TITAN_HOME": str(tmp / "home"),
                   "TITAN_REQUIRE_APPROVAL": "false", "TITAN_AI_REPAIR_ROUNDS": str(rounds),
                   "TITAN_AI_TIMEOUT_SECONDS": "900", **extra_env}
            os.environ.update(env)
            from worker.bootstrap import open_database
            from worker.config import Settings
            from worker.services.projects import ProjectService
            from worker.templatekit.services import stop_all_services

            settings = Settings()
            db = await open_database(settings)
            ids: list[int] = []
            try:
                service = ProjectService.from_settings(db, settings)
                for name, template, description, items in specs:
                    project = await service.create({"name": name, "template_ref": template,
                                                    "spec": _spec(template, description, items)})
                    ids.append(project.id)
                started = time.monotonic()
                worker = subprocess.run(
                    [sys.executable, "-m", "worker.cli", "worker", "--exit-when-idle",
                     "--concurrency", "1"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, text=True, timeout=timeout)
                if worker.returncode != 0:
                    print(f"  the worker exited {worker.returncode}: {worker.stderr[-500:]}")
                outcomes = await _outcomes(db, ids)
                print(f"  {label}: {len(outcomes)} projects in {time.monotonic() - started:.0f} s")
                for o in outcomes:
                    print(f"    {o.name:<14} {o.template:<16} {o.status:<10} rounds={o.rounds} "
                          f"{'edited' if o.edited else 'unedited'} "
                          f"tokens={o.tokens:>6} {o.seconds:6.1f} s  {o.reason[:110]}",
                          flush=True)
                return outcomes
            finally:
                await db.dispose()
                stop_all_services(settings.titan_home)
                from worker.sitehost import stop_site_host

                stop_site_host(settings.titan_home)


def summary_row(model: str, mode: str, outcomes: list[Outcome]) -> list[object]:
    n = len(outcomes)
    published = sum(o.status == "published" for o in outcomes)
    edited = sum(o.status == "published" and o.edited for o in outcomes)
    seconds = [o.seconds for o in outcomes]
    return [model, mode, f"{published}/{n} ({100 * published / n:.0f}%)", f"{edited}/{n}",
            f"{statistics.mean(o.rounds for o in outcomes):.2f}",
            f"{statistics.mean(o.tokens for o in outcomes):,.0f}",
            f"{statistics.median(seconds):.0f} / {statistics.mean(seconds):.0f} s"]


def _reasons(outcomes: list[Outcome]) -> list[str]:
    counted = collections.Counter(_short(o.reason) for o in outcomes if o.status != "published")
    return [f"{count}x {reason}" for reason, count in counted.most_common(4)]


def _short(reason: str) -> str:
    first = reason.splitlines()[0] if reason else "(no reason)"
    for cut in ("; last:", ": the check still fails"):
        first = first.split(cut)[0]
    return first[:120]


async def _main(args: argparse.Namespace) -> int:
    from worker.ai.local import local_unavailable_reason

    specs = SPECS[: args.specs]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    models: list[tuple[str, dict[str, str]]] = []
    notes: list[str] = []
    if not args.no_local:
        reason = local_unavailable_reason()
        if reason is None:
            models.append(("SmolLM2-135M-Instruct Q4_1 (local)",
                           {"TITAN_AI_BUILDS": "on", "TITAN_AI_URL": "", "TITAN_AI_MODEL": ""}))
        else:
            notes.append(f"local SmolLM2: not measured, {reason}")
    if args.url:
        models.append((f"{args.model} at {args.url}",
                       {"TITAN_AI_BUILDS": "on", "TITAN_AI_URL": args.url,
                        "TITAN_AI_MODEL": args.model, "TITAN_AI_KEY": args.key or ""}))
    else:
        notes.append("no other model: TITAN_AI_URL (or --url) is not set")
    rows: list[list[object]] = []
    for model, env in models:
        for mode in modes:
            rounds = args.rounds if mode == "loop" else 1
            print(f"{model}, {mode} ({rounds} round{'s' if rounds > 1 else ''}):", flush=True)
            outcomes = await run_mode(mode, rounds, env, specs, args.timeout)
            rows.append(summary_row(model, mode, outcomes))
            notes += [f"{model}, {mode}: {r}" for r in _reasons(outcomes)]
    print()
    if rows:
        print_table(["model", "mode", "published", "published, model's edits",
                     "rounds (mean)", "tokens (mean)",
                     "wall p50 / mean"], rows)
    for note in notes:
        print(note)
    print(f"load average at end: {load_average()}")
    return 0 if rows else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--specs", type=int, default=len(SPECS), help="the first N specs")
    ap.add_argument("--modes", default="loop,one-shot")
    ap.add_argument("--rounds", type=int, default=3, help="repair rounds in the loop mode")
    ap.add_argument("--no-local", action="store_true", help="skip the local model")
    ap.add_argument("--timeout", type=float, default=7200, help="seconds per worker run")
    endpoint_arguments(ap)
    args = parsed_with_endpoint(ap)
    forget_user_data()
    header("Titan AI builds: spec -> model-written project -> published?", extra=[
        f"specs: {min(args.specs, len(SPECS))}, modes: {args.modes}, one worker, "
        f"concurrency 1"])
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
