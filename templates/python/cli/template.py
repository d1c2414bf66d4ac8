"""python/cli: a small installable Python command-line package.

scaffold: render pyproject.toml, ``src/<package>/`` (argparse CLI) and ``tests/`` into ``src/``
build:    create a venv (system site packages: pytest with no network) and run the tests
deploy:   ``pip wheel`` the package into ``OUTPUT_DIR/<slug>/``
verify:   install the wheel into a fresh, empty venv and run the command
publish:  the wheel, a source archive and the test report as artifacts
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from worker.errors import InvalidInput
from worker.templatekit import (
    publish_archive,
    python_identifier,
    render_tree,
    replace_dir,
    run_project_tests,
    run_tool,
    tool_env,
)
from worker.templatekit.testing import model_written, run_sandboxed
from worker.templatekit.wheels import build_wheel, built_wheel, install_fresh
from worker.templates import ArtifactOut, PlanNode, StepContext, StepResult, Template

FILES = Path(__file__).parent / "files"
BUILT_IN_SUBCOMMANDS = ("hello",)


class PythonCli(Template):
    # Title, description, project types and the spec schema are in template.json.

    def normalize_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        for i, feature in enumerate(spec.get("features", [])):
            if feature in BUILT_IN_SUBCOMMANDS:
                raise InvalidInput(f"spec.features[{i}]", f"{feature!r} is built in; "
                                   "choose another name")
        return {**spec, "description": spec.get("description", "").strip()}

    def plan(self, name: str, spec: dict[str, Any]) -> list[PlanNode]:
        commands = ["hello", *spec.get("features", [])]
        return [
            PlanNode("Package", "feature", children=[
                PlanNode("Source", "milestone", children=[
                    PlanNode("Write pyproject, module and tests", "goal", "scaffold"),
                    PlanNode("Run the tests in a virtual environment", "goal", "build"),
                ]),
                PlanNode("Release", "milestone", children=[
                    PlanNode("Build the wheel", "goal", "deploy"),
                    PlanNode("Install the wheel into a fresh environment", "goal", "verify"),
                    PlanNode("Publish the wheel and sources", "goal", "publish"),
                ]),
            ]),
            *(PlanNode(f"`{command}` subcommand", "feature", children=[
                PlanNode("Implement and test", "milestone", children=[
                    PlanNode(f"Write and test `{command}`", "goal", "build"),
                    PlanNode(f"Run `{command}` from the installed wheel", "goal", "verify"),
                ]),
            ]) for command in commands),
        ]

    def _context(self, ctx: StepContext) -> dict[str, Any]:
        spec = ctx.project.spec
        return {
            "name": ctx.project.name,
            "slug": ctx.project.slug,
            "package": python_identifier(ctx.project.slug),
            "command": spec.get("command") or ctx.project.slug,
            "description": spec.get("description") or f"{ctx.project.name}, built by Titan.",
            "greeting": spec.get("greeting", "Hello"),
            "version": spec.get("version", "0.1.0"),
            "features": list(spec.get("features", [])),
        }

    def ai_context(self, ctx: StepContext) -> dict[str, Any] | None:
        """The model writes the subcommands (template.json's ``ai``); none: nothing to write."""
        context = self._context(ctx)
        return context if context["features"] else None

    def scaffold(self, ctx: StepContext) -> StepResult:
        staging = ctx.workdir / "src.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        context = self._context(ctx)
        written = render_tree(FILES, staging, context)
        replace_dir(staging, ctx.workdir / "src")
        ctx.log(f"scaffolded package {context['package']} ({len(written)} files), "
                f"command {context['command']!r}")
        return StepResult(f"Scaffolded {len(written)} files",
                          [ArtifactOut("file", "pyproject.toml",
                                       ctx.workdir / "src" / "pyproject.toml")])

    def build(self, ctx: StepContext) -> StepResult:
        return run_project_tests(ctx, _sources(ctx))

    def deploy(self, ctx: StepContext) -> StepResult:
        return build_wheel(ctx, _sources(ctx))

    def verify(self, ctx: StepContext) -> StepResult:
        wheel = built_wheel(ctx)
        context = self._context(ctx)
        if model_written(ctx.workdir):
            return _verify_in_sandbox(ctx, wheel, context)
        bin_dir = install_fresh(ctx, wheel)
        command = str(bin_dir / context["command"])
        checks = [(["hello", "Titan"], f"{context['greeting']}, Titan!"),
                  (["--version"], context["version"]),
                  *(([feature], f"{feature}: ok") for feature in context["features"])]
        for args, expected in checks:
            output = run_tool([command, *args], cwd=ctx.workdir, log=ctx.log,
                              what=f"{context['command']} {' '.join(args)}", env=tool_env())
            if expected not in output:
                raise RuntimeError(f"`{context['command']} {' '.join(args)}` printed "
                                   f"{output.strip()!r}, expected {expected!r}")
        ctx.log(f"installed {wheel.name} into a fresh venv; {len(checks)} commands answered")
        return StepResult(f"Installed {wheel.name} and ran {len(checks)} commands")

    def publish(self, ctx: StepContext) -> StepResult:
        wheel = built_wheel(ctx, "publish")
        archive = publish_archive(_sources(ctx), ctx.output_dir, ctx.project.slug, "src")
        report = ctx.workdir / "test-report.txt"
        artifacts = [ArtifactOut("file", "wheel", wheel),
                     ArtifactOut("archive", archive.name, archive)]
        if report.is_file():
            artifacts.append(ArtifactOut("report", "test-report.txt", report))
        ctx.log(f"published {wheel.name} and {archive.name}")
        return StepResult(f"Published {wheel.name}", artifacts)


def _verify_in_sandbox(ctx: StepContext, wheel: Path, context: dict[str, Any]) -> StepResult:
    """A model wrote the subcommands: run the wheel's command only in the sandbox (imported
    from the wheel itself), and check ``hello``, ``--version`` and each subcommand's --help."""
    tree = ctx.workdir / "verify-wheel"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir()
    shutil.copy2(wheel, tree / wheel.name)
    env = {"PYTHONPATH": f"{sandbox_tree()}/{wheel.name}"}
    module = [sys.executable, "-m", context["package"]]
    checks = [(["hello", "Titan"], f"{context['greeting']}, Titan!"),
              (["--version"], context["version"]),
              *(([feature, "--help"], "usage:") for feature in context["features"])]
    for args, expected in checks:
        what = f"{context['command']} {' '.join(args)}"
        output = run_sandboxed(ctx, [*module, *args], tree, what=what, env=env, timeout=120)
        if expected not in output:
            raise RuntimeError(f"`{what}` printed {output.strip()[-300:]!r}, "
                               f"expected {expected!r}")
    ctx.log(f"ran {wheel.name} in the sandbox; {len(checks)} commands answered")
    return StepResult(f"Ran {len(checks)} commands of {wheel.name} in the sandbox")


def sandbox_tree() -> str:
    from worker.sandbox import TREE

    return TREE


def _sources(ctx: StepContext) -> Path:
    src = ctx.workdir / "src"
    if not (src / "pyproject.toml").is_file():
        raise RuntimeError(f"no sources in {src} (scaffold first)")
    return src


TEMPLATE = PythonCli()
