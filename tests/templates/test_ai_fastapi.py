"""fastapi/service written by a model: the "model" is the SCRIPTED OpenAI-compatible server on
loopback (tests/ai/scripted.py), because a first draft that fails one test and its fix need a
competent model on demand. Everything else is real: the CLI and a worker process, PostgreSQL
(ledger, ``ai_rounds``), pytest in bubblewrap, uvicorn serving the model's app in bubblewrap on
a unix socket behind Titan's loopback proxy, its SQLite file, HTTP verify with a restart, and
the published archive."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.ai.scripted import ScriptedAI
from tests.conftest import titan
from tests.templates.conftest import run_worker, show
from tests.templates.test_ai_templates import (
    edits,
    logs,
    needs_bwrap,
    rounds_and_calls,
    sent,
    with_model,
)
from worker.templatekit.services import restart_service, service_state, stop_service

MAIN = '''\
"""Reading List: books kept in SQLite."""

import os
import socket
import sqlite3

from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel

app = FastAPI(title="Reading List")


class NewBook(BaseModel):
    title: str
    author: str
    pages: int
    finished: bool = False


def db() -> sqlite3.Connection:
    conn = sqlite3.connect(os.environ.get("SERVICE_DB", "service.db"))
    conn.row_factory = sqlite3.Row
    conn.execute("CREATE TABLE IF NOT EXISTS books (id INTEGER PRIMARY KEY, title TEXT, "
                 "author TEXT, pages INTEGER, finished INTEGER)")
    return conn


def row(r: sqlite3.Row) -> dict:
    return {"id": r["id"], "title": r["title"], "author": r["author"], "pages": r["pages"],
            "finished": bool(r["finished"])}


@app.get("/health")
def health() -> dict:
    return {"status": "ok", "service": "reading-list"}


@app.get("/")
def index() -> dict:
    return {"name": "Reading List", "description": "Books to read", "resources": ["books"]}


@app.get("/books")
def list_books() -> list:
    with db() as conn:
        return [row(r) for r in conn.execute("SELECT * FROM books ORDER BY id")]


@app.post("/books", status_code=201)
def create_book(book: NewBook) -> dict:
    with db() as conn:
        cur = conn.execute("INSERT INTO books (title, author, pages, finished) VALUES (?, ?, ?, ?)",
                           (book.title, book.author, book.pages, int(book.finished)))
        return row(conn.execute("SELECT * FROM books WHERE id = ?", (cur.lastrowid,)).fetchone())


@app.get("/books/{book_id}")
def get_book(book_id: int) -> dict:
    with db() as conn:
        found = conn.execute("SELECT * FROM books WHERE id = ?", (book_id,)).fetchone()
    if found is None:
        raise HTTPException(404, "no such book")
    return row(found)


@app.delete("/books/{book_id}", status_code=204)
def delete_book(book_id: int) -> Response:
    with db() as conn:
        if conn.execute("DELETE FROM books WHERE id = ?", (book_id,)).rowcount == 0:
            raise HTTPException(404, "no such book")
    return Response(status_code=204)


@app.get("/probe")
def probe(home: str) -> dict:
    """What this code can reach from where it runs (the test asks it)."""
    reached = {}
    for name, address in {"postgres": ("127.0.0.1", 5432), "outside": ("1.1.1.1", 53)}.items():
        try:
            socket.create_connection(address, timeout=2).close()
            reached[name] = True
        except OSError:
            reached[name] = False
    reached["database_url"] = "DATABASE_URL" in os.environ
    reached["titan_home_files"] = len(os.listdir(home)) if os.path.isdir(home) else -1
    return reached
'''
TESTS = '''\
from fastapi.testclient import TestClient

from app.main import app


def client(tmp_path, monkeypatch):
    monkeypatch.setenv("SERVICE_DB", str(tmp_path / "test.db"))
    return TestClient(app)


def test_health(tmp_path, monkeypatch):
    assert client(tmp_path, monkeypatch).get("/health").json()["status"] == "ok"


def test_books_round_trip(tmp_path, monkeypatch):
    c = client(tmp_path, monkeypatch)
    made = c.post("/books", json={"title": "Dune", "author": "Herbert", "pages": 412})
    assert made.status_code == 201
    assert c.get(f"/books/{made.json()['id']}").json() == made.json()
    assert c.delete(f"/books/{made.json()['id']}").status_code == 204
    assert c.get(f"/books/{made.json()['id']}").status_code == 404


def test_books_survive_a_new_client(tmp_path, monkeypatch):
    client(tmp_path, monkeypatch).post("/books", json={"title": "Emma", "author": "Austen",
                                                       "pages": 474})
    assert [b["title"] for b in client(tmp_path, monkeypatch).get("/books").json()] == ["Emma"]
'''
# The first draft forgets to store `finished`; the fix stores it.
BROKEN = MAIN.replace("int(book.finished)))", "0))")
FIXED = {"path": "app/main.py", "search": "0))", "replace": "int(book.finished)))"}
BROKEN_TESTS = TESTS + '''

def test_finished_is_kept(tmp_path, monkeypatch):
    c = client(tmp_path, monkeypatch)
    made = c.post("/books", json={"title": "Ulysses", "author": "Joyce", "pages": 730,
                                  "finished": True})
    assert c.get(f"/books/{made.json()['id']}").json()["finished"] is True
'''


@pytest.fixture
def env_with_services(titan_env: dict) -> dict:
    yield titan_env
    stop_service(Path(titan_env["TITAN_HOME"]), "reading-list")


@needs_bwrap
def test_the_model_writes_a_sqlite_service_that_runs_only_in_the_sandbox(
        env_with_services: dict, db_url: str) -> None:
    with ScriptedAI() as server:
        server.then(edits({"path": "app/main.py", "content": BROKEN},
                          {"path": "tests/test_app.py", "content": BROKEN_TESTS}),
                    edits(FIXED))
        env = with_model(env_with_services, server)
        created = titan(env, "project", "create", "Reading List", "--template",
                        "fastapi/service", "--type", "api-service", "--description",
                        "A REST service for a reading list: books with title, author, pages "
                        "and whether I finished them", "--feature", "books")
        assert created.returncode == 0, created.stderr
        run_worker(env)

    project = show(env, "reading-list")
    assert project["status"] == "published", project.get("lastError")
    first = sent(server, 0)
    assert "books with title, author, pages" in first and "SERVICE_DB" in first
    assert "_store: dict[str, list[dict]]" in first  # the in-memory scaffold, shown
    assert "test_finished_is_kept" in sent(server, 1)  # the failing test went back
    rounds, calls = rounds_and_calls(db_url, project["id"])
    assert [(r.round, r.passed) for r in sorted(rounds, key=lambda r: r.round)] == [
        (1, False), (2, True)]
    assert len(calls) == 2

    text = logs(env, "reading-list")
    assert "pytest (sandboxed) exited 0 in the sandbox" in text
    assert "started the model-written service in the sandbox" in text
    assert "their items kept across a restart" in text

    # The service a user reaches: the model's fields, kept in SQLite in the project's folder.
    home = Path(env["TITAN_HOME"])
    url = project["url"].rstrip("/")
    book = {"title": "Middlemarch", "author": "Eliot", "pages": 880, "finished": True}
    made = httpx.post(f"{url}/books", json=book, trust_env=False)
    assert made.status_code == 201 and made.json()["finished"] is True
    assert httpx.post(f"{url}/books", json={"title": "x"}, trust_env=False).status_code == 422
    database = home / "work" / "reading-list" / "service-data" / "service.db"
    assert database.is_file()
    restart_service(home, "reading-list")
    again = httpx.get(f"{url}/books/{made.json()['id']}", trust_env=False)
    assert again.json() == made.json()

    # It runs in bubblewrap: no PostgreSQL, no outside, no secrets, no TITAN_HOME.
    assert any(home.iterdir())
    probe = httpx.get(f"{url}/probe", params={"home": str(home)}, trust_env=False,
                      timeout=30).json()
    assert probe == {"postgres": False, "outside": False, "database_url": False,
                     "titan_home_files": 0}
    pid = service_state(home, "reading-list")["pid"]
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    assert any(os.path.basename(os.readlink(f"/proc/{c}/exe")) == "bwrap" for c in children)

    archive = next(a for a in project["artifacts"] if a["kind"] == "archive")
    with zipfile.ZipFile(archive["path"]) as zf:
        assert "sqlite3" in zf.read("app/main.py").decode()

    deleted = titan(env, "project", "delete", "reading-list")
    assert deleted.returncode == 0, deleted.stderr
    assert not database.exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{url}/health", trust_env=False, timeout=2)
