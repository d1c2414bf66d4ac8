"""Helpers for template tests: an environment whose services are stopped afterwards, a worker
run that reports its output on failure, and a tiny template written from scratch."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import titan
from worker.sitebuild import stop_all_services


@pytest.fixture
def service_env(titan_env: dict) -> Iterator[dict]:
    """``titan_env``, and every service a deploy started under its TITAN_HOME is stopped after."""
    yield titan_env
    stop_all_services(Path(titan_env["TITAN_HOME"]))


def run_worker(env: dict) -> None:
    worker = titan(env, "worker", "--exit-when-idle", timeout=180)
    assert worker.returncode == 0, worker.stdout[-3000:] + worker.stderr[-3000:]


def show(env: dict, ref: str) -> dict[str, Any]:
    shown = titan(env, "project", "show", ref, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


ECHO_TEMPLATE_PY = '''
"""demo/echo: renders files/ with the project's name and publishes the result."""
import shutil
from pathlib import Path

from worker.sitebuild import render_tree
from worker.templates import ArtifactOut, StepResult, Template

FILES = Path(__file__).parent / "files"


class Echo(Template):
    def scaffold(self, ctx):
        render_tree(FILES, ctx.workdir / "src", {"name": ctx.project.name, **ctx.project.spec})
        return StepResult("scaffolded")

    def build(self, ctx):
        shutil.copytree(ctx.workdir / "src", ctx.workdir / "dist", dirs_exist_ok=True)
        return StepResult("built")

    def deploy(self, ctx):
        shutil.copytree(ctx.workdir / "dist", ctx.output_dir, dirs_exist_ok=True)
        return StepResult("deployed", url=(ctx.output_dir / "hello.txt").as_uri())

    def verify(self, ctx):
        text = (ctx.output_dir / "hello.txt").read_text()
        if ctx.project.name not in text:
            raise RuntimeError("hello.txt does not name the project")
        return StepResult("verified")

    def publish(self, ctx):
        return StepResult("published", [ArtifactOut("file", "hello.txt",
                                                    ctx.output_dir / "hello.txt")])
'''

ECHO_MANIFEST: dict[str, Any] = {
    "ref": "demo/echo",
    "title": "Echo",
    "description": "Writes hello.txt naming the project.",
    "project_types": ["demo"],
    "spec_schema": {
        "type": "object",
        "properties": {"greeting": {"type": "string", "minLength": 1, "default": "Hello"}},
        "additionalProperties": False,
    },
    "sample_spec": {"greeting": "Hi"},
}


def write_template(root: Path, ref: str = "demo/echo", *, template_py: str = ECHO_TEMPLATE_PY,
                   manifest: dict[str, Any] | str | None = None,
                   files: dict[str, str] | None = None) -> Path:
    """A template folder ``root/ref`` (the echo template unless told otherwise)."""
    folder = root / ref
    folder.mkdir(parents=True)
    (folder / "template.py").write_text(textwrap.dedent(template_py), encoding="utf-8")
    manifest = {**ECHO_MANIFEST, "ref": ref} if manifest is None else manifest
    (folder / "template.json").write_text(
        manifest if isinstance(manifest, str) else json.dumps(manifest), encoding="utf-8")
    for name, text in (files or {"hello.txt.j2": "{{ greeting }} from {{ name }}\n"}).items():
        (folder / "files" / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / "files" / name).write_text(text, encoding="utf-8")
    return folder
