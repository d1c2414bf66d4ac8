"""The chat panel where Jason lives: a transcript with project events threaded under the message
that started each project, and a replaceable responder (``async def respond(text) -> str``).

The default responder understands "create project NAME" and says what it can do otherwise; the
voice issue replaces it with Jason's brain through ``ChatController.set_responder``. Whatever
creates a project while a message is being answered calls ``link_project`` so the project's
events (started, step failed, awaiting approval, published) appear under that message.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from titan_desktop import palette
from titan_desktop.context import AppContext
from titan_desktop.models import Index, Node, TreeModel
from titan_desktop.watcher import ProjectEvent
from worker.errors import TitanError
from worker.paths import resources_dir

Responder = Callable[[str], Awaitable[str]]
# Signs common text fonts (DejaVu, Noto Sans, Liberation) all have: no emoji, which a desktop
# without an emoji font draws as an empty box.
EVENT_ICONS = {"started": "▶", "step_failed": "⚠", "awaiting_approval": "‖", "published": "✔",
               "failed": "✖", "rejected": "✖", "cancelled": "■"}
_current: contextvars.ContextVar[Node | None] = contextvars.ContextVar("chat_message",
                                                                       default=None)
CREATE = re.compile(r"\b(?:create|new|start|build)\s+(?:a\s+)?(?:new\s+)?project\s+"
                    r"(?:called\s+|named\s+)?[\"']?(?P<name>.+?)[\"']?\s*[.!]?$", re.IGNORECASE)


class ChatModel(TreeModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(["Message"], parent)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.ForegroundRole and index.isValid():
            color = self.node(index).payload
            return QColor(color) if isinstance(color, str) else None
        return super().data(index, role)


class ChatController(QObject):
    busyChanged = Signal(bool)
    messageAdded = Signal(object)  # the Node, so the view can scroll to it

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = ChatModel(self)
        self.threads: dict[int, Node] = {}  # project id -> the message that started it
        self._responder: Responder = self.default_respond
        self.pending = 0
        ctx.events.projectEvent.connect(self._on_project_event)

    def set_responder(self, responder: Responder) -> None:
        """Replace who answers (Jason's brain). ``responder(text)`` returns the reply text."""
        self._responder = responder

    # -- transcript ----------------------------------------------------------------------------

    def _add(self, text: str, parent: Node | None = None, color: str | None = None) -> Node:
        node = Node([text], payload=color)
        self.model.append(node, parent)
        self.messageAdded.emit(node)
        return node

    def post(self, who: str, text: str) -> Node:
        """Add a top-level message (e.g. 'Form: created X') that events can be threaded under."""
        return self._add(f"{_now()}  {who}: {text}")

    def send(self, text: str, answer: Callable[[], Awaitable[str]] | None = None) -> Node | None:
        """Post ``text`` as the user's message and thread the answer under it. ``answer``
        replaces the responder for this one message (the voice path: the recognizer has already
        parsed what it heard, so the brain acts on that parse instead of re-reading the text)."""
        text = text.strip()
        if not text:
            return None
        message = self.post("You", text)
        self.pending += 1
        self.busyChanged.emit(True)
        self.ctx.spawn(self._answer(message, answer or (lambda: self._responder(text))))
        return message

    async def _answer(self, message: Node, answer: Callable[[], Awaitable[str]]) -> None:
        token = _current.set(message)
        try:
            reply = await answer()
        except Exception as exc:
            reply = f"Sorry, that went wrong: {exc}"
        finally:
            _current.reset(token)
            self.pending -= 1
            self.busyChanged.emit(self.pending > 0)
        if reply:
            self._add(f"Jason: {reply}", message, palette.ACCENT)

    def link_project(self, project_id: int, message: Node | None = None) -> None:
        """Thread ``project_id``'s events under ``message`` (default: the one being answered)."""
        target = message or _current.get()
        if target is None and self.model.root.children:
            target = self.model.root.children[-1]
        if target is not None:
            self.threads[project_id] = target

    def _on_project_event(self, event: ProjectEvent) -> None:
        message = self.threads.get(event.project_id)
        if message is None:
            return
        text = f"{EVENT_ICONS.get(event.kind, '•')} {event.text}"
        if event.url and event.kind == "published":
            text += f" — {event.url}"
        color = {"published": palette.SUCCESS, "failed": palette.DANGER,
                 "step_failed": palette.WARNING, "awaiting_approval": palette.WARNING,
                 "rejected": palette.DANGER}.get(event.kind)
        self._add(text, message, color)

    # -- the default responder -----------------------------------------------------------------

    async def default_respond(self, text: str) -> str:
        match = CREATE.search(text.strip())
        if match:
            name = match.group("name").strip()
            try:
                project = await self.ctx.projects.create({"name": name})
            except TitanError as exc:
                return f"I could not create {name!r}: {exc}"
            self.link_project(project.id)
            return (f"Created project {project.name} ({project.slug}) from the "
                    f"{project.template_ref} template. I'll post its progress here.")
        if re.search(r"\b(list|status|projects)\b", text, re.IGNORECASE):
            projects = await self.ctx.projects.list(limit=5)
            if not projects:
                return "There are no projects yet. Say 'create project NAME' to start one."
            return "Latest projects: " + "; ".join(f"{p.name} ({p.status.replace('_', ' ')})"
                                                   for p in projects)
        return ("I can create a project ('create project Acme Site') and tell you how the "
                "latest projects are doing ('status'). Use the form on the left for details "
                "such as features and the persona.")


class WrappingDelegate(QStyledItemDelegate):
    """Row heights from the text wrapped at the column's width (QTreeView does not do this)."""

    def __init__(self, view: QTreeView) -> None:
        super().__init__(view)
        self.view = view

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        depth = 0
        parent = index.parent()
        while parent.isValid():
            depth, parent = depth + 1, parent.parent()
        width = max(120, self.view.viewport().width() - self.view.indentation() * (depth + 1) - 12)
        text = str(index.data() or "")
        rect = option.fontMetrics.boundingRect(QRect(0, 0, width, 100_000),
                                               int(Qt.TextFlag.TextWordWrap), text)
        return QSize(width, rect.height() + 8)


def _now() -> str:
    return datetime.now().strftime("%H:%M")


class ChatPanel(QWidget):
    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = ChatController(ctx, self)
        self.transcript = QTreeView()
        self.transcript.setObjectName("chatTranscript")
        self.transcript.setModel(self.controller.model)
        self.transcript.setHeaderHidden(True)
        self.transcript.setWordWrap(True)
        self.transcript.setIndentation(18)
        self.transcript.setUniformRowHeights(False)
        self.transcript.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.transcript.header().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.transcript.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.transcript.setItemDelegate(WrappingDelegate(self.transcript))
        self.input = QLineEdit()
        self.input.setObjectName("chatInput")
        self.input.setPlaceholderText("Talk to Jason — e.g. “create project Acme Site”")
        self.send_button = QPushButton("Send")
        self.input.returnPressed.connect(self._send)
        self.send_button.clicked.connect(self._send)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.send_button)
        # Voice controls: disabled until Jason's voice (titan_desktop.jason.voice_qt) binds them.
        self.talk_button = QPushButton("Hold to talk")
        self.talk_button.setIcon(QIcon(str(resources_dir() / "icons" / "microphone.svg")))
        self.talk_button.setObjectName("jasonTalk")
        self.talk_button.setToolTip("Hold while you speak a command to Jason")
        self.listen_button = QPushButton("Always listen")
        self.listen_button.setObjectName("jasonListen")
        self.listen_button.setCheckable(True)
        self.listen_button.setToolTip("Jason listens for commands until you switch this off")
        self.voice_replies = QCheckBox("Voice replies")
        self.voice_replies.setObjectName("jasonVoiceReplies")
        for control in (self.talk_button, self.listen_button, self.voice_replies):
            control.setEnabled(False)
        voice_row = QHBoxLayout()
        voice_row.addWidget(self.talk_button)
        voice_row.addWidget(self.listen_button)
        voice_row.addStretch(1)
        voice_row.addWidget(self.voice_replies)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(row)
        layout.addLayout(voice_row)
        self.controller.messageAdded.connect(self._reveal)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.transcript.scheduleDelayedItemsLayout()  # re-wrap at the new width

    def _send(self) -> None:
        if self.controller.send(self.input.text()):
            self.input.clear()

    def _reveal(self, node: Node) -> None:
        if node.parent is not None and node.parent is not self.controller.model.root:
            self.transcript.expand(self.controller.model.createIndex(node.parent.row(), 0,
                                                                     node.parent))
        self.transcript.scrollToBottom()
