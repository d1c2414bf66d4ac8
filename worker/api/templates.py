"""``GET /api/templates``: the templates a project can be made from (the registry's manifests)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from worker.ai.builds import ai_builds_off, needs_model_reason
from worker.api.deps import SettingsDep
from worker.templates import Template, TemplateRegistry

router = APIRouter(prefix="/api/templates", tags=["templates"])


@router.get("", summary="the template registry: refs, titles, project types, spec schemas")
async def list_templates(settings: SettingsDep) -> dict[str, Any]:
    registry = TemplateRegistry.from_settings(settings)
    off = ai_builds_off(settings)
    return {"items": [template_dict(t, off) for t in registry.all()],
            "broken": [{"ref": ref, "reason": reason}
                       for ref, reason in sorted(registry.broken.items())]}


def template_dict(template: Template, ai_off: str | None) -> dict[str, Any]:
    """A template's manifest for API clients; ``available`` is False (with ``unavailableReason``)
    when it needs a model and AI builds are off (creating a project would be refused)."""
    needs_model = bool(getattr(template, "needs_model", False))
    unavailable = needs_model_reason(template, ai_off) if needs_model and ai_off else None
    return {"ref": template.ref, "title": template.title, "description": template.description,
            "projectTypes": list(template.project_types), "defaultType": template.default_type,
            "specSchema": template.spec_schema, "sampleSpec": template.sample_spec,
            "needsModel": needs_model, "aiWork": sorted(template.ai),
            "available": unavailable is None, "unavailableReason": unavailable}
