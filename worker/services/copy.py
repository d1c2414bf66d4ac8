"""A project's model-written copy (persona/basic's tagline, about, feature paragraphs, bio):
read it, and let a person edit it before approving.

The copy is what a template declares as its ``ai.content`` (docs/ai-builds.md): the model's
answer, written to the declared file in the work folder (``src/copy.json``) and kept in the
replay record (``OUTPUT_DIR/.ai-builds/<slug>.json``). A person's edit

- is validated against the declared JSON Schema, field by field (``InvalidInput`` naming the
  field: ``copy.tagline: must not be empty``), and nothing is written when it fails;
- is written to the work folder's copy file **and** the replay record, so a worker that replays
  the scaffold writes the person's words, not the model's;
- is rendered at once: the template's own ``build`` and ``deploy`` run again (persona/basic:
  Jinja2, autoescaped; the site is copied to OUTPUT_DIR/<slug>/), so the preview, the served
  site and the zip the publish step makes show the edit;
- is recorded in the log (who edited which fields) and in the record's ``edits``.

Only while the project awaits approval: the project row stays locked from the check to the
render, so an approval (or Jason's timeout decision) waits for the edit, and the publish step
zips the edited site. A published (or rejected, or still building) project is refused with
``Conflict`` saying why.

Only templates whose ``ai`` declares ``content`` and no ``code`` have copy to edit (with code,
the content is the model's plan for that code, e.g. ai/python-app's file plan).

Feature paragraphs line up with the spec's features (one field per feature, by name): a
feature left empty shows the template's own sentence, as a feature the model skipped does.
"""

from __future__ import annotations

import asyncio
import copy as copylib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func

from worker.db.engine import Database
from worker.db.models import LogEntry, Project
from worker.errors import Conflict, InvalidInput, NotFound
from worker.slugs import slugify
from worker.templates import ProjectInfo, StepContext, Template, TemplateRegistry

LOGGER = "titan.copy"
EDITABLE_STATUS = "awaiting_approval"


@dataclass(frozen=True)
class CopyField:
    """One editable text: ``key`` addresses it (``tagline``, ``features[Kettle]``)."""

    key: str
    label: str
    value: str
    max_length: int | None = None
    required: bool = False
    multiline: bool = True


@dataclass(frozen=True)
class ProjectCopy:
    """The copy of one project as a person edits it."""

    project_id: int
    slug: str
    status: str
    file: str  # the copy file, relative to the work folder (src/copy.json)
    fields: list[CopyField]
    editable: bool
    why_not: str = ""  # why it cannot be edited now ("" when it can)
    edits: list[dict[str, Any]] = field(default_factory=list)  # earlier edits, oldest first

    def value(self, key: str) -> str:
        """The text of field ``key`` ("" when there is no such field)."""
        return next((f.value for f in self.fields if f.key == key), "")

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (``titan project copy --json``)."""
        return {"projectId": self.project_id, "slug": self.slug, "status": self.status,
                "file": self.file, "editable": self.editable, "whyNot": self.why_not,
                "fields": [{"key": f.key, "label": f.label, "value": f.value,
                            "maxLength": f.max_length, "required": f.required}
                           for f in self.fields],
                "edits": self.edits}


@dataclass(frozen=True)
class CopySaved:
    copy: ProjectCopy
    changed: list[str]  # the keys whose text changed ([]: nothing to save)
    url: str | None = None

    def describe(self) -> str:
        """One line for the person: what was saved."""
        if not self.changed:
            return f"nothing changed in the copy of {self.copy.slug}"
        return (f"saved {', '.join(self.changed)} of {self.copy.slug}; the site was rendered "
                f"again")


@dataclass
class _Loaded:
    project: Project
    template: Template
    ctx: StepContext
    schema: dict[str, Any]
    rel: str
    copy: dict[str, Any]
    record: dict[str, Any] | None


def why_not_editable(status: str, slug: str) -> str:
    """Why a project in ``status`` cannot have its copy edited ("" when it can)."""
    if status == EDITABLE_STATUS:
        return ""
    if status == "published":
        return (f"project {slug} is published: its copy can no longer be edited (the "
                f"published site and its zip are final)")
    if status in ("rejected", "failed", "cancelled"):
        return f"project {slug} is {status}: its copy can no longer be edited"
    if status == "publish":
        return f"project {slug} was approved and is publishing: its copy can no longer be edited"
    return (f"project {slug} is still building ({status}): its copy can be edited once it "
            f"awaits approval")


class CopyService:
    def __init__(self, db: Database, templates: TemplateRegistry, settings: Any) -> None:
        self.db = db
        self.templates = templates
        self.settings = settings

    @classmethod
    def from_settings(cls, db: Database, settings: Any) -> CopyService:
        """The service with the templates of these settings (as the CLI builds it)."""
        return cls(db, TemplateRegistry.from_settings(settings), settings)

    async def get(self, ref: int | str) -> ProjectCopy | None:
        """The project's model-written copy; None when it has none (a template without
        ``ai.content``, or built without a model). NotFound when there is no such project."""
        project = await self._project(ref)
        loaded = await asyncio.to_thread(self._load, project)
        return None if loaded is None else _view(loaded)

    async def save(self, ref: int | str, changes: dict[str, str], *, actor: str = "",
                   principal: str = "") -> CopySaved:
        """Apply a person's edit (``{"tagline": "...", "features[Kettle]": "..."}``), render
        the site again and log it. InvalidInput names a bad field; Conflict when the project
        does not await approval; NotFound when it has no model-written copy."""
        if not isinstance(changes, dict) or not changes:
            raise InvalidInput("copy", "give at least one field to change")
        project = await self._project(ref)
        async with self.db.session() as session:
            row = await session.get(Project, project.id, with_for_update=True)
            if row is None:
                raise NotFound(f"no project {ref!r}")
            reason = why_not_editable(row.status, row.slug)
            if reason:
                raise Conflict(reason)
            loaded = await asyncio.to_thread(self._load, row)
            if loaded is None:
                raise NotFound(f"project {row.slug} has no model-written copy to edit")
            before = _view(loaded)
            new_copy, changed = _apply(loaded, before, changes)
            if not changed:
                return CopySaved(before, [])
            if not (loaded.ctx.workdir / "src").is_dir():
                raise Conflict(f"the files of {row.slug} are not on this machine "
                               f"({loaded.ctx.workdir}); edit its copy where its worker runs")
            who = actor or principal or "someone"
            url = await asyncio.to_thread(self._write_and_render, loaded, new_copy, changed,
                                          who, principal)
            if url and url != row.url:
                row.url = url
            row.updated_at = func.now()  # the desktop's preview reloads on this change
            session.add(LogEntry(
                level="INFO", logger=LOGGER, project_id=row.id,
                message=f"{who} edited the copy before approving: {', '.join(changed)}; "
                        f"the site was rendered again",
                extra={"kind": "copy_edit", "actor": actor, "principal": principal,
                       "fields": changed}))
            loaded.copy = new_copy
            loaded.record = self._record(loaded.ctx)
            saved = _view(loaded)
        return CopySaved(saved, changed, url)

    # -- internals ------------------------------------------------------------------------------

    async def _project(self, ref: int | str) -> Project:
        from sqlalchemy import select

        async with self.db.session() as session:
            if isinstance(ref, int) or str(ref).isdigit():
                project = await session.get(Project, int(ref))
            else:
                project = await session.scalar(select(Project).where(Project.slug == str(ref)))
            if project is None:
                raise NotFound(f"no project {ref!r}")
            return project

    def _context(self, project: Project) -> StepContext:
        info = ProjectInfo(project.id, project.name, project.slug, project.type,
                           dict(project.spec or {}))
        return StepContext(project=info, workdir=self.settings.work_dir / project.slug,
                           output_dir=self.settings.projects_dir / project.slug,
                           settings=self.settings, log=lambda _message: None, url=project.url,
                           # a redeploy goes where the pipeline's deploy went (worker/deploy)
                           deploy_target=project.deploy_target,
                           deploy_config=dict(project.deploy_config or {}))

    def _record(self, ctx: StepContext) -> dict[str, Any] | None:
        from worker.ai.builds import record_path

        path = record_path(ctx)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def _load(self, project: Project) -> _Loaded | None:
        from worker.ai.builds import render_text

        try:
            template = self.templates.get(project.template_ref)
        except Exception:
            return None
        declared = (template.ai or {}).get("content")
        if not declared or "code" in template.ai:
            # With code, the content is the model's plan for it (ai/python-app's file plan):
            # not text a person reads on the site, and its build runs the model's code.
            return None
        ctx = self._context(project)
        values = template.ai_context(ctx)
        if values is None:
            return None
        rel = render_text(declared["file"], values)
        record = self._record(ctx)
        text = (record or {}).get("files", {}).get(rel)
        if not isinstance(text, str):  # no record here: the work folder's file, if any
            path = ctx.workdir / rel
            text = path.read_text(encoding="utf-8") if path.is_file() else None
        if text is None:
            return None
        try:
            answer = json.loads(text)
        except ValueError:
            return None
        if not isinstance(answer, dict):
            return None
        return _Loaded(project, template, ctx, declared["schema"], rel, answer, record)

    def _write_and_render(self, loaded: _Loaded, new_copy: dict[str, Any], changed: list[str],
                          who: str, principal: str) -> str | None:
        """Write the edit to the work folder and the record, then build and deploy again. A
        failing render puts the old copy back (and renders it) before raising."""
        from worker.ai.builds import save_record

        ctx = loaded.ctx
        target = ctx.workdir / loaded.rel
        old_text = target.read_text(encoding="utf-8") if target.is_file() else None
        old_record = copylib.deepcopy(loaded.record)
        text = json.dumps(new_copy, indent=2, ensure_ascii=False)
        _atomic_write(target, text)
        record: dict[str, Any] = copylib.deepcopy(loaded.record) if loaded.record is not None else {
            "template": loaded.template.ref, "files": {}, "rounds": 0, "tokens": 0,
            "summary": f"the model wrote the content ({loaded.rel})"}
        record.setdefault("files", {})[loaded.rel] = text
        record.setdefault("edits", []).append({
            "by": who, "principal": principal, "fields": changed,
            "at": datetime.now(UTC).isoformat(timespec="seconds")})
        save_record(ctx, record)
        try:
            return self._render(loaded.template, ctx)
        except Exception as exc:
            if old_text is None:
                target.unlink(missing_ok=True)
            else:
                _atomic_write(target, old_text)
            if old_record is not None:
                save_record(ctx, old_record)
            try:
                self._render(loaded.template, ctx)
            except Exception:
                pass
            raise Conflict(f"the site did not build with this edit, so nothing was changed: "
                           f"{type(exc).__name__}: {exc}") from None

    def _render(self, template: Template, ctx: StepContext) -> str | None:
        """The template's build and deploy, as the pipeline runs them."""
        template.build(ctx)
        if (ctx.workdir / ".titan-steps" / "deploy").exists():
            return template.deploy(ctx).url
        return None


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


# -- fields ---------------------------------------------------------------------------------------


def _is_text(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "string"


def _named_items(schema: Any) -> bool:
    """An array of ``{name, text}`` objects (persona/basic's feature paragraphs)."""
    if not isinstance(schema, dict) or schema.get("type") != "array":
        return False
    items = schema.get("items") or {}
    props = items.get("properties") or {}
    return _is_text(props.get("name")) and _is_text(props.get("text"))


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _min_length(schema: dict[str, Any]) -> int:
    return int(schema.get("minLength", 0) or 0)


def _view(loaded: _Loaded) -> ProjectCopy:
    schema, answer, spec = loaded.schema, loaded.copy, loaded.ctx.project.spec
    required = set(schema.get("required") or [])
    fields: list[CopyField] = []
    for name, prop in (schema.get("properties") or {}).items():
        if _is_text(prop):
            value = answer.get(name)
            fields.append(CopyField(
                name, _label(name), value if isinstance(value, str) else "",
                prop.get("maxLength"), name in required and _min_length(prop) > 0,
                multiline=(prop.get("maxLength") or 10_000) > 300))
        elif _named_items(prop):
            text_schema = prop["items"]["properties"]["text"]
            texts = {slugify(str(item.get("name", ""))): str(item.get("text", ""))
                     for item in answer.get(name) or [] if isinstance(item, dict)}
            names = [str(n) for n in spec.get(name) or [] if isinstance(n, str)]
            if not names:  # nothing to line up with: the items as the model wrote them
                names = [str(item.get("name", "")) for item in answer.get(name) or []
                         if isinstance(item, dict)]
            for item_name in names:
                fields.append(CopyField(
                    f"{name}[{item_name}]", f"{_label(name).rstrip('s')}: {item_name}",
                    texts.get(slugify(item_name), ""), text_schema.get("maxLength"), False))
    status = loaded.project.status
    edits = list((loaded.record or {}).get("edits") or [])
    return ProjectCopy(loaded.project.id, loaded.project.slug, status, loaded.rel, fields,
                       status == EDITABLE_STATUS, why_not_editable(status, loaded.project.slug),
                       edits)


def _check_text(key: str, value: Any, schema: dict[str, Any], required: bool) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"copy.{key}", "must be text")
    if "\x00" in value:
        raise InvalidInput(f"copy.{key}", "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"copy.{key}", "must be valid Unicode text") from None
    value = value.strip()
    if required and not value:
        raise InvalidInput(f"copy.{key}", "must not be empty")
    if value and _min_length(schema) > len(value):
        raise InvalidInput(f"copy.{key}", f"must be at least {_min_length(schema)} characters")
    limit = schema.get("maxLength")
    if limit is not None and len(value) > int(limit):
        raise InvalidInput(f"copy.{key}", f"must be at most {limit} characters "
                                          f"(it has {len(value)})")
    return value


def _apply(loaded: _Loaded, before: ProjectCopy, changes: dict[str, Any]
           ) -> tuple[dict[str, Any], list[str]]:
    """The copy with ``changes`` applied (validated), and the keys that changed."""
    from worker.templates import first_schema_error

    by_key = {f.key: f for f in before.fields}
    for key in changes:
        if key not in by_key:
            raise InvalidInput(f"copy.{key}", "unknown field (fields: "
                                              f"{', '.join(by_key) or 'none'})")
    schema = loaded.schema
    props = schema.get("properties") or {}
    new_copy = copylib.deepcopy(loaded.copy)
    changed: list[str] = []
    for key, raw in changes.items():
        fld = by_key[key]
        if "[" in key:
            name, item_name = key[:-1].split("[", 1)
            value = _check_text(key, raw, props[name]["items"]["properties"]["text"], False)
        else:
            name, item_name = key, ""
            value = _check_text(key, raw, props[name], fld.required)
        if value == fld.value:
            continue
        changed.append(key)
        if not item_name:
            new_copy[name] = value
            continue
        items = [i for i in new_copy.get(name) or [] if isinstance(i, dict)]
        slug = slugify(item_name)
        kept = [i for i in items if slugify(str(i.get("name", ""))) != slug]
        if value:  # empty: the feature shows the template's own sentence
            position = next((n for n, i in enumerate(items)
                             if slugify(str(i.get("name", ""))) == slug), len(kept))
            kept.insert(min(position, len(kept)), {"name": item_name, "text": value})
        new_copy[name] = kept
    error = first_schema_error(schema, new_copy, root="copy")
    if error is not None:
        raise InvalidInput(*error)
    return new_copy, changed
