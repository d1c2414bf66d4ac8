"""The CLI: bad input gets one clear line on stderr, exit code 2, and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import titan


def _project_count(env: dict) -> int:
    listed = titan(env, "project", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return len(json.loads(listed.stdout))


@pytest.fixture
def bad_spec_files(tmp_path: Path) -> dict[str, Path]:
    files = {"not-json": "{nope", "not-object": "[1, 2]", "bad-features": '{"features": "x"}'}
    paths = {}
    for name, content in files.items():
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(content)
    return paths


def test_bad_inputs_fail_clearly_and_write_nothing(titan_env: dict, bad_spec_files: dict) -> None:
    cases = {
        "empty name": (["project", "create", ""], "name"),
        "name without letters": (["project", "create", "!!!"], "name"),
        "unknown template": (["project", "create", "X", "--template", "nope/none"],
                             "unknown template"),
        "spec file missing": (["project", "create", "X", "--spec-file", "/nonexistent.json"],
                              "cannot read"),
        "spec not json": (["project", "create", "X", "--spec-file",
                           str(bad_spec_files["not-json"])], "not valid JSON"),
        "spec not an object": (["project", "create", "X", "--spec-file",
                                str(bad_spec_files["not-object"])], "JSON object"),
        "features not a list": (["project", "create", "X", "--spec-file",
                                 str(bad_spec_files["bad-features"])], "spec.features"),
        "overlong feature": (["project", "create", "X", "--feature", "f" * 200], "features"),
        "zero concurrency": (["worker", "--concurrency", "0"], "at least 1"),
        "word concurrency": (["worker", "--concurrency", "many"], "not a whole number"),
        "unknown command": (["frobnicate"], "invalid choice"),
        "missing name": (["project", "create"], "required"),
    }
    for label, (args, expected) in cases.items():
        result = titan(titan_env, *args)
        assert result.returncode == 2, f"{label}: exit {result.returncode} {result.stderr}"
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, f"{label}: {result.stderr!r}"
        assert expected in lines[0], f"{label}: {lines[0]!r}"
        assert result.stdout == "", label
    assert _project_count(titan_env) == 0


def test_duplicate_and_missing_projects(titan_env: dict) -> None:
    assert titan(titan_env, "project", "create", "Moon Garden").returncode == 0
    again = titan(titan_env, "project", "create", "moon garden")
    assert again.returncode == 1 and "already exists" in again.stderr
    missing = titan(titan_env, "project", "show", "no-such-project")
    assert missing.returncode == 1 and "no project" in missing.stderr
    assert _project_count(titan_env) == 1
