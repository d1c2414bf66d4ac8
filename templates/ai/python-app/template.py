"""ai/python-app: a small Python application a model writes from a free description.

It needs a model (``needs_model``): a project is refused at creation when the pipeline would not
ask one (worker.ai.builds.model_needed), and the scaffold fails saying why if that changed since.

scaffold: render Titan's skeleton into ``src/`` (pyproject.toml with the package and its console
          entry, ``src/<package>/`` with ``__init__``/``__main__`` and a placeholder ``cli``, the
          placeholder plan ``titan-plan.json`` and Titan's plan test); then (the pipeline,
          template.json's ``ai``) the model answers a file plan (content: summary, modules,
          tests; validated against its schema) and writes the modules, the tests and README.md
          through the repair loop until pytest passes in the sandbox. Packaging files, the plan
          and Titan's plan test are protected: the model cannot edit them.
build:    the tests, in the sandbox (model-written code never runs outside it)
deploy:   ``pip wheel`` the package into ``OUTPUT_DIR/<slug>/``
verify:   in the sandbox: install the wheel into a fresh venv, import the package and run
          ``COMMAND --help``
publish:  the wheel, a source zip and the test report as artifacts

``titan templates check`` runs no model: it scaffolds and builds the skeleton and says so.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

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
PLAN_FILE = "titan-plan.json"
NO_MODEL_NOTE = ("a model writes the application in the pipeline; "
                 "`titan templates check` asks none")

# Run in the sandbox: a fresh venv without pip, the wheel installed into it by the system's pip
# (no index, no network), then the installed package imported and its command's --help run.
VERIFY_SCRIPT = r"""
import subprocess, sys, venv
from pathlib import Path
wheel, package, command = sys.argv[1:4]
venv.create("fresh-venv", with_pip=False)
python = str(Path("fresh-venv/bin/python").absolute())
subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-index",
                "--no-deps", "--no-cache-dir", "--disable-pip-version-check", "-q", wheel],
               check=True)
subprocess.run([python, "-c", f"import {package}; print('imported', {package}.__name__)"],
               check=True)
subprocess.run([f"fresh-venv/bin/{command}", "--help"], check=True)
"""


class PythonApp(Template):
    # Title, description, project types, the spec schema and the AI work are in template.json.

    # No model, no application: worker.ai.builds refuses such a project (creation, scaffold).
    needs_model = True

    def normalize_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {**spec, "description": spec.get("description", "").strip()}

    def plan(self, name: str, spec: dict[str, Any]) -> list[PlanNode]:
        return [
            PlanNode("Application", "feature", children=[
                PlanNode("Write it", "milestone", children=[
                    PlanNode("Plan the files, write the code, tests and README", "goal",
                             "scaffold"),
                    PlanNode("Run the tests in the sandbox", "goal", "build"),
                ]),
                PlanNode("Release", "milestone", children=[
                    PlanNode("Build the wheel", "goal", "deploy"),
                    PlanNode("Install the wheel into a fresh environment", "goal", "verify"),
                    PlanNode("Publish the wheel and the sources", "goal", "publish"),
                ]),
            ]),
        ]

    def _context(self, ctx: StepContext) -> dict[str, Any]:
        spec = ctx.project.spec
        description = spec.get("description") or ctx.project.name
        summary = description.splitlines()[0].strip()[:200] or ctx.project.name
        package = spec.get("package") or python_identifier(ctx.project.slug)
        command = spec.get("command") or ctx.project.slug
        return {
            "name": ctx.project.name,
            "slug": ctx.project.slug,
            "package": package,
            "command": command,
            "description": description,
            "summary": summary,
            "version": spec.get("version", "0.1.0"),
            # The skeleton's plan (the model's replaces it): the placeholder command and test.
            "plan": {"summary": summary,
                     "modules": [{"name": "cli", "purpose": f"The `{command}` command"}],
                     "tests": [{"name": "test_cli", "checks": "the command runs"}]},
        }

    def ai_context(self, ctx: StepContext) -> dict[str, Any] | None:
        """The texts' values; once the model's file plan is written, ``plan`` is that plan
        (worker.ai.builds asks again after the content)."""
        context = self._context(ctx)
        plan = _read_plan(ctx.workdir / "src")
        if plan is not None:
            context["plan"] = plan
        return context

    def scaffold(self, ctx: StepContext) -> StepResult:
        staging = ctx.workdir / "src.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        context = self._context(ctx)
        written = render_tree(FILES, staging, context)
        replace_dir(staging, ctx.workdir / "src")
        ctx.log(f"scaffolded Titan's skeleton: package {context['package']} ({len(written)} "
                f"files), command {context['command']!r}")
        return StepResult(f"Scaffolded Titan's skeleton ({len(written)} files; {NO_MODEL_NOTE})",
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
        # The skeleton only (``titan templates check --steps all``): Titan's own code.
        bin_dir = install_fresh(ctx, wheel)
        output = run_tool([str(bin_dir / context["command"]), "--help"], cwd=ctx.workdir,
                          log=ctx.log, what=f"{context['command']} --help", env=tool_env())
        if "usage:" not in output:
            raise RuntimeError(f"`{context['command']} --help` printed {output.strip()!r}")
        return StepResult(f"Installed {wheel.name}; `{context['command']} --help` answered")

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
    """The model wrote the application: its wheel is installed and run only in the sandbox."""
    tree = ctx.workdir / "verify-wheel"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir()
    shutil.copy2(wheel, tree / wheel.name)
    (tree / "verify.py").write_text(VERIFY_SCRIPT, encoding="utf-8")
    what = f"install {wheel.name} into a fresh venv and run `{context['command']} --help`"
    output = run_sandboxed(ctx, [sys.executable, "verify.py", wheel.name, context["package"],
                                 context["command"]], tree, what=what, timeout=300)
    if "usage:" not in output:
        raise RuntimeError(f"`{context['command']} --help` printed {output.strip()[-300:]!r}")
    modules = _planned_modules(ctx)
    ctx.log(f"installed {wheel.name} into a fresh venv in the sandbox; imported "
            f"{context['package']} and ran `{context['command']} --help`")
    return StepResult(f"Installed {wheel.name} in the sandbox: {context['package']} imports "
                      f"({modules} planned modules), `{context['command']} --help` answered")


def _planned_modules(ctx: StepContext) -> int:
    plan = _read_plan(ctx.workdir / "src")
    return len(plan.get("modules", [])) if plan else 0


def _read_plan(src: Path) -> dict[str, Any] | None:
    try:
        plan = json.loads((src / PLAN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return plan if isinstance(plan, dict) else None


def _sources(ctx: StepContext) -> Path:
    src = ctx.workdir / "src"
    if not (src / "pyproject.toml").is_file():
        raise RuntimeError(f"no sources in {src} (scaffold first)")
    return src


TEMPLATE = PythonApp()
