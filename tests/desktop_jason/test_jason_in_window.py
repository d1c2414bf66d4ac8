"""Jason in the running app: the chat uses his brain, acts on the window, announces decisions."""

from __future__ import annotations

from sqlalchemy import text

from tests.desktop.conftest import open_window, run
from tests.helpers import wait_until
from worker.config import reload_settings
from worker.jason.parser import Parse, parse


def _texts(node) -> list[str]:
    return [child.values[0] for child in node.children]


def test_chat_commands_act_and_jason_decisions_are_announced(titan_env: dict, qloop) -> None:
    async def body() -> None:
        async with open_window(reload_settings()) as window:
            chat = window.input_tab.chat
            spoken: list[str] = []
            window.jason.said.connect(spoken.append)

            message = chat.send("Jason, create project Moon Garden using persona basic")
            await wait_until(lambda: any("Creating Moon Garden" in t for t in _texts(message)),
                             15, "Jason's reply")
            project_id = next(pid for pid, node in chat.threads.items() if node is message)
            await wait_until(lambda: any("published" in t for t in _texts(message)), 60,
                             "the published event threaded under the request")
            assert spoken[0].startswith("Creating Moon Garden")

            chat.send("show me the logs")
            await wait_until(lambda: window.tabs.currentWidget() is window.logs_tab, 10,
                             "the Logs tab")

            # Jason's timeout decision (made by a worker) is announced in the chat and spoken.
            async with window.ctx.db.session() as s:
                await s.execute(text(
                    "INSERT INTO approvals (project_id, decided_by, actor, decision, comment) "
                    "VALUES (:id, 'jason', 'Jason', 'approved', 'nothing was flagged')"),
                    {"id": project_id})
            expected = "Nobody answered in time, so I approved Moon Garden: nothing was flagged"
            await wait_until(lambda: any(expected in n.values[0]
                                         for n in chat.model.root.children), 10,
                             "the announcement")
            assert expected in spoken

    run(qloop, body())


def test_a_spoken_commands_parse_goes_straight_to_the_brain(titan_env: dict, qloop) -> None:
    """The recognizer's parse is acted on as it is: the words it heard are shown, not re-parsed
    (here words the text parser would reject, so a re-parse would answer "didn't catch that")."""
    async def body() -> None:
        async with open_window(reload_settings()) as window:
            chat = window.input_tab.chat
            heard = Parse("show_tab", {"tab": "logs"}, text="logs tab please zork")
            assert parse(heard.text, [], []).command != "show_tab"  # what a re-parse would get
            window.jason.handle_voice(heard)
            await wait_until(lambda: window.tabs.currentWidget() is window.logs_tab, 10,
                             "the Logs tab")
            message = chat.model.root.children[-1]
            assert message.values[0].endswith("You: logs tab please zork")
            await wait_until(lambda: _texts(message) == ["Jason: Here is the logs tab."], 10,
                             "Jason's reply under what he heard")

    run(qloop, body())
