"""Progress tab models: projects (with their pipeline), the plan tree, jobs and their runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from titan_desktop import fmt
from titan_desktop.models import Column, Node, RowTableModel, TreeModel
from worker.db.models import PIPELINE_STEPS, Job, PlanItem, Project
from worker.services.ai_rounds import LatestRound

STATUS_COLUMN = 1
PIPELINE_COLUMN = 2
PROGRESS_COLUMN = 3
# While a project runs (its status is the pipeline step it is in), its status cell adds the repair
# loop's latest round on a second line.
ROUND_STATUSES = frozenset(PIPELINE_STEPS)
# The service's sort key behind each column a header click sorts (ProjectService.SORT_KEYS);
# the pipeline column sorts by progress, the last error not at all.
SORT_BY_COLUMN = {0: "name", STATUS_COLUMN: "status", PIPELINE_COLUMN: "progress",
                  PROGRESS_COLUMN: "progress", 4: "started"}


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


class ProjectsModel(RowTableModel):
    """The projects, plus each one's latest AI round ("round 2/3: 1 test failing")."""

    def __init__(self, columns: list[Column], parent: Any = None) -> None:
        super().__init__(columns, parent=parent)
        self.rounds: dict[int, LatestRound] = {}
        # The controller reloads in the new order (the database sorts: the list is capped).
        self.sort_requested: Callable[[str, bool], None] | None = None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if self.sort_requested is None:
            return
        key = SORT_BY_COLUMN.get(column)
        if key is None:  # no indicator, or a column that does not sort: newest first
            self.sort_requested("created", True)
        else:
            self.sort_requested(key, order == Qt.SortOrder.DescendingOrder)

    def set_rounds(self, rounds: dict[int, LatestRound]) -> None:
        if rounds == self.rounds:
            return
        self.rounds = rounds
        if self.rows:
            self.dataChanged.emit(self.index(0, STATUS_COLUMN),
                                  self.index(len(self.rows) - 1, STATUS_COLUMN))

    def round_text(self, project: Project) -> str | None:
        """The latest round's line while the project runs (None otherwise)."""
        latest = self.rounds.get(project.id)
        if latest is None or project.status not in ROUND_STATUSES:
            return None
        return latest.progress

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if index.isValid() and index.column() == STATUS_COLUMN and index.row() < len(self.rows):
            project = self.rows[index.row()]
            if role == Qt.ItemDataRole.DisplayRole:
                line = self.round_text(project)
                status = fmt.status_label(project.status)
                return f"{status}\n{line}" if line else status
            if role == Qt.ItemDataRole.ToolTipRole:
                latest = self.rounds.get(project.id)
                if latest is not None:
                    verdict = "passed" if latest.passed else "failed"
                    return f"Latest AI round ({verdict}): {latest.progress}"
        return super().data(index, role)


def projects_model(parent: Any = None) -> ProjectsModel:
    return ProjectsModel([
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
