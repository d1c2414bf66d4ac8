"""The built-in templates with a model: a real worker runs the pipeline, the "model" is the
SCRIPTED OpenAI-compatible server on loopback (tests/ai/scripted.py), because these cases need a
competent model on demand (a draft that fails one test, then a fix; a draft that writes outside
the workspace). Everything else is real: the CLI, the worker process, PostgreSQL (the ledger and
``ai_rounds``), the edits on disk, pytest and the built command in bubblewrap, the wheel, the
site and its zip."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ai.scripted import Answer, ScriptedAI
from tests.conftest import titan
from tests.templates.conftest import run_worker, show
from worker import sandbox
from worker.db.engine import Database
from worker.services.ai_calls import list_calls
from worker.services.ai_rounds import list_rounds

needs_bwrap = pytest.mark.skipif(sandbox.bwrap_problem() is not None,
                                 reason=f"no sandbox here: {sandbox.bwrap_problem()}")

CLI = '''\
"""The `shout-tool` command."""

from __future__ import annotations

import argparse
import sys

from shout_tool import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shout-tool", description="Shouts text")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    hello = commands.add_parser("hello", help="greet someone")
    hello.add_argument("name", nargs="?", default="world")
    shout = commands.add_parser("shout", help="print the text in capitals")
    shout.add_argument("text")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "hello":
        print(f"Hello, {args.name}!")
    else:
        print(args.text.lower())
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''
TESTS = '''\
import pytest

from shout_tool import __version__
from shout_tool.cli import main


def test_hello_greets_by_name(capsys):
    assert main(["hello", "Ada"]) == 0
    assert capsys.readouterr().out == "Hello, Ada!\\n"


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out


def test_shout(capsys):
    assert main(["shout", "hi there"]) == 0
    assert capsys.readouterr().out == "HI THERE\\n"
'''
FIX = {"path": "src/shout_tool/cli.py", "search": "args.text.lower()",
       "replace": "args.text.upper()"}
DRAFT = ({"path": "src/shout_tool/cli.py", "content": CLI},
         {"path": "tests/test_cli.py", "content": TESTS})


@pytest.fixture(autouse=True)
def _no_builds_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("TITAN_AI_BUILDS", raising=False)
    yield


def edits(*items: dict[str, Any], prompt_tokens: int = 100) -> Answer:
    text = json.dumps({"edits": list(items)})
    return Answer([text[i:i + 60] for i in range(0, len(text), 60)], prompt_tokens=prompt_tokens)


def answer(obj: dict[str, Any]) -> Answer:
    text = json.dumps(obj)
    return Answer([text[i:i + 60] for i in range(0, len(text), 60)])


def with_model(env: dict, server: ScriptedAI, **extra: str) -> dict:
    return {**env, "TITAN_AI_URL": server.url, "TITAN_AI_MODEL": "scripted",
            "TITAN_AI_RETRY_BASE_SECONDS": "0.01", **extra}


def sent(server: ScriptedAI, index: int) -> str:
    return "\n".join(m["content"] for m in server.requests[index].body["messages"])


def create_cli(env: dict) -> None:
    created = titan(env, "project", "create", "Shout Tool", "--template", "python/cli",
                    "--type", "cli", "--description", "Shouts text", "--feature", "shout")
    assert created.returncode == 0, created.stderr


def rounds_and_calls(db_url: str, project_id: int) -> tuple[list[Any], list[Any]]:
    async def read() -> tuple[list[Any], list[Any]]:
        db = Database(db_url)
        try:
            return (await list_rounds(db, project_id=project_id),
                    await list_calls(db, project_id=project_id))
        finally:
            await db.dispose()
    return asyncio.run(read())


def logs(env: dict, slug: str) -> str:
    return titan(env, "logs", "--project", slug, "--limit", "500").stdout


@needs_bwrap
def test_cli_subcommand_is_written_repaired_in_round_2_and_published(
        titan_env: dict, db_url: str, tmp_path: Path) -> None:
    with ScriptedAI() as server:
        server.then(edits(*DRAFT), edits(FIX))
        env = with_model(titan_env, server)
        create_cli(env)
        run_worker(env)

    project = show(env, "shout-tool")
    assert project["status"] == "published", project.get("lastError")
    assert len(server.requests) == 2
    # The first request had the task from the spec and the files in play.
    first = sent(server, 0)
    assert "Shouts text" in first and "subcommands: shout." in first
    assert 'print(f"{args.command}: ok")' in first  # the deterministic scaffold, shown
    # The second carried the failing test.
    assert "round 1/3 did not pass" in sent(server, 1).lower()
    assert "HI THERE" in sent(server, 1)

    rounds, calls = rounds_and_calls(db_url, project["id"])
    scaffold_job = next(j for j in project["jobs"] if j["kind"] == "scaffold")
    assert [(r.round, r.max_rounds, r.check_summary, r.passed) for r in
            sorted(rounds, key=lambda r: r.round)] == [
        (1, 3, "1 test failing", False), (2, 3, "3 tests passed", True)]
    assert {(r.project_id, r.job_id) for r in rounds} == {(project["id"], scaffold_job["id"])}
    assert len(calls) == 2
    assert {(c.project_id, c.job_id, c.purpose) for c in calls} == {
        (project["id"], scaffold_job["id"], "code")}

    text = logs(env, "shout-tool")
    assert "round 1/3: 1 test failing" in text
    assert "round 2/3: 3 tests passed" in text
    assert "pytest (sandboxed) exited 0 in the sandbox" in text  # the build step's tests
    assert "shout-tool hello Titan exited 0 in the sandbox" in text  # verify

    # The published sources hold the model's code; the wheel runs it as a user would.
    sources = next(a for a in project["artifacts"] if a["kind"] == "archive")
    with zipfile.ZipFile(sources["path"]) as zf:
        assert "args.text.upper()" in zf.read("src/shout_tool/cli.py").decode()
    wheel = Path(next(a["path"] for a in project["artifacts"] if a["name"] == "wheel"))
    venv = tmp_path / "user-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-index", "--no-deps", "-q", str(wheel)], check=True)
    shout = subprocess.run([venv / "bin" / "shout-tool", "shout", "hi"],
                           capture_output=True, text=True, check=True)
    assert shout.stdout == "HI\n"
    # What the model wrote is kept for a worker that replays the scaffold.
    record = json.loads((Path(env["TITAN_HOME"]) / "projects" / ".ai-builds" /
                         "shout-tool.json").read_text())
    assert "args.text.upper()" in record["files"]["src/src/shout_tool/cli.py"]


@needs_bwrap
def test_edits_outside_the_workspace_or_on_protected_files_are_refused_and_fed_back(
        titan_env: dict, db_url: str, tmp_path: Path) -> None:
    with ScriptedAI() as server:
        server.then(edits({"path": "../x", "content": "escaped"},
                          {"path": str(tmp_path / "abs-x"), "content": "escaped"},
                          {"path": "pyproject.toml", "content": "[build-system]\n"},
                          *DRAFT, FIX),
                    edits())
        env = with_model(titan_env, server)
        create_cli(env)
        run_worker(env)

    project = show(env, "shout-tool")
    assert project["status"] == "published", project.get("lastError")
    workdir = Path(env["TITAN_HOME"]) / "work" / "shout-tool"
    assert not (workdir / "x").exists() and not (workdir.parent / "x").exists()
    assert not (tmp_path / "abs-x").exists()
    assert "[project]" in (workdir / "src" / "pyproject.toml").read_text()
    second = sent(server, 1)
    assert "'../x' is not allowed" in second
    assert f"'{tmp_path / 'abs-x'}' is not allowed" in second
    assert "pyproject.toml" in second and "protected" in second
    rounds, _ = rounds_and_calls(db_url, project["id"])
    first = min(rounds, key=lambda r: r.round)
    assert (first.passed, len(first.refusals)) == (False, 3)
    assert "round 1/3: 3 tests passed, 3 edits refused" in logs(env, "shout-tool")


@needs_bwrap
@pytest.mark.parametrize("limit", ["budget", "rounds"])
def test_an_exhausted_budget_fails_the_project_with_the_reason(
        titan_env: dict, db_url: str, limit: str) -> None:
    extra = ({"TITAN_AI_MAX_TOKENS_PER_PROJECT": "50"} if limit == "budget" else
             {"TITAN_AI_REPAIR_ROUNDS": "1"})
    with ScriptedAI() as server:
        server.then(edits(*DRAFT), edits(FIX))
        env = with_model(titan_env, server, **extra)
        create_cli(env)
        run_worker(env)

    project = show(env, "shout-tool")
    assert project["status"] == "failed"
    if limit == "budget":
        assert len(server.requests) == 1
        assert ("scaffold failed: the model's code did not pass its check: "
                "stopped before round 2/3: the token budget is spent") in project["lastError"]
    else:
        assert ("the round limit is reached: the check still fails after 1 round "
                "(TITAN_AI_REPAIR_ROUNDS=1); last: 1 test failing") in project["lastError"]
    scaffold = next(j for j in project["jobs"] if j["kind"] == "scaffold")
    assert (scaffold["status"], scaffold["attempts"]) == ("dead", 1)
    assert [j["kind"] for j in project["jobs"]] == ["scaffold"]


COPY = {
    "tagline": "Tea <script>alert(1)</script> & biscuits",
    "about": "We brew tea for people who write code.",
    "features": [{"name": "Kettle", "text": "The Kettle boils water in 90 seconds."},
                 {"name": "Unknown", "text": "ignored"}],
    "bio": "Ada has brewed tea since 1999.",
}


def test_persona_copy_is_written_by_the_model_and_published_escaped(
        titan_env: dict, db_url: str) -> None:
    with ScriptedAI() as server:
        server.then(answer({"tagline": 3}), answer(COPY))  # the first one misses the schema
        env = with_model(titan_env, server)
        created = titan(env, "project", "create", "Tea House", "--template", "persona/basic",
                        "--description", "A tea house", "--feature", "Kettle", "--feature",
                        "Cups")
        assert created.returncode == 0, created.stderr
        run_worker(env)

    project = show(env, "tea-house")
    assert project["status"] == "published", project.get("lastError")
    schema = server.requests[0].body["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["tagline", "about", "features", "bio"]
    assert "answer.about: is required" in sent(server, 1)
    archive = next(a for a in project["artifacts"] if a["kind"] == "archive")
    with zipfile.ZipFile(archive["path"]) as zf:
        pages = {name: zf.read(name).decode() for name in zf.namelist()
                 if name.endswith(".html")}
    index = next(v for k, v in pages.items() if k.endswith("index.html")
                 and "features/" not in k)
    assert "Tea &lt;script&gt;alert(1)&lt;/script&gt; &amp; biscuits" in index
    assert "<script>alert(1)" not in "".join(pages.values())
    assert "The Kettle boils water in 90 seconds." in index
    assert "What Cups does for you in Tea House." in index  # no copy for it: the template's
    kettle = next(v for k, v in pages.items() if k.endswith("features/kettle.html"))
    assert "<p>The Kettle boils water in 90 seconds.</p>" in kettle
    about = next(v for k, v in pages.items() if k.endswith("about.html"))
    assert "We brew tea for people who write code." in about
    assert "Ada has brewed tea since 1999." in about
    _, calls = rounds_and_calls(db_url, project["id"])
    scaffold_job = next(j for j in project["jobs"] if j["kind"] == "scaffold")
    assert sorted(c.purpose for c in calls) == ["content", "content (repair)"]
    assert {(c.project_id, c.job_id) for c in calls} == {(project["id"], scaffold_job["id"])}


# -- without a model ------------------------------------------------------------------------------

BEFORE_AI = "58597cc"  # main before templates declared AI work
REPO = Path(__file__).resolve().parents[2]


def _render_site(site_sources: Path, workdir: Path) -> dict[str, bytes]:
    """persona/basic's scaffold and build (in process) with these page sources."""
    from types import SimpleNamespace

    from worker.templates import ProjectInfo, StepContext, TemplateRegistry

    template = TemplateRegistry([REPO / "templates"], use_entry_points=False).get("persona/basic")
    module = sys.modules[type(template).__module__]
    spec = template.validate_spec({"description": "A tea house", "features": ["Kettle", "Cups"],
                                   "persona": {"name": "Ada", "role": "Brewer"}})
    ctx = StepContext(ProjectInfo(1, "Tea House", "tea-house", "web-app", spec), workdir,
                      workdir / "out", SimpleNamespace(), log=lambda _: None)
    workdir.mkdir(parents=True)
    original = module.SITE_SOURCES
    module.SITE_SOURCES = site_sources
    try:
        template.scaffold(ctx)
        template.build(ctx)
    finally:
        module.SITE_SOURCES = original
    dist = workdir / "dist"
    return {p.relative_to(dist).as_posix(): p.read_bytes() for p in dist.rglob("*") if p.is_file()}


def test_without_a_model_the_site_is_byte_for_byte_what_it_was(tmp_path: Path) -> None:
    before = tmp_path / "before-site"
    before.mkdir()
    for name in ("about.html", "base.html", "feature.html", "index.html", "logo.svg.j2",
                 "style.css"):
        shown = subprocess.run(["git", "show", f"{BEFORE_AI}:templates/persona/basic/site/{name}"],
                               cwd=REPO, capture_output=True)
        if shown.returncode != 0:
            pytest.skip(f"this checkout has no history before {BEFORE_AI}")
        (before / name).write_bytes(shown.stdout)
    old = _render_site(before, tmp_path / "old")
    new = _render_site(REPO / "templates" / "persona" / "basic" / "site", tmp_path / "new")
    assert sorted(new) == sorted(old)
    for name in old:
        assert new[name] == old[name], name
    assert b"What Kettle does for you in Tea House." in new["index.html"]


def test_without_a_configured_endpoint_no_model_is_asked(titan_env: dict, db_url: str) -> None:
    """TITAN_AI_BUILDS=auto (the default) with no TITAN_AI_URL: even with the local model
    installed, the template builds as it always did, and the ledger stays empty."""
    created = titan(titan_env, "project", "create", "Tea House", "--template", "persona/basic",
                    "--feature", "Kettle")
    assert created.returncode == 0, created.stderr
    run_worker(titan_env)
    project = show(titan_env, "tea-house")
    assert project["status"] == "published", project.get("lastError")
    rounds, calls = rounds_and_calls(db_url, project["id"])
    assert (rounds, calls) == ([], [])
    home = Path(titan_env["TITAN_HOME"])
    assert not (home / "work" / "tea-house" / ".titan-ai").exists()
    assert not (home / "projects" / ".ai-builds").exists()


# -- replays --------------------------------------------------------------------------------------


def test_a_replay_on_another_worker_writes_what_the_model_wrote_without_asking_again(
        titan_env: dict, tmp_path: Path) -> None:
    shared = {**titan_env, "OUTPUT_DIR": str(tmp_path / "shared-output")}
    machine_a = {**shared, "TITAN_HOME": str(tmp_path / "machine-a")}
    machine_b = {**shared, "TITAN_HOME": str(tmp_path / "machine-b")}
    with ScriptedAI() as server:
        server.then(answer(COPY))
        env_a = with_model(machine_a, server)
        created = titan(env_a, "project", "create", "Tea House", "--template", "persona/basic",
                        "--feature", "Kettle", "--require-approval")
        assert created.returncode == 0, created.stderr
        run_worker(env_a)  # up to verify, on machine A
        assert show(env_a, "tea-house")["status"] == "awaiting_approval"
        assert titan(env_a, "project", "approve", "tea-house").returncode == 0
        # Machine B has the model too, but a replay must not ask it again.
        worker_b = titan(with_model(machine_b, server), "worker", "--exit-when-idle")
    assert worker_b.returncode == 0, worker_b.stdout[-3000:]
    assert len(server.requests) == 1
    assert "replaying scaffold on this worker before publish" in worker_b.stdout
    assert "the model was not asked again" in worker_b.stdout
    project = show(machine_b, "tea-house")
    assert project["status"] == "published", project.get("lastError")
    site = (tmp_path / "machine-b" / "work" / "tea-house" / "dist" / "index.html").read_text()
    assert "The Kettle boils water in 90 seconds." in site


def test_a_replay_without_what_the_model_wrote_fails_with_the_reason(
        titan_env: dict, tmp_path: Path) -> None:
    machine_a = {**titan_env, "TITAN_HOME": str(tmp_path / "machine-a")}
    machine_b = {**titan_env, "TITAN_HOME": str(tmp_path / "machine-b")}  # no shared OUTPUT_DIR
    with ScriptedAI() as server:
        server.then(answer(COPY))
        env_a = with_model(machine_a, server)
        assert titan(env_a, "project", "create", "Tea House", "--template", "persona/basic",
                     "--feature", "Kettle", "--require-approval").returncode == 0
        run_worker(env_a)
        assert titan(env_a, "project", "approve", "tea-house").returncode == 0
        worker_b = titan(machine_b, "worker", "--exit-when-idle")
    assert worker_b.returncode == 0
    project = show(machine_b, "tea-house")
    assert project["status"] == "failed"
    assert "a model wrote part of this project on another worker" in project["lastError"]
    assert "need a shared OUTPUT_DIR" in project["lastError"]


def test_the_local_model_gets_the_schema_without_the_limits_its_grammar_cannot_take() -> None:
    from worker.ai.builds import grammar_friendly

    schema = {"type": "object", "required": ["pattern"],
              "properties": {"pattern": {"type": "string", "maxLength": 3000, "pattern": "x"},
                             "items": {"type": "array", "maxItems": 50,
                                       "items": {"type": "string", "minLength": 1}}}}
    assert grammar_friendly(schema) == {
        "type": "object", "required": ["pattern"],
        "properties": {"pattern": {"type": "string"},
                       "items": {"type": "array", "items": {"type": "string"}}}}
