"""python/cli end to end: the real CLI creates the project, a real worker scaffolds it, runs its
tests in a venv, builds a wheel, installs it into a fresh venv and publishes it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import titan
from tests.templates.conftest import run_worker, show

BUILT_IN = Path(__file__).resolve().parents[2] / "templates"


def test_cli_package_is_built_tested_and_published_as_a_wheel(titan_env: dict,
                                                              tmp_path: Path) -> None:
    created = titan(titan_env, "project", "create", "Weather Tool", "--template", "python/cli",
                    "--type", "cli", "--description", "Tells the weather", "--feature",
                    "forecast", "--spec-file", _spec(tmp_path, {"greeting": "Good day"}))
    assert created.returncode == 0, created.stderr
    run_worker(titan_env)

    project = show(titan_env, "weather-tool")
    assert project["status"] == "published", project.get("lastError")
    assert [(j["kind"], j["status"]) for j in project["jobs"]] == [
        (step, "succeeded") for step in ("scaffold", "build", "deploy", "verify", "publish")]
    wheel = Path(next(a["path"] for a in project["artifacts"] if a["name"] == "wheel"))
    assert wheel.name == "weather_tool-0.1.0-py3-none-any.whl"
    assert wheel.parent == Path(titan_env["TITAN_HOME"]) / "projects" / "weather-tool"
    report = next(a for a in project["artifacts"] if a["kind"] == "report")
    assert "passed" in Path(report["path"]).read_text()
    sources = next(a for a in project["artifacts"] if a["kind"] == "archive")
    with zipfile.ZipFile(sources["path"]) as zf:
        assert "src/weather_tool/cli.py" in zf.namelist()
        assert "tests/test_cli.py" in zf.namelist()

    # What a user does with the published wheel: install it and run the command.
    venv = tmp_path / "user-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-index", "--no-deps", "-q", str(wheel)], check=True)
    hello = subprocess.run([venv / "bin" / "weather-tool", "hello", "Ada"],
                           capture_output=True, text=True, check=True)
    assert hello.stdout == "Good day, Ada!\n"
    forecast = subprocess.run([venv / "bin" / "weather-tool", "forecast"],
                              capture_output=True, text=True, check=True)
    assert forecast.stdout == "forecast: ok\n"


def test_failing_tests_fail_the_build_and_show_pytest_output(titan_env: dict,
                                                             tmp_path: Path) -> None:
    """A copy of python/cli (in TEMPLATES_DIR, which overrides the built-in) whose generated
    tests include one that fails: the project fails at build, without retries, and the
    pytest output is in the project's error, the job's error and the log."""
    extra = tmp_path / "templates"
    shutil.copytree(BUILT_IN / "python" / "cli", extra / "python" / "cli")
    with (extra / "python/cli/files/tests/test_cli.py.j2").open("a") as fh:
        fh.write('\n\ndef test_arithmetic():\n    assert 1 + 1 == 3, "arithmetic is broken"\n')
    env = {**titan_env, "TEMPLATES_DIR": str(extra)}

    assert titan(env, "project", "create", "Broken Tool", "--template", "python/cli"
                 ).returncode == 0
    run_worker(env)

    project = show(env, "broken-tool")
    assert project["status"] == "failed"
    assert "pytest exited 1: E       AssertionError: arithmetic is broken" \
        in project["lastError"]
    assert "FAILED tests/test_cli.py::test_arithmetic" in project["lastError"]
    build = next(j for j in project["jobs"] if j["kind"] == "build")
    assert (build["status"], build["attempts"]) == ("dead", 1)
    assert "arithmetic is broken" in build["lastError"]
    assert "1 failed, 3 passed" in build["lastError"]

    logs = titan(env, "logs", "--project", "broken-tool", "--limit", "20")
    assert "pytest failed (exit 1); last lines of its output:" in logs.stdout
    assert "arithmetic is broken" in logs.stdout


def _spec(tmp_path: Path, spec: dict) -> str:
    import json

    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return str(path)
