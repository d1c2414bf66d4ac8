"""The template interface and the registry that finds templates.

A template turns a project's spec into a published result in five steps. Each step is a plain
(blocking) method run off the event loop; it gets a ``StepContext`` and returns a ``StepResult``.
Templates are found in ``TEMPLATES_DIR`` (first), the built-in ``templates/`` folder, and the
``titan.templates`` entry-point group. A template folder holds ``template.py`` defining
``TEMPLATE`` (an instance) or a ``Template`` subclass; its ref is the folder path
(``persona/basic``) unless the template says otherwise.

Each template also declares a manifest: ref, title, description, the project types it serves and a
JSON Schema for its spec (``spec_schema``; the Input form builds its fields from it, the API and
the CLI refuse a spec that violates it). The manifest lives in ``template.json`` beside the module
that defines the template, or in the class attributes of the same names. The registry refuses a
template whose manifest, schema or steps are broken and lists it in ``broken`` with the reason.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from worker.errors import InvalidInput

STEPS = ("scaffold", "build", "deploy", "verify", "publish")
MANIFEST_FILE = "template.json"
REF_PATTERN = r"^[a-z0-9][a-z0-9_.-]*/[a-z0-9][a-z0-9_.-]*$"

# What a manifest must look like (template.json, or the class attributes of the same names).
MANIFEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["ref", "title", "description", "project_types", "spec_schema"],
    "properties": {
        "ref": {"type": "string", "pattern": REF_PATTERN,
                "errorMessage": "must look like group/name (lower case, digits, . _ -)"},
        "title": {"type": "string", "minLength": 1, "maxLength": 80},
        "description": {"type": "string", "maxLength": 2000},
        "project_types": {"type": "array", "minItems": 1, "uniqueItems": True,
                          "items": {"type": "string", "minLength": 1, "maxLength": 50}},
        # The type a project gets when its creator names none; one of project_types.
        "type": {"type": "string", "minLength": 1, "maxLength": 50},
        "spec_schema": {"type": "object"},
        "sample_spec": {"type": "object"},
        # The work a model does when one is at hand (docs/ai-builds.md, "Templates' AI work").
        "ai": {"$ref": "#/$defs/ai"},
    },
    "additionalProperties": False,
    "$defs": {
        "relpath": {"type": "string", "minLength": 1, "maxLength": 300,
                    "pattern": "^(?!/)(?!.*(^|/)\\.\\.?(/|$))[^\\\\:*?<>|]+$",
                    "errorMessage": "must be a relative path inside the project (no leading /, "
                                    "no . or .. components)"},
        "ai": {
            "type": "object", "minProperties": 1, "additionalProperties": False,
            "properties": {
                # Code a model writes and a check in the sandbox gates (the repair loop).
                "code": {
                    "type": "object", "additionalProperties": False,
                    "required": ["task", "workspace", "files", "check"],
                    "properties": {
                        "task": {"type": "string", "minLength": 1, "maxLength": 4000},
                        "workspace": {"$ref": "#/$defs/relpath"},
                        "files": {"type": "array", "minItems": 1, "maxItems": 12,
                                  "items": {"$ref": "#/$defs/relpath"}},
                        "check": {
                            "type": "object", "additionalProperties": False,
                            "required": ["argv"],
                            "properties": {
                                "argv": {"type": "array", "minItems": 1, "maxItems": 40,
                                         "items": {"type": "string", "minLength": 1,
                                                   "maxLength": 500}},
                                "timeout_seconds": {"type": "number", "minimum": 1,
                                                    "maximum": 3600},
                            },
                        },
                        "protected": {"type": "array", "maxItems": 50, "uniqueItems": True,
                                      "items": {"type": "string", "minLength": 1,
                                                "maxLength": 200}},
                        "instructions": {"type": "string", "maxLength": 4000},
                    },
                },
                # Content a model writes as one JSON answer, validated against ``schema``.
                "content": {
                    "type": "object", "additionalProperties": False,
                    "required": ["task", "file", "schema"],
                    "properties": {
                        "task": {"type": "string", "minLength": 1, "maxLength": 4000},
                        "file": {"$ref": "#/$defs/relpath"},
                        "schema": {"type": "object"},
                        "max_tokens": {"type": "integer", "minimum": 64, "maximum": 32768},
                    },
                },
            },
        },
    },
}


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
    # Where deploy puts the output (worker/deploy): the project's target and its options.
    deploy_target: str = "local"
    deploy_config: dict[str, Any] = field(default_factory=dict)


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
    """Subclass and implement the five steps. ``plan`` derives the Features tree from the spec.

    ``spec_schema`` (a JSON Schema, draft 2020-12) is what ``validate_spec`` checks; override
    ``normalize_spec`` for rules a schema cannot say (duplicates after slugging, trimming).
    """

    ref: str = ""
    title: str = ""
    description: str = ""
    project_types: tuple[str, ...] = ("web-app",)
    # The default project type (one of project_types); empty means the first of them.
    type: str = ""
    spec_schema: dict[str, Any] = {"type": "object"}
    # A spec that passes the schema; ``titan templates check`` scaffolds and builds with it.
    sample_spec: dict[str, Any] = {}
    # Where the template came from (its folder, or "entry point NAME = module:attr").
    origin: str = ""
    # The AI work the template declares (MANIFEST_SCHEMA's "ai"); empty: none.
    ai: dict[str, Any] = {}
    # The deploy targets (worker/deploy) its deploy step supports; a static site can go
    # anywhere, a service or package runs on this machine.
    deploy_targets: tuple[str, ...] = ("local",)

    @property
    def default_type(self) -> str:
        """The type of a project created from this template without one."""
        return self.type or (self.project_types[0] if self.project_types else "web-app")

    def manifest(self) -> dict[str, Any]:
        manifest = {"ref": self.ref, "title": self.title, "description": self.description,
                    "project_types": list(self.project_types), "type": self.default_type,
                    "spec_schema": self.spec_schema, "sample_spec": self.sample_spec}
        if self.ai:
            manifest["ai"] = self.ai
        return manifest

    def ai_context(self, ctx: StepContext) -> dict[str, Any] | None:
        """The values the ``ai`` declaration's texts are rendered with (Jinja2), or None when
        this project has no AI work to do (e.g. a CLI without subcommands)."""
        return {"name": ctx.project.name, "slug": ctx.project.slug, "type": ctx.project.type,
                **ctx.project.spec}

    def validate_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Return the spec normalized, or raise InvalidInput naming the field (``spec.x[2]``)."""
        if not isinstance(spec, dict):
            raise InvalidInput("spec", "must be an object")
        spec = _apply_defaults(self.spec_schema, copy.deepcopy(spec))
        error = first_schema_error(self.spec_schema, spec)
        if error is not None:
            raise InvalidInput(*error)
        return self.normalize_spec(spec)

    def normalize_spec(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Checks beyond the schema, and cleanup; raise InvalidInput naming the field."""
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
                if ref in found or ref in self.broken:
                    continue  # an earlier directory (TEMPLATES_DIR) overrides
                try:
                    found[ref] = load_template_folder(module_file.parent, ref)
                except Exception as exc:
                    self.broken[ref] = _reason(exc)
        if self.use_entry_points:
            for ep in entry_points(group="titan.templates"):
                try:
                    template = load_entry_point(ep)
                except Exception as exc:
                    self.broken[ep.name] = _reason(exc)
                    continue
                if template.ref not in found:
                    found[template.ref] = template
        self._templates = found
        return found

    def refs(self) -> list[str]:
        return sorted(self._load())

    def without(self, refs: list[str]) -> TemplateRegistry:
        """The same templates but these (e.g. the ones the planner may not offer now)."""
        narrower = TemplateRegistry(self.search_dirs, use_entry_points=self.use_entry_points)
        narrower._templates = {r: t for r, t in self._load().items() if r not in refs}
        narrower.broken = dict(self.broken)
        return narrower

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


def load_template_folder(folder: Path, ref: str | None = None) -> Template:
    """Import ``folder/template.py``, apply ``folder/template.json`` and check the result.

    ``ref`` is the folder's path under its search directory; a manifest may not contradict it.
    Raises TemplateError saying what is wrong.
    """
    module_file = folder / "template.py"
    if not module_file.is_file():
        raise TemplateError(f"{module_file} is missing")
    module = _load_module(module_file, ref or folder.name)
    template = _instantiate(module)
    manifest = read_manifest(folder)
    if manifest is not None:
        if ref and manifest.get("ref", ref) != ref:
            raise TemplateError(f"{MANIFEST_FILE} says ref {manifest['ref']!r} but the folder "
                                f"is {ref!r}")
        _apply_manifest(template, manifest)
    template.ref = template.ref or ref or ""
    template.origin = str(folder)
    check_template(template)
    return template


def load_entry_point(ep: Any) -> Template:
    """Load one ``titan.templates`` entry point: a Template instance or subclass."""
    obj = ep.load()
    template = obj() if isinstance(obj, type) else obj
    if not isinstance(template, Template):
        raise TemplateError(f"entry point {ep.name} = {ep.value} is not a "
                            "worker.templates.Template")
    module_file = getattr(sys.modules.get(type(template).__module__), "__file__", None)
    manifest = read_manifest(Path(module_file).parent) if module_file else None
    if manifest is not None:
        _apply_manifest(template, manifest)
    template.ref = template.ref or ep.name
    template.origin = f"entry point {ep.name} = {ep.value}"
    check_template(template)
    return template


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise TemplateError(f"{MANIFEST_FILE} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{MANIFEST_FILE} must hold a JSON object")
    error = first_schema_error(MANIFEST_SCHEMA, data, root="")
    if error is not None:
        raise TemplateError(f"{MANIFEST_FILE}: {error[0] or 'manifest'}: {error[1]}")
    return data


def check_template(template: Template) -> None:
    """The registry's acceptance test: manifest well formed, schema valid, steps implemented."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if not template.title:
        template.title = template.ref
    error = first_schema_error(MANIFEST_SCHEMA, template.manifest(), root="")
    if error is not None:
        raise TemplateError(f"manifest: {error[0]}: {error[1]}")
    if template.default_type not in template.project_types:
        raise TemplateError(f"manifest: type: {template.default_type!r} is not one of "
                            f"project_types ({', '.join(template.project_types)})")
    missing = [s for s in STEPS if getattr(type(template), s) is getattr(Template, s)]
    if missing:
        raise TemplateError(f"steps not implemented: {', '.join(missing)}")
    if template.ai:
        check_ai_declaration(template.ai)
    try:
        Draft202012Validator.check_schema(template.spec_schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        raise TemplateError(f"spec_schema is not a valid JSON Schema: {exc.message}"
                            + (f" (at {where})" if where else "")) from None
    if template.spec_schema.get("type", "object") != "object":
        raise TemplateError("spec_schema must describe an object (\"type\": \"object\")")
    try:
        if template.sample_spec:  # an empty one is only tried by ``titan templates check``
            template.validate_spec(template.sample_spec)
    except InvalidInput as exc:
        raise TemplateError(f"sample_spec does not pass the template's own validation: "
                            f"{exc}") from None


def check_ai_declaration(ai: dict[str, Any]) -> None:
    """What the manifest schema cannot say about an ``ai`` block; raises TemplateError."""
    from jinja2 import Environment, TemplateSyntaxError
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    texts: list[tuple[str, str]] = []
    code = ai.get("code")
    if code:
        texts += [("ai.code.task", code["task"]), ("ai.code.workspace", code["workspace"])]
        texts += [(f"ai.code.files[{i}]", f) for i, f in enumerate(code["files"])]
        texts += [(f"ai.code.check.argv[{i}]", a) for i, a in enumerate(code["check"]["argv"])]
    content = ai.get("content")
    if content:
        texts += [("ai.content.task", content["task"]), ("ai.content.file", content["file"])]
        schema = content["schema"]
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.path)
            raise TemplateError(f"ai.content.schema is not a valid JSON Schema: {exc.message}"
                                + (f" (at {where})" if where else "")) from None
        if schema.get("type") != "object":
            raise TemplateError("ai.content.schema must describe an object "
                                "(\"type\": \"object\"): the model answers one JSON object")
    env = Environment()
    for where, text in texts:
        try:
            env.parse(text)
        except TemplateSyntaxError as exc:
            raise TemplateError(f"{where}: not a valid Jinja2 text: {exc.message}") from None


def first_schema_error(schema: dict[str, Any], instance: Any, root: str = "spec"
                       ) -> tuple[str, str] | None:
    """The most relevant violation as ``(field path, message)``, or None when valid."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(schema).iter_errors(instance))
    if error is None:
        return None
    return _describe_error(error, root)


_TYPE_WORDS = {"string": "text", "array": "a list", "object": "an object",
               "integer": "a whole number", "number": "a number", "boolean": "true or false",
               "null": "null"}


def _field_path(root: str, parts: list[Any]) -> str:
    path = root
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "manifest"


def _describe_error(error: Any, root: str) -> tuple[str, str]:
    parts = list(error.absolute_path)
    kind, value, instance = error.validator, error.validator_value, error.instance
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if kind == "required" and isinstance(instance, dict):
        missing = next((k for k in value if k not in instance), None)
        if missing is not None:
            return _field_path(root, [*parts, missing]), "is required"
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        extra = sorted(k for k in instance if k not in known)
        if extra:
            allowed = ", ".join(sorted(known)) or "none"
            return _field_path(root, [*parts, extra[0]]), f"unknown field (allowed: {allowed})"
    if kind == "uniqueItems" and isinstance(instance, list):
        for i, item in enumerate(instance):
            if item in instance[:i]:
                return (_field_path(root, [*parts, i]),
                        f"duplicate of item {instance.index(item)} ({item!r})")
    path = _field_path(root, parts)
    if custom:
        return path, str(custom)
    messages = {
        "type": lambda: "must be " + " or ".join(
            _TYPE_WORDS.get(str(t), str(t))
            for t in (value if isinstance(value, list) else [value])),
        "minLength": lambda: "must not be empty" if value == 1
        else f"must be at least {value} characters",
        "maxLength": lambda: f"must be at most {value} characters",
        "minItems": lambda: f"must have at least {value} item{'s' if value != 1 else ''}",
        "maxItems": lambda: f"must have at most {value} items",
        "minProperties": lambda: f"must have at least {value} field{'s' if value != 1 else ''}",
        "pattern": lambda: f"{instance!r} does not match the pattern {value}",
        "enum": lambda: "must be one of: " + ", ".join(map(str, value)),
        "const": lambda: f"must be {value!r}",
        "minimum": lambda: f"must be at least {value}",
        "maximum": lambda: f"must be at most {value}",
    }
    describe = messages.get(kind)
    return path, describe() if describe else error.message


def _apply_defaults(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Fill top-level properties the spec leaves out with the schema's ``default``."""
    for name, prop in (schema.get("properties") or {}).items():
        if name not in spec and isinstance(prop, dict) and "default" in prop:
            spec[name] = copy.deepcopy(prop["default"])
    return spec


def _apply_manifest(template: Template, manifest: dict[str, Any]) -> None:
    for key in ("ref", "title", "description", "type", "spec_schema", "sample_spec", "ai"):
        if key in manifest:
            setattr(template, key, manifest[key])
    if "project_types" in manifest:
        template.project_types = tuple(manifest["project_types"])


def _reason(exc: Exception) -> str:
    if isinstance(exc, TemplateError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _load_module(path: Path, ref: str) -> Any:
    name = "titan_template_" + re.sub(r"\W", "_", ref)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TemplateError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise TemplateError(f"template.py failed to import: {type(exc).__name__}: {exc}"
                            ) from exc
    return module


def _instantiate(module: Any) -> Template:
    template = getattr(module, "TEMPLATE", None)
    if template is None:
        classes = [v for v in vars(module).values()
                   if isinstance(v, type) and issubclass(v, Template) and v is not Template
                   and v.__module__ == module.__name__]
        if len(classes) != 1:
            raise TemplateError("template.py must define TEMPLATE or exactly one Template class")
        template = classes[0]()
    if not isinstance(template, Template):
        raise TemplateError("TEMPLATE is not a worker.templates.Template")
    return template
