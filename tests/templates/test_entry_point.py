"""A third-party template shipped as a package: a distribution built here declares it in the
``titan.templates`` entry-point group, pip installs it (offline) into a folder on PYTHONPATH,
and Titan lists it and runs it through a real worker like a built-in one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import titan
from tests.templates.conftest import ECHO_MANIFEST, ECHO_TEMPLATE_PY, run_worker, show

PYPROJECT = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "titan-greeting-template"
version = "1.0.0"

[project.entry-points."titan.templates"]
"acme/greeting" = "titan_greeting_template:TEMPLATE"

[tool.hatch.build.targets.wheel]
packages = ["titan_greeting_template"]
"""


def _install_distribution(tmp_path: Path) -> Path:
    source = tmp_path / "titan-greeting-template"
    package = source / "titan_greeting_template"
    (package / "files").mkdir(parents=True)
    (source / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (package / "__init__.py").write_text(textwrap.dedent(ECHO_TEMPLATE_PY)
                                         + "\nTEMPLATE = Echo()\n")
    (package / "template.json").write_text(json.dumps({
        **ECHO_MANIFEST, "ref": "acme/greeting", "title": "Greeting (third party)"}))
    (package / "files" / "hello.txt.j2").write_text("{{ greeting }} from {{ name }}, by Acme\n")
    site = tmp_path / "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                    "--no-build-isolation", "--disable-pip-version-check", "-q",
                    "--target", str(site), str(source)], check=True, capture_output=True)
    return site


def test_installed_template_package_is_listed_and_runs(titan_env: dict, tmp_path: Path) -> None:
    site = _install_distribution(tmp_path)
    env = {**titan_env, "PYTHONPATH": str(site)}

    listed = titan(env, "templates", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    templates = {t["ref"]: t for t in json.loads(listed.stdout)}
    assert {"persona/basic", "python/cli", "fastapi/service", "acme/greeting"} <= set(templates)
    greeting = templates["acme/greeting"]
    assert greeting["title"] == "Greeting (third party)"
    assert greeting["origin"] == ("entry point acme/greeting = titan_greeting_template:TEMPLATE")
    assert greeting["specSchema"]["properties"]["greeting"]["type"] == "string"
    assert greeting["broken"] is None

    created = titan(env, "project", "create", "Acme Hello", "--template", "acme/greeting",
                    "--spec-file", _spec(tmp_path, {"greeting": "Howdy"}))
    assert created.returncode == 0, created.stderr
    run_worker(env)

    project = show(env, "acme-hello")
    assert project["status"] == "published", project.get("lastError")
    assert project["templateRef"] == "acme/greeting"
    hello = Path(titan_env["TITAN_HOME"]) / "projects" / "acme-hello" / "hello.txt"
    assert hello.read_text() == "Howdy from Acme Hello, by Acme\n"


def _spec(tmp_path: Path, spec: dict) -> str:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return str(path)
