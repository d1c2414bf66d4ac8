"""ai/python-app: a model writes a small Python application from a free description.

The "model" is the SCRIPTED OpenAI-compatible server on loopback (tests/ai/scripted.py): these
cases need a competent model on demand (a file plan, a draft with one failing test and its fix, a
plan and edits that reach outside the workspace). Everything else is real: the CLI, a worker
process, PostgreSQL (the ledger and ``ai_rounds``), the edits on disk, pytest and the wheel in
bubblewrap, the published wheel and source zip."""

from __future__ import annotations

import asyncio
import json
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
from worker.config import Settings
from worker.db.engine import Database
from worker.services.ai_calls import list_calls
from worker.services.ai_rounds import list_rounds
from worker.templates_cli import check_folder

needs_bwrap = pytest.mark.skipif(sandbox.bwrap_problem() is not None,
                                 reason=f"no sandbox here: {sandbox.bwrap_problem()}")

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "ai" / "python-app"
NAME, SLUG = "Temp Convert", "temp-convert"
DESCRIPTION = "Converts temperatures between Celsius and Fahrenheit."
AI_ENV = ("TITAN_AI_URL", "TITAN_AI_MODEL", "TITAN_AI_KEY", "TITAN_AI_BUILDS",
          "TITAN_AI_REPAIR_ROUNDS", "TITAN_AI_MAX_TOKENS_PER_PROJECT", "TITAN_AI_LOCAL")

PLAN = {
    "summary": "Converts temperatures between Celsius and Fahrenheit.",
    "modules": [{"name": "convert", "purpose": "The two conversions"},
                {"name": "cli", "purpose": "The temp-convert command"}],
    "tests": [{"name": "test_convert", "checks": "both conversions"},
              {"name": "test_cli", "checks": "the command prints the converted value"}],
}
CONVERT = '''\
"""Temperature conversions."""


def c_to_f(celsius: float) -> float:
    return celsius * 9 / 5 + 32


def f_to_c(fahrenheit: float) -> float:
    return (fahrenheit - 32) * 9 / 5
'''
CLI = '''\
"""The `temp-convert` command."""

from __future__ import annotations

import argparse

from temp_convert import __version__
from temp_convert.convert import c_to_f, f_to_c


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="temp-convert", description="Converts temperatures")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("degrees", type=float)
    parser.add_argument("--to", choices=["c", "f"], default="f")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    value = c_to_f(args.degrees) if args.to == "f" else f_to_c(args.degrees)
    print(f"{value:g}")
    return 0
'''
TEST_CONVERT = '''\
from temp_convert.convert import c_to_f, f_to_c


def test_celsius_to_fahrenheit():
    assert c_to_f(100) == 212


def test_fahrenheit_to_celsius():
    assert f_to_c(212) == 100
'''
TEST_CLI = '''\
from temp_convert.cli import main


def test_the_command_converts(capsys):
    assert main(["100"]) == 0
    assert capsys.readouterr().out == "212\\n"
'''
README = "# Temp Convert\n\nInstall the wheel, then `temp-convert 100` prints 212.\n"
DRAFT = ({"path": "src/temp_convert/convert.py", "content": CONVERT},
         {"path": "src/temp_convert/cli.py", "content": CLI},
         {"path": "tests/test_convert.py", "content": TEST_CONVERT},
         {"path": "tests/test_cli.py", "content": TEST_CLI},
         {"path": "README.md", "content": README})
FIX = {"path": "src/temp_convert/convert.py", "search": "(fahrenheit - 32) * 9 / 5",
       "replace": "(fahrenheit - 32) * 5 / 9"}


@pytest.fixture(autouse=True)
def _no_ai_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in AI_ENV:
        monkeypatch.delenv(key, raising=False)
    yield


def answer(obj: dict[str, Any], prompt_tokens: int = 100) -> Answer:
    text = json.dumps(obj)
    return Answer([text[i:i + 60] for i in range(0, len(text), 60)],
                  prompt_tokens=prompt_tokens)


def edits(*items: dict[str, Any]) -> Answer:
    return answer({"edits": list(items)})


def without_ai(env: dict) -> dict:
    return {k: v for k, v in env.items() if k not in AI_ENV}


def with_model(env: dict, server: ScriptedAI, **extra: str) -> dict:
    return {**without_ai(env), "TITAN_AI_URL": server.url, "TITAN_AI_MODEL": "scripted",
            "TITAN_AI_RETRY_BASE_SECONDS": "0.01", **extra}


def sent(server: ScriptedAI, index: int) -> str:
    return "\n".join(m["content"] for m in server.requests[index].body["messages"])


def create(env: dict) -> Any:
    return titan(env, "project", "create", NAME, "--template", "ai/python-app",
                 "--description", DESCRIPTION)


def rounds_and_calls(db_url: str, project_id: int) -> tuple[list[Any], list[Any]]:
    async def read() -> tuple[list[Any], list[Any]]:
        db = Database(db_url)
        try:
            return (await list_rounds(db, project_id=project_id),
                    await list_calls(db, project_id=project_id))
        finally:
            await db.dispose()
    return asyncio.run(read())


def in_sandbox(argv: list[str], tree: Path) -> sandbox.Result:
    settings = Settings(titan_home=tree.parent / "sandbox-home", database_url=None)
    return asyncio.run(sandbox.run(settings, argv, tree, sandbox.Limits.from_settings(
        settings, 300)))


INSTALL_AND_RUN = r"""
import subprocess, sys, venv
venv.create("user-venv", with_pip=False)
subprocess.run([sys.executable, "-m", "pip", "--python", "user-venv/bin/python", "install",
                "--no-index", "--no-deps", "--no-cache-dir", "-q", sys.argv[1]], check=True)
for args in (["100"], ["212", "--to", "c"]):
    subprocess.run(["user-venv/bin/temp-convert", *args], check=True)
"""


@needs_bwrap
def test_a_description_becomes_a_planned_repaired_and_published_application(
        titan_env: dict, db_url: str, tmp_path: Path) -> None:
    with ScriptedAI() as server:
        server.then(answer(PLAN), edits(*DRAFT), edits(FIX))
        env = with_model(titan_env, server)
        created = create(env)
        assert created.returncode == 0, created.stderr
        run_worker(env)

    project = show(env, SLUG)
    assert project["status"] == "published", project.get("lastError")
    assert len(server.requests) == 3
    # The plan request carried the description; the first draft's request the plan and the
    # skeleton (Titan's plan test among the files in play).
    assert DESCRIPTION in sent(server, 0) and "temp_convert" in sent(server, 0)
    draft = sent(server, 1)
    assert "- src/temp_convert/convert.py: The two conversions" in draft
    assert "- tests/test_convert.py: both conversions" in draft
    # The repair request carried the failing test.
    repair = sent(server, 2)
    assert "round 1/3 did not pass" in repair.lower() and "test_fahrenheit_to_celsius" in repair

    rounds, calls = rounds_and_calls(db_url, project["id"])
    scaffold = next(j for j in project["jobs"] if j["kind"] == "scaffold")
    assert [(r.round, r.check_summary, r.passed) for r in sorted(rounds, key=lambda r: r.round)
            ] == [(1, "1 test failing", False), (2, "7 tests passed", True)]
    assert sorted(c.purpose for c in calls) == ["code", "code", "content"]
    assert {(c.project_id, c.job_id) for c in calls} == {(project["id"], scaffold["id"])}
    text = titan(env, "logs", "--project", SLUG, "--limit", "500").stdout
    assert "pytest (sandboxed) exited 0 in the sandbox" in text  # the build step
    assert "into a fresh venv and run `temp-convert --help` exited 0 in the sandbox" in text

    # Published: a wheel and a source zip holding the model's code, the plan and Titan's
    # packaging as Titan wrote it.
    kinds = {a["kind"]: a for a in project["artifacts"]}
    wheel = Path(next(a["path"] for a in project["artifacts"] if a["name"] == "wheel"))
    assert wheel.name == "temp_convert-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(kinds["archive"]["path"]) as zf:
        names = set(zf.namelist())
        assert {"src/temp_convert/convert.py", "tests/test_convert.py", "README.md",
                "titan-plan.json", "pyproject.toml"} <= names
        assert "* 5 / 9" in zf.read("src/temp_convert/convert.py").decode()
        assert zf.read("README.md").decode() == README
        assert json.loads(zf.read("titan-plan.json")) == PLAN
        assert 'temp-convert = "temp_convert.cli:main"' in zf.read("pyproject.toml").decode()
    with zipfile.ZipFile(wheel) as zf:
        assert "temp_convert/convert.py" in zf.namelist()

    # The wheel installs into a fresh venv (in the sandbox: model-written code) and works.
    tree = tmp_path / "user"
    tree.mkdir()
    (tree / wheel.name).write_bytes(wheel.read_bytes())
    (tree / "run.py").write_text(INSTALL_AND_RUN, encoding="utf-8")
    done = in_sandbox([sys.executable, "run.py", wheel.name], tree)
    assert done.returncode == 0, done.output
    assert done.output.split() == ["212", "100"]


@needs_bwrap
def test_a_plan_or_edits_reaching_outside_are_refused_and_fed_back(
        titan_env: dict, db_url: str, tmp_path: Path) -> None:
    bad_plan = {**PLAN, "modules": [{"name": "pyproject.toml", "purpose": "packaging"}],
                "tests": [{"name": "../x", "checks": "escapes"}]}
    with ScriptedAI() as server:
        server.then(answer(bad_plan), answer(PLAN),
                    edits({"path": "../x", "content": "escaped"},
                          {"path": "pyproject.toml", "content": "[build-system]\n"},
                          {"path": "titan-plan.json", "content": "{}"},
                          {"path": "tests/test_titan_plan.py", "content": ""},
                          *DRAFT, FIX),
                    edits())
        env = with_model(titan_env, server)
        assert create(env).returncode == 0
        run_worker(env)

    project = show(env, SLUG)
    assert project["status"] == "published", project.get("lastError")
    # The plan that named pyproject.toml and ../x was answered with the reason.
    plan_repair = sent(server, 1)
    assert "does not validate against the JSON Schema" in plan_repair
    assert "does not match the pattern" in plan_repair
    # The edits on ../x, pyproject.toml, the plan and Titan's plan test were refused and fed back.
    feedback = sent(server, 3)
    assert "'../x' is not allowed" in feedback
    for name in ("pyproject.toml", "titan-plan.json", "test_titan_plan.py"):
        assert f"'{name}' is not allowed" in feedback or (name in feedback and
                                                           "protected" in feedback), name
    workdir = Path(env["TITAN_HOME"]) / "work" / SLUG
    assert not (workdir / "x").exists() and not (workdir.parent / "x").exists()
    assert 'temp-convert = "temp_convert.cli:main"' in (workdir / "src" /
                                                        "pyproject.toml").read_text()
    assert json.loads((workdir / "src" / "titan-plan.json").read_text()) == PLAN
    assert "test_every_planned_module_imports" in (
        workdir / "src" / "tests" / "test_titan_plan.py").read_text()
    rounds, calls = rounds_and_calls(db_url, project["id"])
    first = min(rounds, key=lambda r: r.round)
    assert (first.passed, len(first.refusals)) == (False, 4)
    assert sorted(c.purpose for c in calls) == ["code", "code", "content", "content (repair)"]


def test_without_a_model_the_project_is_refused_at_creation_saying_how(
        titan_env: dict) -> None:
    env = without_ai(titan_env)
    for extra, why in (({"TITAN_AI_LOCAL": "0"}, "no AI endpoint is configured (TITAN_AI_URL)"),
                       ({"TITAN_AI_URL": "http://127.0.0.1:9/v1", "TITAN_AI_MODEL": "m",
                         "TITAN_AI_BUILDS": "off"}, "TITAN_AI_BUILDS=off")):
        refused = create({**env, **extra})
        assert refused.returncode != 0
        assert "template ai/python-app needs a model" in refused.stderr, refused.stderr
        assert why in refused.stderr
        assert "set TITAN_AI_URL and TITAN_AI_MODEL, or TITAN_AI_BUILDS=on" in refused.stderr
    listed = titan(env, "project", "list", "--json")
    assert json.loads(listed.stdout) == []


def test_ai_builds_turned_off_after_creation_fail_the_scaffold_with_the_reason(
        titan_env: dict) -> None:
    with ScriptedAI() as server:
        env = with_model(titan_env, server)
        assert create(env).returncode == 0
        run_worker({**env, "TITAN_AI_BUILDS": "off"})
    project = show(env, SLUG)
    assert project["status"] == "failed"
    assert "needs a model to write the project, and AI builds are off: TITAN_AI_BUILDS=off" in \
        project["lastError"]
    assert [j["kind"] for j in project["jobs"]] == ["scaffold"]
    assert server.requests == []


def test_templates_list_and_check_work_without_a_model(titan_env: dict) -> None:
    env = without_ai(titan_env)
    listed = titan(env, "templates", "list")
    assert listed.returncode == 0
    assert "ai/python-app" in listed.stdout and "BROKEN" not in listed.stdout
    report = check_folder(TEMPLATE_DIR, steps=["scaffold", "build"])
    assert report.ok, "\n".join(report.lines)
    text = "\n".join(report.lines)
    assert "`titan templates check` asks none" in text  # it says the model's part is skipped
    assert "ok    build with the sample spec: Tests: 5 passed" in text


def test_the_skeleton_publishes_through_every_step_of_the_check() -> None:
    report = check_folder(TEMPLATE_DIR, steps=["scaffold", "build", "deploy", "verify",
                                                "publish"])
    assert report.ok, "\n".join(report.lines)
