"""Jason in the desktop: answers the chat, acts on the window, announces his own decisions.

Connects the Qt-free brain (``brain.Jason``) to the main window: replies go to the chat (and to
the speaker when voice is on), ``action``s switch tabs or open output, projects Jason creates are
threaded under the message that asked for them, and approvals Jason decided after a timeout are
announced in the chat and spoken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from titan_desktop.jason.voice_qt import VoiceController
from worker.jason.brain import Jason, Reply
from worker.jason.parser import Parse
from worker.logs import get_logger

if TYPE_CHECKING:
    from titan_desktop.context import AppContext

log = get_logger("titan.jason")
TAB_INDEX = {"progress": 0, "input": 1, "logs": 2, "output": 3, "sales": 4}


class JasonDesk(QObject):
    # Text Jason says (the voice layer speaks it when voice output is on).
    said = Signal(str)
    # A reply finished (for tests and the voice layer): the Reply object.
    replied = Signal(object)

    def __init__(self, window: Any, ctx: AppContext) -> None:
        super().__init__(window)
        self.window = window
        self.ctx = ctx
        self.brain = Jason(ctx.db, ctx.settings, ctx.projects, worker_control=self._control)
        self._last_decision_id: int | None = None
        window.chat.set_responder(self.respond)
        ctx.events.event.connect(self._on_event)
        ctx.spawn(self._remember_decisions())
        # Microphone -> recognizer -> handle_voice; said -> speaker (see voice_qt).
        self.voice = VoiceController(self, window.input_tab.chat_panel)

    # -- text -------------------------------------------------------------------------------

    async def respond(self, said: str) -> str:
        """The chat's responder: typed text in, Jason's answer out."""
        return self._deliver(await self.brain.ask(said))

    def handle_voice(self, understood: Parse) -> None:
        """A recognized utterance's parse goes straight to the brain (it is not turned back into
        text and parsed again); the chat shows what Jason heard and threads his answer under it."""
        self.window.chat.send(understood.text, answer=lambda: self._act_on(understood))

    async def _act_on(self, understood: Parse) -> str:
        return self._deliver(await self.brain.handle(understood))

    def close(self) -> None:
        """Stop listening and speaking (call from the window's shutdown)."""
        self.voice.close()

    def _deliver(self, reply: Reply) -> str:
        if reply.project_id is not None and reply.command == "create_project":
            self.window.chat.link_project(reply.project_id)
        action = reply.action or {}
        if "tab" in action and action["tab"] in TAB_INDEX:
            self.window.tabs.setCurrentIndex(TAB_INDEX[action["tab"]])
        if "open" in action:
            target = str(action["open"])
            url = QUrl(target) if "://" in target else QUrl.fromLocalFile(target)
            QDesktopServices.openUrl(url)
        self.said.emit(reply.text)
        self.replied.emit(reply)
        return reply.chat_text  # the chat shows the whole answer; speech stays short

    async def _control(self, action: str) -> str:
        supervisor = getattr(self.window, "supervisor", None)
        if supervisor is None:
            return await self.brain._command_workers(action)
        if action == "restart":
            await supervisor.restart()
            return "Restarting the worker."
        ok = await supervisor.send_command(action)
        if not ok:
            return "No worker is running."
        return "Paused the worker: running jobs finish, no new ones start." \
            if action == "pause" else "Resumed the worker."

    # -- Jason's own decisions --------------------------------------------------------------

    async def _remember_decisions(self) -> None:
        self._last_decision_id = await self.ctx.projects.last_approval_id()

    def _on_event(self, event: dict) -> None:
        if event.get("table") == "approvals" and event.get("op") == "insert":
            self.ctx.spawn(self._announce_decisions())

    async def _announce_decisions(self) -> None:
        if self._last_decision_id is None:
            return
        for decision in await self.ctx.projects.decisions_since(self._last_decision_id):
            self._last_decision_id = max(self._last_decision_id, decision.approval_id or 0)
            announcement = decision.announcement()
            self.window.chat.post("Jason", announcement)
            self.said.emit(announcement)
