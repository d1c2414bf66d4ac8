"""Jason in the running app: the chat uses his brain, acts on the window, announces decisions."""

from __future__ import annotations

from sqlalchemy import text

from tests.desktop.conftest import open_window, run
from tests.helpers import wait_until
from worker.config import reload_settings


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
