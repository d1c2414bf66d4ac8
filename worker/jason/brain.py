"""Jason's brain: a parsed command becomes an action through the same services as the GUI.

Qt-free, so ``titan jason ask`` and the tests use it without a window. Destructive commands
(cancel, reject, retry all, restart) are not carried out until the next utterance is "yes";
anything else cancels them. Text that is no command goes to an optional LLM
(``JASON_LLM_URL`` / ``JASON_LLM_MODEL``), otherwise Jason says what it can do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from worker.config import Settings
from worker.errors import TitanError
from worker.jason.commands import BY_NAME, help_text
from worker.jason.parser import Parse, parse
from worker.logs import get_logger
from worker.services.database import Database
from worker.services.projects import ProjectService
from worker.services.reports import ReportService, project_sentence
from worker.services.sales import SalesService
from worker.services.workers import WorkerService

log = get_logger("titan.jason")
# Jason's outbound messages are log lines from this logger (the Sales tab counts them).
messages = get_logger("titan.messages")

WorkerControl = Callable[[str], Awaitable[str]]


@dataclass
class Reply:
    text: str
    command: str | None = None
    slots: dict[str, str] = field(default_factory=dict)
    # What the GUI should do besides showing/speaking the text: {"tab": "logs"},
    # {"open": "<url or folder>"}.
    action: dict[str, Any] | None = None
    awaiting_confirmation: bool = False
    # A project this reply created: the chat threads its events under the message.
    project_id: int | None = None


class Jason:
    def __init__(self, db: Database, settings: Settings, projects: ProjectService | None = None,
                 *, worker_control: WorkerControl | None = None) -> None:
        self.db = db
        self.settings = settings
        self.projects = projects or ProjectService.from_settings(db, settings)
        self.workers = WorkerService(db, settings)
        self.sales = SalesService(db, settings)
        self.worker_control = worker_control or self._command_workers
        self.pending: Parse | None = None

    # -- vocabulary --------------------------------------------------------------------------

    async def project_names(self) -> list[str]:
        return list((await self.projects.names(500)).values())

    def template_names(self) -> list[str]:
        return self.projects.templates.refs()

    # -- entry points ------------------------------------------------------------------------

    async def ask(self, said: str) -> Reply:
        """Typed text (the chat) or a transcript: parse, then act."""
        understood = parse(said, await self.project_names(), self.template_names())
        return await self.handle(understood)

    async def handle(self, understood: Parse) -> Reply:
        reply = await self._handle(understood)
        messages.info(reply.text, kind="jason_reply", command=reply.command,
                      project_id=reply.project_id)
        return reply

    async def _handle(self, understood: Parse) -> Reply:
        command = understood.command
        if self.pending is not None:
            pending, self.pending = self.pending, None
            if command == "confirm_yes":
                return await self._act(pending)
            if command == "confirm_no" or command is None:
                return Reply("All right, I won't.", command="confirm_no")
            # Anything else: drop the pending action and carry on with the new command.
        if command is None:
            return await self._not_a_command(understood)
        if command in ("confirm_yes", "confirm_no"):
            return Reply("There is nothing waiting for a yes or no.", command=command)
        if understood.destructive:
            self.pending = understood
            return Reply(self._confirmation_question(understood), command=command,
                         slots=dict(understood.slots), awaiting_confirmation=True)
        return await self._act(understood)

    @staticmethod
    def _confirmation_question(p: Parse) -> str:
        what = {
            "cancel_project": f"cancel {p.slots.get('project')}",
            "reject_project": f"reject {p.slots.get('project')}",
            "retry_failed": "retry every failed project",
            "restart_worker": "restart the worker",
        }.get(p.command or "", BY_NAME[p.command].help if p.command else "do that")
        return f"Are you sure you want to {what}? Say yes or no."

    # -- actions -----------------------------------------------------------------------------

    async def _act(self, p: Parse) -> Reply:
        handler = getattr(self, f"_do_{p.command}", None)
        if handler is None:
            return Reply(f"I know “{p.command}” but can't do it yet.", command=p.command)
        try:
            reply: Reply = await handler(**p.slots)
        except TitanError as exc:
            reply = Reply(f"I couldn't do that: {exc}")
        reply.command, reply.slots = p.command, dict(p.slots)
        return reply

    async def _do_create_project(self, project: str, template: str = "persona/basic") -> Reply:
        created = await self.projects.create({"name": project, "templateRef": template})
        return Reply(f"Creating {created.name} with the {template} template. I'll tell you when "
                     "it is published.", project_id=created.id)

    async def _do_status_all(self) -> Reply:
        return Reply((await ReportService(self.db).status()).spoken())

    async def _do_summary(self) -> Reply:
        return await self._do_status_all()

    async def _do_status_project(self, project: str) -> Reply:
        found = await self.projects.get(project)
        return Reply(project_sentence(found), project_id=found.id)

    async def _do_whats_failing(self) -> Reply:
        report = await ReportService(self.db).status()
        if not report.failed:
            return Reply("Nothing is failing.")
        return Reply(" ".join(project_sentence(p) for p in report.failed[:5]))

    async def _do_last_error(self) -> Reply:
        last = await self.projects.last_error()
        if last is None:
            return Reply("There are no errors.")
        where = (f"{last.project_name}'s {last.kind} step" if last.project_name
                 else f"the {last.kind} job")
        return Reply(f"The last error was in {where}: {last.error}")

    async def _do_retry_failed(self) -> Reply:
        retried = await self.projects.retry_all_failed()
        if not retried:
            return Reply("Nothing had failed, so there is nothing to retry.")
        return Reply(f"Retrying {len(retried)} project{'s' if len(retried) > 1 else ''}: "
                     + ", ".join(retried) + ".")

    async def _do_cancel_project(self, project: str) -> Reply:
        cancelled = await self.projects.cancel(project)
        return Reply(f"Cancelled {cancelled.name}.", project_id=cancelled.id)

    async def _do_approve_project(self, project: str) -> Reply:
        decided = await self.projects.decide(project, "approved", decided_by="person",
                                             actor="voice", comment="approved by voice")
        return Reply(f"Approved {decided.name}; publishing it now.", project_id=decided.id)

    async def _do_reject_project(self, project: str) -> Reply:
        decided = await self.projects.decide(project, "rejected", decided_by="person",
                                             actor="voice", comment="rejected by voice")
        return Reply(f"Rejected {decided.name}.", project_id=decided.id)

    async def _do_pause_worker(self) -> Reply:
        return Reply(await self.worker_control("pause"))

    async def _do_resume_worker(self) -> Reply:
        return Reply(await self.worker_control("resume"))

    async def _do_restart_worker(self) -> Reply:
        return Reply(await self.worker_control("restart"))

    async def _do_show_tab(self, tab: str) -> Reply:
        return Reply(f"Here is the {tab} tab.", action={"tab": tab})

    async def _do_open_output(self, project: str) -> Reply:
        found = await self.projects.get(project)
        target = found.url or found.output_dir
        if not target:
            return Reply(f"{found.name} has no output yet; it is at {found.stage or 'the start'}.")
        return Reply(f"Opening {found.name}.", action={"open": target}, project_id=found.id)

    async def _do_sales(self, period: str = "today") -> Reply:
        figures = await self.sales.figures()
        if not figures:
            return Reply("No sales are recorded yet. Import a CSV, record an order, or connect "
                         "Stripe or Shopify.")
        from worker.sales.money import format_money

        attr = {"today": "revenue_today", "this week": "revenue_7d"}.get(period, "revenue_all")
        label = {"today": "today", "this week": "in the last seven days"}.get(period, "in total")
        amounts = " and ".join(format_money(getattr(f, attr), f.currency) for f in figures)
        orders = sum(f.orders for f in figures)
        return Reply(f"Sales {label}: {amounts}, from {orders} paid orders in all.")

    async def _do_help(self) -> Reply:
        return Reply(help_text())

    # -- not a command -----------------------------------------------------------------------

    async def _not_a_command(self, p: Parse) -> Reply:
        if self.settings.jason_llm_url and self.settings.jason_llm_model:
            try:
                return Reply(await self._ask_llm(p.text))
            except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
                log.warning("the language model did not answer", error=str(exc))
        hint = ""
        if p.suggestions:
            hint = " Did you mean: " + "; ".join(f"“{s}”" for s in p.suggestions) + "?"
        return Reply("Sorry, I didn't catch that." + hint +
                     " I can create projects, report status and failures, retry, cancel, "
                     "approve, pause the worker, switch tabs and tell you about sales. "
                     "Say “help” for the list.")

    async def _ask_llm(self, question: str) -> str:
        report = await ReportService(self.db).status()
        url = self.settings.jason_llm_url.rstrip("/")  # type: ignore[union-attr]  # caller checked
        if not url.endswith("/chat/completions"):
            url += "/chat/completions"
        body = {
            "model": self.settings.jason_llm_model,
            "messages": [
                {"role": "system", "content": (
                    "You are Jason, the project manager of Titan, an autonomous project "
                    "builder. Answer briefly. Current status: " + report.spoken())},
                {"role": "user", "content": question},
            ],
        }
        async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
            response = await client.post(url, json=body)
            response.raise_for_status()
            return str(response.json()["choices"][0]["message"]["content"]).strip()

    # -- default worker control (no GUI): steer every live worker through the database -------

    async def _command_workers(self, action: str) -> str:
        command = {"pause": "pause", "resume": "resume", "restart": "stop"}[action]
        told = await self.workers.send_all(command)
        if told == 0:
            return "No worker is running."
        done = {"pause": "Paused", "resume": "Resumed", "restart": "Restarting"}[action]
        return f"{done} {told} worker{'s' if told > 1 else ''}."
