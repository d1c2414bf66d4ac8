"""The template interface and the registry that finds templates.

A template turns a project's spec into a published result in five steps. Each step is a plain
(blocking) method run off the event loop; it gets a ``StepContext`` and returns a ``StepResult``.
Templates are found in ``TEMPLATES_DIR`` (first), the built-in ``templates/`` folder, and the
``titan.templates`` entry-point group. A template folder holds ``template.py`` defining
``TEMPLATE`` (an instance) or a ``Template`` subclass; its ref is the folder path
(``persona/basic``) unless the template says otherwise.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from worker.errors import InvalidInput

STEPS = ("scaffold", "build", "deploy", "verify", "publish")


@dataclass(frozen=True)
class ProjectInfo:
    id: int
    name: str
    slug: str
    type: str
    spec: dict[str, Any]


@dataclass
class StepContext:
    project: ProjectInfo
    # Scratch space for this project's sources and build (TITAN_HOME/work/<slug>).
    workdir: Path
    # Where deployed and published output goes (OUTPUT_DIR/<slug>).
    output_dir: Path
    settings: Any
    log: Callable[[str], None] = print
    # The URL the deploy step published (verify reads it).
    url: str | None = None


@dataclass
class ArtifactOut:
    kind: str  # file | site | archive | url | report
    name: str
    path: Path | None = None
    uri: str | None = None


@dataclass
class StepResult:
    message: str = ""
    artifacts: list[ArtifactOut] = field(default_factory=list)
    url: str | None = None
    # Verify may flag a problem that does not fail the step but makes Jason reject the output.
    flags: list[str] = field(default_factory=list)


@dataclass
class PlanNode:
    title: str
    kind: str  # feature | milestone | goal
    step: str | None = None
    children: list[PlanNode] = field(default_factory=list)


class Template:
    """Subclass and implement the five steps. ``plan`` derives the Features tree from the spec."""

    ref: str = ""
    title: str = ""
    description: str = ""
    project_types: tuple[str, ...] = ("web-app",)

    def validate_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Return the spec normalized, or raise InvalidInput naming the field."""
        return spec

    def plan(self, name: str, spec: dict[str, Any]) -> list[PlanNode]:
        return []

    def scaffold(self, ctx: StepContext) -> StepResult:
        raise NotImplementedError

    def build(self, ctx: StepContext) -> StepResult:
        raise NotImplementedError

    def deploy(self, ctx: StepContext) -> StepResult:
        raise NotImplementedError

    def verify(self, ctx: StepContext) -> StepResult:
        raise NotImplementedError

    def publish(self, ctx: StepContext) -> StepResult:
        raise NotImplementedError


class TemplateError(Exception):
    """A template that cannot be loaded; the registry lists it as broken with this message."""


class TemplateRegistry:
    def __init__(self, search_dirs: list[Path], *, use_entry_points: bool = True) -> None:
        self.search_dirs = [d for d in search_dirs if d is not None]
        self.use_entry_points = use_entry_points
        self._templates: dict[str, Template] | None = None
        self.broken: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Any) -> TemplateRegistry:
        from worker.paths import templates_dir

        dirs = [settings.templates_dir] if settings.templates_dir else []
        return cls([*dirs, templates_dir()])

    def _load(self) -> dict[str, Template]:
        if self._templates is not None:
            return self._templates
        found: dict[str, Template] = {}
        for root in self.search_dirs:
            if not root.is_dir():
                continue
            for module_file in sorted(root.glob("*/*/template.py")):
                ref = module_file.parent.relative_to(root).as_posix()
                if ref in found:
                    continue  # an earlier directory (TEMPLATES_DIR) overrides
                try:
                    found[ref] = _instantiate(_load_module(module_file, ref), ref)
                except Exception as exc:
                    self.broken[ref] = f"{type(exc).__name__}: {exc}"
        if self.use_entry_points:
            for ep in entry_points(group="titan.templates"):
                try:
                    obj = ep.load()
                    template = obj() if isinstance(obj, type) else obj
                    template.ref = template.ref or ep.name
                    found.setdefault(template.ref, template)
                except Exception as exc:
                    self.broken[ep.name] = f"{type(exc).__name__}: {exc}"
        self._templates = found
        return found

    def refs(self) -> list[str]:
        return sorted(self._load())

    def all(self) -> list[Template]:
        return [self._load()[ref] for ref in self.refs()]

    def get(self, ref: str) -> Template:
        templates = self._load()
        if ref in templates:
            return templates[ref]
        if ref in self.broken:
            raise InvalidInput("templateRef", f"template {ref!r} is broken: {self.broken[ref]}")
        known = ", ".join(self.refs()) or "none"
        raise InvalidInput("templateRef", f"unknown template {ref!r} (known: {known})")


def _load_module(path: Path, ref: str) -> Any:
    name = "titan_template_" + re.sub(r"\W", "_", ref)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TemplateError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _instantiate(module: Any, ref: str) -> Template:
    template = getattr(module, "TEMPLATE", None)
    if template is None:
        classes = [v for v in vars(module).values()
                   if isinstance(v, type) and issubclass(v, Template) and v is not Template]
        if len(classes) != 1:
            raise TemplateError("template.py must define TEMPLATE or exactly one Template class")
        template = classes[0]()
    if not isinstance(template, Template):
        raise TemplateError("TEMPLATE is not a worker.templates.Template")
    template.ref = template.ref or ref
    missing = [s for s in STEPS if getattr(type(template), s) is getattr(Template, s)]
    if missing:
        raise TemplateError(f"steps not implemented: {', '.join(missing)}")
    return template
