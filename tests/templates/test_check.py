"""``titan templates check`` on a good template and on broken ones, and the registry refusing a
broken template up front (at ``project create``) instead of failing mid-pipeline."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import psycopg
import pytest

from tests.conftest import titan
from tests.templates.conftest import ECHO_MANIFEST, ECHO_TEMPLATE_PY, write_template
from worker.templates_cli import check_folder

BUILT_IN = Path(__file__).resolve().parents[2] / "templates"


def test_check_passes_a_good_template_and_builds_its_sample(tmp_path: Path) -> None:
    folder = write_template(tmp_path)
    checked = titan(dict(os.environ), "templates", "check", str(folder))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "FAIL" not in checked.stdout
    assert "ok    scaffold with the sample spec" in checked.stdout
    assert "ok    build with the sample spec" in checked.stdout
    assert checked.stdout.strip().endswith("template demo/echo is OK")


@pytest.mark.parametrize("ref", ["persona/basic", "python/cli", "fastapi/service",
                                 "ai/python-app"])
def test_every_built_in_template_passes_the_check(ref: str) -> None:
    report = check_folder(BUILT_IN / ref, steps=["scaffold", "build"])
    assert report.ok, "\n".join(report.lines)


def _broken_manifest(**changes: object) -> dict:
    manifest = copy.deepcopy(ECHO_MANIFEST)
    manifest.update(changes)
    return manifest


BROKEN = {
    "missing step": (
        {"template_py": ECHO_TEMPLATE_PY.replace("def verify(", "def _verify(")},
        "steps not implemented: verify"),
    "invalid schema": (
        {"manifest": _broken_manifest(spec_schema={
            "type": "object", "properties": {"greeting": {"type": "text"}}})},
        "spec_schema is not a valid JSON Schema"),
    "sample spec violates schema": (
        {"manifest": _broken_manifest(sample_spec={"greeting": ""})},
        "sample_spec does not pass the template's own validation: spec.greeting: "
        "must not be empty"),
    "default type not one it serves": (
        {"manifest": _broken_manifest(type="website")},
        "manifest: type: 'website' is not one of project_types (demo)"),
    "manifest not JSON": ({"manifest": "{\"ref\": \"demo/echo\","},
                          "template.json is not valid JSON"),
    "manifest without title": (
        {"manifest": {k: v for k, v in ECHO_MANIFEST.items() if k != "title"}},
        "template.json: title: is required"),
    "file with a syntax error": (
        {"files": {"hello.txt.j2": "line one\n{{ greeting }} from {% if name %}\n"}},
        "scaffold with the sample spec: RenderError: hello.txt.j2 line 2"),
    "file with an undefined variable": (
        {"files": {"hello.txt.j2": "{{ greeting }}\n{{ colour }}\n"}},
        "RenderError: hello.txt.j2 line 2: UndefinedError: 'colour' is undefined"),
    "module that does not import": (
        {"template_py": "import no_such_module_anywhere\n"},
        "template.py failed to import: ModuleNotFoundError"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_check_names_what_is_wrong_with_a_broken_template(tmp_path: Path, case: str) -> None:
    options, expected = BROKEN[case]
    folder = write_template(tmp_path, **options)  # type: ignore[arg-type]
    report = check_folder(folder, steps=["scaffold", "build"])
    text = "\n".join(report.lines)
    assert not report.ok, text
    assert "FAIL" in text and expected in text, text
    assert text.endswith("has problems (see FAIL above)")


def test_check_exits_1_on_a_broken_template(tmp_path: Path) -> None:
    folder = write_template(tmp_path, files={"hello.txt.j2": "{{ nope }}"})
    checked = titan(dict(os.environ), "templates", "check", str(folder))
    assert checked.returncode == 1
    assert "FAIL  scaffold with the sample spec: RenderError: hello.txt.j2 line 1" \
        in checked.stdout


def test_registry_refuses_a_broken_template_at_create(titan_env: dict, tmp_path: Path) -> None:
    extra = tmp_path / "extra-templates"
    write_template(extra, "demo/echo")
    write_template(extra, "demo/half", template_py=ECHO_TEMPLATE_PY.replace(
        "def publish(", "def _publish("))
    env = {**titan_env, "TEMPLATES_DIR": str(extra)}

    listed = titan(env, "templates", "list")
    assert listed.returncode == 0, listed.stderr
    assert "demo/echo" in listed.stdout
    assert "demo/half              BROKEN: steps not implemented: publish" in listed.stdout

    created = titan(env, "project", "create", "Half Done", "--template", "demo/half")
    assert created.returncode == 2
    assert created.stderr.strip().splitlines() == [
        "titan: templateRef: template 'demo/half' is broken: steps not implemented: publish"]
    assert _project_count(titan_env) == 0


def _project_count(env: dict) -> int:
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        return conn.execute("SELECT count(*) FROM projects").fetchone()[0]
