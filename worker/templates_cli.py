"""``titan templates list [--json]`` and ``titan templates check PATH``.

``check`` is what a template author runs before shipping: it loads the folder the way the
registry does (manifest, schema, steps, sample spec), then scaffolds and builds the sample spec in
a temporary TITAN_HOME so a template file that fails to render is caught here, not mid-pipeline.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.errors import InvalidInput
from worker.templates import (
    STEPS,
    ProjectInfo,
    StepContext,
    Template,
    TemplateError,
    TemplateRegistry,
    load_template_folder,
    read_manifest,
)

SAMPLE_NAME = "Sample Project"


def add_commands(subparsers: Any, commands: dict[str, Callable[..., int]]) -> None:
    parser = subparsers.add_parser("templates", help="list and check project templates")
    sub = parser.add_subparsers(dest="templates_command", required=True,
                                parser_class=type(parser))
    listing = sub.add_parser("list", help="the templates this installation can run")
    listing.add_argument("--json", action="store_true")
    check = sub.add_parser("check", help="validate a template folder and build its sample spec")
    check.add_argument("path", type=Path, metavar="PATH")
    check.add_argument("--steps", default="scaffold,build",
                       help="steps to run with the sample spec, comma-separated, or 'all' "
                            "(default: scaffold,build)")
    check.add_argument("--keep", action="store_true",
                       help="keep the temporary build folder and print where it is")
    commands["templates"] = cmd_templates


def cmd_templates(args: argparse.Namespace, settings: Any) -> int:
    if args.templates_command == "list":
        return list_templates(TemplateRegistry.from_settings(settings), as_json=args.json)
    steps = list(STEPS) if args.steps == "all" else [s.strip() for s in args.steps.split(",")]
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        raise InvalidInput("--steps", f"unknown step {unknown[0] if unknown else ''!r} "
                           f"(use {', '.join(STEPS)} or all)")
    report = check_folder(args.path, steps=steps, keep=args.keep)
    for line in report.lines:
        print(line)
    return 0 if report.ok else 1


def template_dict(template: Template) -> dict[str, Any]:
    return {"ref": template.ref, "title": template.title, "description": template.description,
            "projectTypes": list(template.project_types), "type": template.default_type,
            "specSchema": template.spec_schema,
            "sampleSpec": template.sample_spec, "origin": template.origin, "broken": None}


def list_templates(registry: TemplateRegistry, *, as_json: bool) -> int:
    templates = registry.all()
    if as_json:
        rows = [template_dict(t) for t in templates]
        rows += [{"ref": ref, "broken": reason} for ref, reason in sorted(registry.broken.items())]
        print(json.dumps(rows, indent=2))
        return 0
    for t in templates:
        print(f"{t.ref:<22} {t.title:<30} {', '.join(t.project_types)}")
    for ref, reason in sorted(registry.broken.items()):
        print(f"{ref:<22} BROKEN: {reason}")
    return 0


@dataclass
class CheckReport:
    lines: list[str]
    ok: bool = True

    def passed(self, what: str) -> None:
        self.lines.append(f"  ok    {what}")

    def failed(self, what: str, reason: str) -> None:
        self.ok = False
        first, *rest = reason.strip().splitlines() or [""]
        self.lines.append(f"  FAIL  {what}: {first}")
        self.lines.extend(textwrap.indent("\n".join(rest), "        ").splitlines())


def check_folder(path: Path, *, steps: list[str], keep: bool = False) -> CheckReport:
    folder = path.resolve()
    report = CheckReport([f"checking template folder {folder}"])
    if not (folder / "template.py").is_file():
        report.failed("template.py", f"{folder / 'template.py'} does not exist")
        return _conclude(report, None)
    try:
        manifest = read_manifest(folder)
    except TemplateError as exc:
        report.failed("manifest", str(exc))
        return _conclude(report, None)
    if manifest is None:
        report.failed("manifest", "template.json is missing: declare ref, title, description, "
                                  "project_types and spec_schema there")
        return _conclude(report, None)
    report.passed(f"manifest: {manifest['ref']} \"{manifest['title']}\" "
                  f"({', '.join(manifest['project_types'])})")
    try:
        template = load_template_folder(folder, manifest["ref"])
    except TemplateError as exc:
        report.failed("template", str(exc))
        return _conclude(report, None)
    fields = len(template.spec_schema.get("properties") or {})
    report.passed(f"spec schema: valid JSON Schema, {fields} fields; sample spec passes it")
    report.passed(f"steps implemented: {', '.join(STEPS)}")
    if template.ai:
        report.passed("ai work: " + describe_ai(template.ai))
    _run_sample(template, steps, report, keep)
    return _conclude(report, template)


def describe_ai(ai: dict[str, Any]) -> str:
    """The declared AI work in one line (the check already validated it)."""
    parts = []
    if "content" in ai:
        fields = ", ".join(ai["content"]["schema"].get("properties") or {}) or "an object"
        parts.append(f"content {ai['content']['file']} ({fields})")
    if "code" in ai:
        code = ai["code"]
        parts.append(f"code in {code['workspace']} ({', '.join(code['files'])}), gated by "
                     f"`{' '.join(code['check']['argv'])}` in the sandbox")
    return "; ".join(parts) + " (written by a model when one is at hand, else the template's own)"


def _run_sample(template: Template, steps: list[str], report: CheckReport, keep: bool) -> None:
    from worker.config import Settings
    from worker.sitehost import stop_site_host
    from worker.templatekit.services import stop_all_services

    try:
        spec = template.validate_spec(dict(template.sample_spec))
    except InvalidInput as exc:
        report.failed("sample spec", f"sample_spec does not pass the template's own "
                                     f"validation: {exc}")
        return
    tmp = Path(tempfile.mkdtemp(prefix="titan-template-check-"))
    home = tmp / "home"
    settings = Settings(titan_home=home, output_dir=tmp / "output", templates_dir=None,
                        database_url=None)
    project = ProjectInfo(0, SAMPLE_NAME, "sample-project", template.default_type, spec)
    log_lines: list[str] = []
    ctx = StepContext(project=project, workdir=settings.work_dir / project.slug,
                      output_dir=settings.projects_dir / project.slug, settings=settings,
                      log=log_lines.append)
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    try:
        for step in steps:
            try:
                result = getattr(template, step)(ctx)
            except Exception as exc:
                report.failed(f"{step} with the sample spec", f"{type(exc).__name__}: {exc}")
                return
            ctx.url = result.url or ctx.url
            report.passed(f"{step} with the sample spec: {result.message}")
    finally:
        stop_all_services(home)
        stop_site_host(home)
        if keep:
            report.lines.append(f"  kept  {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _conclude(report: CheckReport, template: Template | None) -> CheckReport:
    name = template.ref if template else "this folder"
    report.lines.append(f"template {name} is OK" if report.ok
                        else f"template {name} has problems (see FAIL above)")
    return report
