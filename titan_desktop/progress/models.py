"""Progress tab models: projects (with their pipeline), the plan tree, jobs and their runs."""

from __future__ import annotations

from typing import Any

from titan_desktop import fmt
from titan_desktop.models import Column, Node, RowTableModel, TreeModel
from worker.db.models import PIPELINE_STEPS, Job, PlanItem, Project

PIPELINE_COLUMN = 2
PROGRESS_COLUMN = 3


def stage_states(project: Project) -> list[str]:
    """Per pipeline step: done | active | failed | waiting | pending (what the delegate draws)."""
    status, stage = project.status, project.stage
    if status == "published":
        return ["done"] * len(PIPELINE_STEPS)
    if status in ("queued", "cancelled") and stage is None:
        return ["pending"] * len(PIPELINE_STEPS)
    if status == "awaiting_approval":
        return ["done"] * 4 + ["waiting"]
    current = PIPELINE_STEPS.index(stage) if stage in PIPELINE_STEPS else 0
    here = {"failed": "failed", "cancelled": "failed", "rejected": "failed",
            "queued": "pending"}.get(status, "active")
    if status == "rejected":
        return ["done"] * 4 + ["failed"]
    return ["done"] * current + [here] + ["pending"] * (len(PIPELINE_STEPS) - current - 1)


def _elapsed(p: Project) -> str:
    return fmt.elapsed(p.started_at, p.finished_at)


def projects_model(parent: Any = None) -> RowTableModel:
    return RowTableModel([
        Column("Project", lambda p: p.name, tooltip=lambda p: f"{p.slug} · {p.template_ref}"),
        Column("Status", lambda p: fmt.status_label(p.status),
               foreground=lambda p: fmt.status_color(p.status)),
        Column("Pipeline", lambda p: " → ".join(PIPELINE_STEPS),
               tooltip=lambda p: ", ".join(f"{s}: {st}" for s, st in
                                           zip(PIPELINE_STEPS, stage_states(p), strict=True))),
        Column("Progress", lambda p: f"{round(p.progress * 100)}%", align_right=True),
        Column("Elapsed", _elapsed, align_right=True),
        Column("Last error", lambda p: fmt.one_line(p.last_error, 120),
               tooltip=lambda p: p.last_error,
               foreground=lambda p: fmt.status_color("failed")),
    ], parent=parent)


class PlanModel(TreeModel):
    """Features → Milestones → Goals, with done/total goals per node."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(["Plan", "Done", "Step"], parent)

    def set_items(self, items: list[PlanItem]) -> None:
        nodes: dict[int, Node] = {}
        roots: list[Node] = []
        for item in items:
            nodes[item.id] = Node([item.title, "", item.step or ""], payload=item)
        for item in items:
            node = nodes[item.id]
            parent = nodes.get(item.parent_id) if item.parent_id else None
            (parent.add(node) if parent else roots.append(node))
        for root in roots:
            _fill_completion(root)
        self.set_roots(roots)

    def totals(self) -> tuple[int, int]:
        done = total = 0
        for root in self.root.children:
            d, t = _goal_counts(root)
            done, total = done + d, total + t
        return done, total


def _goal_counts(node: Node) -> tuple[int, int]:
    item: PlanItem = node.payload
    if not node.children:
        return (1 if item.done else 0), 1
    done = total = 0
    for child in node.children:
        d, t = _goal_counts(child)
        done, total = done + d, total + t
    return done, total


def _fill_completion(node: Node) -> None:
    item: PlanItem = node.payload
    prefix = {"feature": "◆ ", "milestone": "◇ ", "goal": ""}.get(item.kind, "")
    if not node.children:
        node.values[0] = ("✔ " if item.done else "○ ") + prefix + item.title
        node.values[1] = "done" if item.done else ""
        return
    for child in node.children:
        _fill_completion(child)
    done, total = _goal_counts(node)
    node.values[0] = prefix + item.title
    node.values[1] = f"{done}/{total} ({round(100 * done / total) if total else 0}%)"


class JobsModel(TreeModel):
    """The selected project's jobs, each with its runs (attempts) as children."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(["Job", "Status", "Attempts", "Started", "Duration", "Worker / error"],
                         parent)

    def set_jobs(self, jobs: list[Job]) -> None:
        roots = []
        for job in sorted(jobs, key=lambda j: j.id):
            duration = (fmt.elapsed(job.started_at, job.finished_at)
                        if job.started_at and job.finished_at else "")
            node = Node([f"#{job.id} {job.kind}", job.status,
                         f"{job.attempts}/{job.max_attempts}", fmt.when(job.started_at),
                         duration, fmt.one_line(job.last_error, 100)],
                        payload=job, tooltip=job.last_error)
            for run in job.runs:
                node.add(Node([f"run {run.attempt}", run.status, "", fmt.when(run.started_at),
                               fmt.duration(run.duration_ms / 1000 if run.duration_ms else None),
                               fmt.one_line(run.error, 100) or run.worker_id],
                              payload=run, tooltip=run.error))
            roots.append(node)
        self.set_roots(roots)
