"""A template's AI declaration (template.json's ``ai`` block): ``titan templates check`` accepts
a good one and says what is wrong with a bad one, and the registry refuses a template whose
declaration is broken."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import titan
from tests.templates.conftest import ECHO_MANIFEST, write_template
from worker.templates import TemplateRegistry
from worker.templates_cli import check_folder

CODE: dict[str, Any] = {
    "task": "Implement {{ greeting }} for {{ name }}.",
    "workspace": "src",
    "files": ["src/hello.txt"],
    "check": {"argv": ["python", "-m", "pytest", "-q"], "timeout_seconds": 120},
    "protected": ["pyproject.toml"],
}
CONTENT: dict[str, Any] = {
    "task": "Write a tagline for {{ name }}.",
    "file": "src/copy.json",
    "schema": {"type": "object", "required": ["tagline"],
               "properties": {"tagline": {"type": "string"}}},
}


def with_ai(**ai: Any) -> dict[str, Any]:
    return {**copy.deepcopy(ECHO_MANIFEST), "ai": ai}


def test_check_accepts_and_describes_a_good_declaration(tmp_path: Path) -> None:
    folder = write_template(tmp_path, manifest=with_ai(code=CODE, content=CONTENT))
    checked = titan(dict(os.environ), "templates", "check", str(folder))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert ("ok    ai work: content src/copy.json (tagline); code in src (src/hello.txt), "
            "gated by `python -m pytest -q` in the sandbox") in checked.stdout


BAD: dict[str, tuple[dict[str, Any], str]] = {
    "empty ai block": ({}, "template.json: ai: must have at least 1 field"),
    "unknown kind of work": ({"images": {}}, "template.json: ai.images: unknown field "
                                             "(allowed: code, content)"),
    "code without a check": ({"code": {k: v for k, v in CODE.items() if k != "check"}},
                             "template.json: ai.code.check: is required"),
    "check with an empty argv": ({"code": {**CODE, "check": {"argv": []}}},
                                 "template.json: ai.code.check.argv: must have at least 1 item"),
    "check timeout of zero": (
        {"code": {**CODE, "check": {"argv": ["pytest"], "timeout_seconds": 0}}},
        "template.json: ai.code.check.timeout_seconds: must be at least 1"),
    "file that climbs out": ({"code": {**CODE, "files": ["../etc/passwd"]}},
                             "template.json: ai.code.files[0]: must be a relative path inside "
                             "the project"),
    "absolute workspace": ({"code": {**CODE, "workspace": "/tmp"}},
                           "template.json: ai.code.workspace: must be a relative path"),
    "content schema that is no JSON Schema": (
        {"content": {**CONTENT, "schema": {"type": "text"}}},
        "ai.content.schema is not a valid JSON Schema"),
    "content schema that is no object": (
        {"content": {**CONTENT, "schema": {"type": "array"}}},
        "ai.content.schema must describe an object"),
    "task that is no Jinja2": ({"content": {**CONTENT, "task": "Write {{ name"}},
                               "ai.content.task: not a valid Jinja2 text"),
    "protected names that are not text": ({"code": {**CODE, "protected": [3]}},
                                          "template.json: ai.code.protected[0]: must be text"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_check_names_what_is_wrong_with_a_declaration(tmp_path: Path, case: str) -> None:
    ai, expected = BAD[case]
    folder = write_template(tmp_path, manifest={**copy.deepcopy(ECHO_MANIFEST), "ai": ai})
    report = check_folder(folder, steps=["scaffold"])
    text = "\n".join(report.lines)
    assert not report.ok, text
    assert "FAIL" in text and expected in text, text


def test_registry_lists_a_template_with_a_broken_declaration_as_broken(tmp_path: Path) -> None:
    write_template(tmp_path, "demo/echo", manifest=with_ai(content={**CONTENT, "schema": {
        "type": "array"}}))
    registry = TemplateRegistry([tmp_path], use_entry_points=False)
    assert registry.refs() == []
    assert "ai.content.schema must describe an object" in registry.broken["demo/echo"]


@pytest.mark.parametrize("ref", ["python/cli", "persona/basic"])
def test_built_in_templates_declare_their_ai_work(ref: str) -> None:
    root = Path(__file__).resolve().parents[2] / "templates"
    template = TemplateRegistry([root], use_entry_points=False).get(ref)
    assert template.ai, f"{ref} declares no AI work"
    assert template.manifest()["ai"] == template.ai
