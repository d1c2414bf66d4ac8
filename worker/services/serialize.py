"""Plain-dict views of rows, for JSON output (CLI --json, REST API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from worker.db.models import Approval, Artifact, Job, Project, Run


def _ts(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def project_dict(project: Project, *, details: bool = False) -> dict[str, Any]:
    """The project as a JSON-ready dict; ``details`` adds its jobs and artifacts."""
    data: dict[str, Any] = {
        "id": project.id, "name": project.name, "slug": project.slug, "type": project.type,
        "templateRef": project.template_ref, "spec": project.spec, "status": project.status,
        "stage": project.stage, "progress": project.progress, "url": project.url,
        "outputDir": project.output_dir, "lastError": project.last_error,
        "requiresApproval": project.requires_approval,
        "approvalTimeoutSeconds": project.approval_timeout_seconds,
        "priceMinor": project.price_minor, "currency": project.currency,
        "flags": project.flags, "build": project.build,
        "deployTarget": project.deploy_target, "deployConfig": project.deploy_config,
        "createdAt": _ts(project.created_at), "updatedAt": _ts(project.updated_at),
        "publishedAt": _ts(project.published_at),
    }
    if details:
        data["jobs"] = [job_dict(job) for job in sorted(project.jobs, key=lambda j: j.id)]
        data["artifacts"] = [artifact_dict(a) for a in sorted(project.artifacts,
                                                               key=lambda a: a.id)]
    return data


def job_dict(job: Job, *, runs: bool = True) -> dict[str, Any]:
    """The job as a JSON-ready dict; ``runs`` adds its attempts."""
    data: dict[str, Any] = {
        "id": job.id, "kind": job.kind, "status": job.status, "attempts": job.attempts,
        "maxAttempts": job.max_attempts, "lastError": job.last_error,
        "runAt": _ts(job.run_at), "createdAt": _ts(job.created_at),
        "finishedAt": _ts(job.finished_at),
    }
    if runs:
        data["runs"] = [run_dict(r) for r in job.runs]
    return data


def run_dict(run: Run) -> dict[str, Any]:
    """One attempt of a job as a JSON-ready dict."""
    return {"id": run.id, "attempt": run.attempt, "worker": run.worker_id, "status": run.status,
            "error": run.error, "startedAt": _ts(run.started_at),
            "finishedAt": _ts(run.finished_at), "durationMs": run.duration_ms}


def artifact_dict(artifact: Artifact) -> dict[str, Any]:
    """The artifact as a JSON-ready dict."""
    return {"id": artifact.id, "step": artifact.step, "kind": artifact.kind,
            "name": artifact.name, "path": artifact.path, "uri": artifact.uri,
            "sizeBytes": artifact.size_bytes, "sha256": artifact.sha256,
            "build": artifact.build, "createdAt": _ts(artifact.created_at)}


def approval_dict(approval: Approval) -> dict[str, Any]:
    """A decision: ``principal`` is who made it ("api:approver-token", "user:alice", ...)."""
    return {"decision": approval.decision, "decidedBy": approval.decided_by,
            "actor": approval.actor, "principal": approval.principal,
            "comment": approval.comment, "createdAt": _ts(approval.created_at)}
