"""Jason's brain: a parsed command becomes an action through the same services as the GUI.

Qt-free, so ``titan jason ask`` and the tests use it without a window. Destructive commands
(cancel, reject, retry all, restart) are not carried out until the next utterance is "yes";
anything else cancels them.

The grammar comes first: only text the parser did not take goes to the AI model (``worker.ai``,
``TITAN_AI_*``), offered Jason's command table as OpenAI tools (``worker.jason.tools``). A tool
the model calls runs as the parsed command would, with the same "are you sure?"; ``plan_project``
asks the planner for a plan and builds it after a "yes"; ``explain_project`` answers a question
from the project's status, errors and logs (a second call, "jason-answer"). Model replies are cut
to two short sentences (``Reply.text``, what is spoken; the whole answer is ``Reply.detail``).
Every call is in the ledger, filed under the project it concerned. With AI off, Jason says what
he can do and how to turn AI on.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from worker.ai import TURN_ON, AIError, ai_off_reason, open_client
from worker.ai.builds import plannable
from worker.config import Settings
from worker.errors import NotFound, TitanError
from worker.jason.commands import BY_NAME, help_text, spoken, words_of
from worker.jason.parser import Parse, parse
from worker.jason.tools import (
    EXPLAIN_TOOL,
    PLAN_TOOL,
    BadToolCall,
    ToolRequest,
    jason_tools,
    read_call,
)
from worker.logs import get_logger
from worker.services import ai_calls
from worker.services.database import Database
from worker.services.logquery import LogFilter, LogService
from worker.services.projects import ProjectService
from worker.services.reports import ReportService, project_sentence
from worker.services.sales import SalesService
from worker.services.workers import WorkerService

if TYPE_CHECKING:
    from worker.ai.client import AIClient
    from worker.ai.planner import ProjectPlan
    from worker.db.models import Project

log = get_logger("titan.jason")
# Jason's outbound messages are log lines from this logger (the Sales tab counts them).
messages = get_logger("titan.messages")

WorkerControl = Callable[[str], Awaitable[str]]

PURPOSE = "jason"  # the call that picks a tool or answers
ANSWER_PURPOSE = "jason-answer"  # the call that answers a question from the database
# What is spoken stays short: at most this many sentences and characters.
SPOKEN_SENTENCES = 2
SPOKEN_CHARS = 200
CONTEXT_LOG_LINES = 20
DEFAULT_TEMPLATE = "persona/basic"


@dataclass
class Reply:
    text: str
    command: str | None = None
    slots: dict[str, str] = field(default_factory=dict)
    # What the GUI should do besides showing/speaking the text: {"tab": "logs"},
    # {"open": "<url or folder>"}.
    action: dict[str, Any] | None = None
    awaiting_confirmation: bool = False
    # A project this reply created or is about: the chat threads a new one's events under it.
    project_id: int | None = None
    # The whole answer when ``text`` (what is spoken) was cut short, or a proposed plan.
    detail: str | None = None

    @property
    def chat_text(self) -> str:
        """What a chat shows: the whole answer when ``text`` was cut from it, else ``text``
        followed by the detail (a proposed plan)."""
        if not self.detail:
            return self.text
        if self.detail.startswith(self.text.rstrip("…")):
            return self.detail
        return f"{self.text}\n{self.detail}"


@dataclass
class PendingPlan:
    """A plan the model proposed, waiting for the person's "yes"."""

    name: str
    plan: ProjectPlan
    call_ids: list[int]


def short(text: str, sentences: int = SPOKEN_SENTENCES, limit: int = SPOKEN_CHARS) -> str:
    """At most ``sentences`` sentences and ``limit`` characters (cut at a word, with "…")."""
    flat = " ".join(text.split())
    kept = " ".join(re.split(r"(?<=[.!?])\s+", flat)[:sentences])
    if len(kept) <= limit:
        return kept
    cut = kept[:limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def model_reply(text: str, **fields: Any) -> Reply:
    """A reply in the model's words: short to speak, the whole text kept when it was cut."""
    said = short(text)
    flat = " ".join(text.split())
    return Reply(said, detail=None if said == flat else text.strip(), **fields)


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
        self.pending_plan: PendingPlan | None = None

    @property
    def awaiting_name(self) -> bool:
        """A name was read back and waits for "yes", a correction or a spelling."""
        return self.pending is not None and self.pending.read_back

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
        if self.pending is not None or self.pending_plan is not None:
            pending, plan = self.pending, self.pending_plan
            self.pending = self.pending_plan = None
            if command == "confirm_yes":
                return await (self._build_plan(plan) if plan else self._act(pending))  # type: ignore[arg-type]  # one of them is set
            if pending is not None and pending.read_back:
                name = _corrected_name(understood)
                if name:  # "no, call it Sunflower Bakehouse", or the name spelled
                    return self._read_name_back(Parse(
                        pending.command, {**pending.slots, "project": name}, understood.text,
                        read_back=True))
            if command == "confirm_no" or command is None:
                return Reply("All right, I won't.", command="confirm_no")
            # Anything else: drop the pending action and carry on with the new command.
        if command is None:
            return await self._not_a_command(understood)
        return await self._dispatch(understood)

    async def _dispatch(self, understood: Parse, *, chosen_by_model: bool = False) -> Reply:
        """A command (parsed, or the model's tool call): asked about first when destructive.

        A command the model chose that changes anything is read back first too: the model may
        have misread the request (the small local model often does), and a person's "yes" is
        cheap next to an approval or a new project nobody asked for."""
        command = understood.command
        if command in ("confirm_yes", "confirm_no"):
            return Reply("There is nothing waiting for a yes or no.", command=command)
        if command == "name_correction":
            return Reply("There is no name waiting for a correction.", command=command)
        if understood.read_back:
            return self._read_name_back(understood)
        read_back = chosen_by_model and command is not None and not BY_NAME[command].read_only
        if understood.destructive or read_back:
            self.pending = understood
            question = (self._confirmation_question(understood) if understood.destructive
                        else self._read_back_question(understood))
            return Reply(question, command=command, slots=dict(understood.slots),
                         awaiting_confirmation=True)
        return await self._act(understood)

    def _read_name_back(self, p: Parse) -> Reply:
        """A name heard by the open-vocabulary decoder may be misheard: say it back and wait
        for "yes", a correction ("no, call it ...") or the name spelled."""
        self.pending = p
        name = p.slots.get("project", "")
        template = spoken(p.slots.get("template", DEFAULT_TEMPLATE))
        return Reply(f"Create {name} with the {template} template? Say yes, or correct the "
                     "name: “no, call it …”, or spell it.", command=p.command,
                     slots=dict(p.slots), awaiting_confirmation=True)

    @staticmethod
    def _read_back_question(p: Parse) -> str:
        what = {
            "create_project": f"create a project called {p.slots.get('project')} with the "
                              f"{p.slots.get('template', 'persona/basic')} template",
            "approve_project": f"approve {p.slots.get('project')}",
            "pause_worker": "pause the worker",
            "resume_worker": "resume the worker",
        }.get(p.command or "", BY_NAME[p.command].help if p.command else "do that")
        return f"You'd like me to {what}. Shall I? Say yes or no."

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

    async def _do_create_project(self, project: str, template: str = DEFAULT_TEMPLATE) -> Reply:
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

    # -- not a command: the AI model, offered the command table as tools --------------------

    async def _not_a_command(self, p: Parse) -> Reply:
        reason = ai_off_reason(self.settings)
        if reason is None:
            try:
                async with open_client(self.settings, self.db, keep_local=True) as client:
                    return await self._ask_model(client, p.text)
            except AIError as exc:
                log.warning("the AI model did not answer", error=str(exc))
                return Reply(f"I couldn't ask the AI model, so nothing was done: {exc}")
            except TitanError as exc:
                return Reply(f"I couldn't do that: {exc}")
        hint = ""
        if p.suggestions:
            hint = " Did you mean: " + "; ".join(f"“{s}”" for s in p.suggestions) + "?"
        return Reply("Sorry, I didn't catch that." + hint +
                     " I can create projects, report status and failures, retry, cancel, "
                     "approve, pause the worker, switch tabs and tell you about sales. "
                     "Say “help” for the list. To understand free-form requests I need an AI "
                     f"model, and AI is off: {TURN_ON}.")

    async def _ask_model(self, client: AIClient, said: str) -> Reply:
        projects, templates = await self.project_names(), self.template_names()
        first = len(client.recorded_ids)
        completion = await client.chat(
            await self._routing_messages(said, projects, templates), purpose=PURPOSE,
            tools=jason_tools(projects, templates), max_tokens=200, temperature=0.1)
        rows = client.recorded_ids[first:]
        if not completion.tool_calls:
            if not completion.text.strip():
                return Reply("The AI model gave no answer, so nothing was done.")
            return model_reply(completion.text)
        if len(completion.tool_calls) > 1:
            log.info("the model called several tools; Jason acts on the first",
                     tools=[c.name for c in completion.tool_calls])
        try:
            request = read_call(completion.tool_calls[0], templates)
        except BadToolCall as exc:
            log.warning("the model's tool call was refused", error=str(exc))
            return Reply(f"I couldn't use the AI model's answer, so nothing was done: {exc}.")
        if request.name == PLAN_TOOL:
            return await self._propose_plan(client, request, rows)
        concerned = None
        names_a_project = request.name == EXPLAIN_TOOL or \
            BY_NAME[request.name].slots.get("project") == "project"
        if names_a_project and "project" in request.args:
            try:
                concerned = await self._find_project(request.args["project"])
            except NotFound:
                return Reply(f"I don't know a project called {request.args['project']}, "
                             "so nothing was done.")
            request.args["project"] = concerned.name
            await ai_calls.file_under(self.db, rows, concerned.id)
        if request.name == EXPLAIN_TOOL:
            return await self._explain(client, said, concerned)
        reply = await self._dispatch(Parse(request.name, request.args, said),
                                     chosen_by_model=True)
        if concerned is None and reply.project_id is not None:
            await ai_calls.file_under(self.db, rows, reply.project_id)
        return reply

    async def _routing_messages(self, said: str, projects: Sequence[str],
                                templates: Sequence[str]) -> list[dict[str, str]]:
        status = short((await ReportService(self.db).status()).spoken(), 6, 800)
        system = (
            "You are Jason, the project manager inside Titan, which builds and publishes "
            "projects from templates. When the person asks for something one of your tools "
            "does, call that tool once. To start a new project from a description, call "
            f"{PLAN_TOOL}. For a question about how a project or everything stands, or why "
            f"something failed, call {EXPLAIN_TOOL}. Otherwise answer in at most two short "
            "sentences. Only name projects that exist.\n"
            f"Projects: {', '.join(projects[:100]) or 'none yet'}.\n"
            f"Templates: {', '.join(templates) or 'none'}.\n"
            f"Status now: {status}")
        return [{"role": "system", "content": system}, {"role": "user", "content": said}]

    async def _find_project(self, name: str) -> Project:
        """By id, slug or name; else the one project whose name contains the words said
        ("the bakery" -> "Sunflower Bakery")."""
        try:
            return await self.projects.get(name)
        except NotFound:
            words = spoken(re.sub(r"^(the|my|our)\s+", "", name.strip(), flags=re.I))
            hits = [pid for pid, known in (await self.projects.names(500)).items()
                    if words and f" {words} " in f" {spoken(known)} "]
            if len(hits) != 1:
                raise
            return await self.projects.get(hits[0])

    # -- plan_project: the planner proposes, "yes" builds --------------------------------------

    async def _propose_plan(self, client: AIClient, request: ToolRequest,
                            rows: list[int]) -> Reply:
        from worker.ai.planner import propose

        name, description = request.args["name"], request.args["description"]
        try:
            taken = await self.projects.get(name)
        except NotFound:
            pass
        else:
            return Reply(f"There is already a project called {taken.name}; give the new one "
                         "another name.", project_id=taken.id)
        plan = await propose(client, plannable(self.projects.templates, self.settings), name,
                             description)
        self.pending_plan = PendingPlan(name, plan, [*rows, *plan.call_ids])
        features = [_line(f.title, 40) for f in plan.features]
        goals = sum(len(m.goals) for f in plan.features for m in f.milestones)
        listed = ", ".join(features[:3]) + (f" and {len(features) - 3} more"
                                            if len(features) > 3 else "")
        text = (f"I'd build {name} with the {plan.template} template: "
                f"{len(features)} feature{'s' if len(features) != 1 else ''} ({listed}), "
                f"{goals} goal{'s' if goals != 1 else ''}. Shall I build it? Say yes or no.")
        return Reply(text, command=PLAN_TOOL, slots=dict(request.args),
                     awaiting_confirmation=True, detail=_plan_text(name, plan))

    async def _build_plan(self, pending: PendingPlan) -> Reply:
        plan = pending.plan
        try:
            created = await self.projects.create(
                {"name": pending.name, "templateRef": plan.template, "spec": plan.spec},
                plan=plan.nodes(), ai_call_ids=pending.call_ids)
        except TitanError as exc:
            return Reply(f"I couldn't do that: {exc}", command="create_project")
        return Reply(f"Creating {created.name} with the {plan.template} template and the plan "
                     "I proposed. I'll tell you when it is published.", command="create_project",
                     slots={"project": created.name, "template": plan.template},
                     project_id=created.id)

    # -- explain_project: a question answered from the database ------------------------------

    async def _explain(self, client: AIClient, said: str, project: Project | None) -> Reply:
        facts = await (self._project_facts(project) if project else self._overall_facts())
        system = (
            "You are Jason, the project manager inside Titan. Answer the person's question in "
            "at most two short sentences, from these facts only; if they do not tell, say so.\n"
            + facts)
        completion = await client.chat(
            [{"role": "system", "content": system}, {"role": "user", "content": said}],
            purpose=ANSWER_PURPOSE, project_id=project.id if project else None,
            max_tokens=160, temperature=0.1)
        if not completion.text.strip():
            return Reply("The AI model gave no answer.", command=EXPLAIN_TOOL,
                         project_id=project.id if project else None)
        return model_reply(completion.text, command=EXPLAIN_TOOL,
                           slots={"project": project.name} if project else {},
                           project_id=project.id if project else None)

    async def _project_facts(self, project: Project) -> str:
        found = await self.projects.get(project.id, details=True)
        lines = [f"Project {found.name} (template {found.template_ref}): status {found.status}, "
                 f"stage {found.stage or 'none'}, {found.progress:.0%} done.",
                 f"Summary: {project_sentence(found)}"]
        if found.last_error:
            lines.append(f"Last error: {_line(found.last_error, 500)}")
        for job in sorted(found.jobs, key=lambda j: j.id)[-8:]:
            error = f"; error: {_line(job.last_error, 300)}" if job.last_error else ""
            lines.append(f"Job {job.kind}: {job.status}, attempt {job.attempts}{error}")
        logs = await LogService(self.db).query(LogFilter(project_id=found.id),
                                               limit=CONTEXT_LOG_LINES)
        if logs:
            lines.append("Recent log lines, oldest first:")
            lines += [f"{e.level} {_line(e.message, 200)}" for e in reversed(logs)]
        return "\n".join(lines)

    async def _overall_facts(self) -> str:
        lines = [f"Status: {(await ReportService(self.db).status()).spoken()}"]
        last = await self.projects.last_error()
        if last is not None:
            lines.append(f"Last error ({last.project_name or 'no project'}, {last.kind} step): "
                         f"{_line(last.error, 500)}")
        logs = await LogService(self.db).query(LogFilter(level="WARNING"),
                                               limit=CONTEXT_LOG_LINES)
        if logs:
            lines.append("Recent warnings and errors, oldest first:")
            lines += [f"{e.level} {_line(e.message, 200)}" for e in reversed(logs)]
        return "\n".join(lines)

    # -- default worker control (no GUI): steer every live worker through the database -------

    async def _command_workers(self, action: str) -> str:
        command = {"pause": "pause", "resume": "resume", "restart": "stop"}[action]
        told = await self.workers.send_all(command)
        if told == 0:
            return "No worker is running."
        done = {"pause": "Paused", "resume": "Resumed", "restart": "Restarting"}[action]
        return f"{done} {told} worker{'s' if told > 1 else ''}."


def _corrected_name(understood: Parse) -> str | None:
    """The name in a correction of a read-back name: "no, call it X", or letters alone
    ("s u n f l o w e r")."""
    if understood.command == "name_correction":
        return understood.slots.get("project") or None
    if understood.command is None:
        said = words_of(understood.text)
        if len(said) > 1 and all(len(w) == 1 and w.isalpha() for w in said):
            return "".join(said).capitalize()
    return None


def _line(text: str | None, limit: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def _plan_text(name: str, plan: ProjectPlan) -> str:
    """The proposed plan as the chat can show it: template, then the tree, indented."""
    lines = [f"{name} — template {plan.template}"]
    for feature in plan.features:
        lines.append(f"• {feature.title}")
        for milestone in feature.milestones:
            lines.append(f"    - {milestone.title}")
            lines += [f"        · {goal.title} ({goal.step})" for goal in milestone.goals]
    return "\n".join(lines)
