"""Ops panel (a sub-tab of Output): proposed self-changes, their diff, tests and canary,
Approve / Reject for a change waiting at the approval gate, and Run tests for a change whose
tests wait for a person because no sandbox exists on this machine (docs/sandbox.md).

The "Ask Titan" box proposes a change in words: a model drafts it (``ops.draft``), then it is
tested in the sandbox and waits at the same approval gate; the new change is selected, so its
status, the request, the model, its tokens and (once drafted) its diff show below.

Follows the tab convention: constructed as ``OpsPanel(ctx)``, loads through ``OpsService`` as
coroutines on the qasync loop, and reloads when ``ops_changes`` (or its jobs/approvals) change.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from titan_desktop import fmt
from titan_desktop.context import AppContext
from titan_desktop.models import Column as Col
from titan_desktop.models import RowTableModel
from titan_desktop.selection import SelectionController, current_user
from worker.db.models import OpsChange
from worker.errors import TitanError
from worker.services.ops import AWAITING_RUN_APPROVAL, shown_status

WATCHED = {"ops_changes", "approvals", "jobs", "artifacts"}
# How ops statuses map onto the colours the rest of the app uses.
_COLOUR_AS = {"promoted": "published", "rolled_back": "failed", "awaiting_approval":
              "awaiting_approval", AWAITING_RUN_APPROVAL: "awaiting_approval",
              "rejected": "rejected", "failed": "failed"}


def _status_text(change: OpsChange) -> str:
    """The status as the list shows it: a requested change reads "drafting" until the model's
    draft is in."""
    if change.status == "proposed" and change.ask and not change.patches:
        return "drafting"
    return shown_status(change).replace("_", " ")


class OpsController(SelectionController):
    """The ops changes list, the selected change's details, and the decisions on it."""

    list_table = "ops_changes"
    watched = frozenset(WATCHED)
    askFinished = Signal(bool)  # the Ask Titan request was stored (True) or refused
    selected: dict[str, Any] | None  # the change's details (OpsService.details)

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(ctx, parent)
        self.service = ctx.ops
        self.changes = RowTableModel([
            Col("#", lambda c: c.id, align_right=True),
            Col("Change", lambda c: c.title, tooltip=lambda c: c.description),
            Col("Status", lambda c: _status_text(c),
                foreground=lambda c: fmt.status_color(_COLOUR_AS.get(shown_status(c),
                                                                      "queued"))),
            Col("Files", lambda c: ", ".join(p.get("path", "") for p in c.patches)),
            Col("Reason", lambda c: fmt.one_line(c.reason), tooltip=lambda c: c.reason),
        ], parent=self)
        self.start()

    async def _load_list(self) -> None:
        rows: list[OpsChange] = await self.service.list(limit=500)
        self.changes.set_rows(rows)

    async def _fetch_details(self, change_id: int) -> dict[str, Any]:
        return await self.service.details(change_id)

    def _show_details(self, details: dict[str, Any]) -> dict[str, Any]:
        return details

    def _changed(self, say: Callable[[OpsChange], str]) -> Callable[[int, OpsChange], None]:
        """After an action: tell the person, then reload the list and the details."""
        def done(_: int, change: OpsChange) -> None:
            self.message.emit(say(change))
            self._list.request()
            self._details.request()
        return done

    def decide(self, decision: str, comment: str) -> None:
        verb = ("Approved: the canary deploy starts" if decision == "approved"
                else "Rejected: the change is rolled back")
        self._act_on_selected(
            lambda change_id: self.service.decide(change_id, decision, decided_by="person",
                                                  actor=current_user(), comment=comment),
            failed="Could not record the decision",
            done=self._changed(lambda c: f"{verb} (#{c.id} {c.title})."))

    def ask(self, request: str) -> None:
        """Propose a change in words (a model drafts it); the new change gets selected."""
        request = request.strip()
        if not request:
            self.message.emit("Say what Titan should change first.")
            self.askFinished.emit(False)
            return
        person = f"user:{current_user() or 'unknown'}"

        async def run() -> None:
            try:
                change = await self.service.propose({"ask": request}, proposed_by=person)
            except TitanError as exc:
                self.message.emit(f"Could not ask Titan: {exc}")
                self.askFinished.emit(False)
                return
            self.message.emit(f"Asked (#{change.id}): {change.ai_model} drafts the change; "
                              "it is tested in the sandbox, then waits for your approval.")
            self.askFinished.emit(True)
            self.select(change.id)
            self._list.request()

        self.ctx.spawn(run())

    def approve_run(self) -> None:
        """The person lets the selected change's tests run without a sandbox."""
        self._act_on_selected(
            lambda change_id: self.service.approve_run(change_id, actor=current_user()),
            failed="Could not approve running it",
            done=self._changed(lambda c: f"Running the tests of #{c.id} {c.title} "
                                         "without a sandbox."))


class OpsPanel(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = c = OpsController(ctx, self)

        self.ask_input = QLineEdit()
        self.ask_input.setObjectName("opsAskInput")
        self.ask_input.setPlaceholderText("Ask Titan to change itself, e.g. add a --version "
                                          "flag to titan worker")
        self.ask_input.setMaxLength(4000)
        self.ask_button = QPushButton("Ask Titan")
        self.ask_button.setObjectName("opsAsk")
        self.ask_button.setToolTip("A model drafts the change; it is tested in the sandbox and "
                                   "waits for your approval like any change.")
        self.ask_button.clicked.connect(self._ask)
        self.ask_input.returnPressed.connect(self._ask)
        c.askFinished.connect(self._asked)

        self.table = QTableView()
        self.table.setObjectName("opsChanges")
        self.table.setModel(c.changes)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        c.changes.modelReset.connect(self._restore_selection)

        self.summary = QLabel("Select a change to see its diff, tests and canary.")
        self.summary.setObjectName("opsSummary")
        self.summary.setWordWrap(True)
        self.details = QPlainTextEdit()
        self.details.setObjectName("opsDetails")
        self.details.setReadOnly(True)
        self.comment = QLineEdit()
        self.comment.setPlaceholderText("Comment (stored with your decision)")
        self.approve_button = QPushButton("Approve")
        self.approve_button.setObjectName("opsApprove")
        self.reject_button = QPushButton("Reject")
        self.reject_button.setObjectName("opsReject")
        self.run_button = QPushButton("Run its tests")
        self.run_button.setObjectName("opsApproveRun")
        self.run_button.setToolTip("No sandbox on this machine: the change's tests run with your "
                                   "rights. Read the diff first.")
        self.run_button.clicked.connect(c.approve_run)
        self.approve_button.clicked.connect(lambda: self._decide("approved"))
        self.reject_button.clicked.connect(lambda: self._decide("rejected"))
        self.status = QLabel("")
        self.status.setObjectName("opsMessage")
        c.message.connect(self.status.setText)
        c.selectionChanged.connect(self._show)

        decide_row = QHBoxLayout()
        decide_row.addWidget(self.comment, 1)
        decide_row.addWidget(self.run_button)
        decide_row.addWidget(self.approve_button)
        decide_row.addWidget(self.reject_button)
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.summary)
        lower_layout.addWidget(self.details, 1)
        lower_layout.addLayout(decide_row)
        lower_layout.addWidget(self.status)
        ask_row = QHBoxLayout()
        ask_row.addWidget(self.ask_input, 1)
        ask_row.addWidget(self.ask_button)
        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addLayout(ask_row)
        upper_layout.addWidget(self.table, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(upper)
        splitter.addWidget(lower)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        self._show(None)

    def _on_selection(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        change = self.controller.changes.row_at(rows[0].row()) if rows else None
        self.controller.select(change.id if change is not None else None)

    def _restore_selection(self) -> None:
        if self.controller.selected_id is None:
            return
        row = self.controller.changes.row_for_key(self.controller.selected_id)
        if row >= 0:
            self.table.selectRow(row)

    def _ask(self) -> None:
        self.ask_button.setEnabled(False)  # until the request is stored (or refused)
        self.controller.ask(self.ask_input.text())

    def _asked(self, stored: bool) -> None:
        self.ask_button.setEnabled(True)
        if stored:
            self.ask_input.clear()

    def _decide(self, decision: str) -> None:
        self.controller.decide(decision, self.comment.text().strip())
        self.comment.clear()

    def _show(self, change: dict[str, Any] | None) -> None:
        waiting = change is not None and change["status"] == "awaiting_approval"
        self.approve_button.setEnabled(waiting)
        self.reject_button.setEnabled(waiting)
        self.run_button.setVisible(change is not None
                                   and change["status"] == AWAITING_RUN_APPROVAL)
        if change is None:
            self.details.setPlainText("")
            return
        pr = f" · PR #{change['prNumber']}" if change["prNumber"] else ""
        self.summary.setText(
            f"#{change['id']} {change['title']} — {change['status'].replace('_', ' ')}"
            f" · branch {change['branch'] or '-'}{pr}"
            + (f"\n{change['reason']}" if change["reason"] else ""))
        probes = change["canaryProbes"]
        canary = (f"{len(probes)} probes of {change['canaryUrl']}, last "
                  f"{probes[-1].get('status', probes[-1].get('error'))}" if probes else "-")
        if change["status"] == AWAITING_RUN_APPROVAL:
            tests = ("not run: no sandbox on this machine, so they wait until you read the "
                     "diff and press Run its tests")
        elif change["testSummary"]:
            tests = f"{change['testCommand'] or '-'}: {change['testSummary']}"
        else:
            tests = "not run yet"
        asked = ""
        diff = change["diff"] or "(diff not computed yet)"
        if change.get("ask"):
            asked = (f"Asked: {change['ask']}\n"
                     f"Drafted by {change['aiModel'] or '-'} for "
                     f"{change['proposedBy'].partition(' for ')[2] or '-'} · "
                     f"{change['aiTokens']:,} tokens · {change['aiDrafts']} draft(s)\n")
            if not change["patches"]:
                diff = "(the model is drafting the change)"
        description = "" if change.get("ask") == change["description"] else \
            f"{change['description']}\n\n"
        self.details.setPlainText(
            f"{asked}{description}"
            f"Tests: {tests}\n"
            f"Canary: {canary}\n\n{diff}")
