"""Shared fixtures: a real PostgreSQL, a database per test cloned from a migrated template.

The server is 127.0.0.1:5432 when it answers (these machines run one), otherwise an embedded
pgserver started for the session; ``TITAN_TEST_PG=embedded|server`` forces one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from worker.config import Settings, reload_settings
from worker.db.engine import Database, libpq_url
from worker.db.migrate import upgrade
from worker.sitehost import stop_site_host

ROOT = Path(__file__).resolve().parent.parent
# No audio devices in tests: QtMultimedia's backend (PulseAudio retrying with no server) posts
# events into torn-down test apps; Jason's voice tests feed samples and check synthesized WAVs.
os.environ["TITAN_NO_AUDIO"] = "1"
SERVER_ADMIN_URL = os.environ.get("TITAN_TEST_SERVER_URL",
                                  "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _reachable(url: str) -> bool:
    try:
        psycopg.connect(libpq_url(url), connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


def _admin(url: str, *statements: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _with_database(admin_url: str, name: str) -> str:
    from sqlalchemy import make_url

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def embedded_admin_url() -> Iterator[str]:
    """An embedded pgserver for the whole session (what a new user gets).

    Its home is outside pytest's temp root: run as root, pgserver runs PostgreSQL as its own
    user, and any pytest session starting on the machine resets /tmp/pytest-of-root to 0700.
    """
    from worker.db.embedded import _servers, embedded_url

    home = Path(tempfile.mkdtemp(prefix="titan-test-embedded-"))
    yield embedded_url(home)
    server = _servers.pop((home / "pgdata").resolve(), None)
    if server is not None:  # stop it now rather than trust the exit hook
        server.cleanup()  # type: ignore[attr-defined]
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_admin_url(request: pytest.FixtureRequest) -> str:
    choice = os.environ.get("TITAN_TEST_PG", "auto")
    if choice == "server" or (choice == "auto" and _reachable(SERVER_ADMIN_URL)):
        return SERVER_ADMIN_URL
    return request.getfixturevalue("embedded_admin_url")


class TemplateDatabases:
    """Migrated template databases, one per server, cloned for each test."""

    def __init__(self) -> None:
        self.created: list[tuple[str, str]] = []

    def template_for(self, admin_url: str) -> str:
        for url, name in self.created:
            if url == admin_url:
                return name
        name = f"titan_tpl_{os.getpid()}_{len(self.created)}"
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        upgrade(_with_database(admin_url, name))
        self.created.append((admin_url, name))
        return name

    def clone(self, admin_url: str) -> tuple[str, str]:
        template = self.template_for(admin_url)
        name = f"titan_t_{uuid.uuid4().hex[:12]}"
        _admin(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        return name, _with_database(admin_url, name)


@pytest.fixture(scope="session")
def template_databases() -> Iterator[TemplateDatabases]:
    templates = TemplateDatabases()
    yield templates
    for url, name in templates.created:
        try:
            _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            pass


def _fresh_database(admin_url: str, templates: TemplateDatabases) -> Iterator[str]:
    name, url = templates.clone(admin_url)
    yield url
    try:
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error:
        pass


@pytest.fixture
def db_url(pg_admin_url: str, template_databases: TemplateDatabases) -> Iterator[str]:
    """A fresh, migrated database for this test (SQLAlchemy URL)."""
    yield from _fresh_database(pg_admin_url, template_databases)


@pytest.fixture(params=["server", "embedded"])
def any_db_url(request: pytest.FixtureRequest, template_databases: TemplateDatabases
               ) -> Iterator[str]:
    """The test runs twice: on the server at 127.0.0.1:5432 and on an embedded pgserver."""
    if request.param == "server":
        if not _reachable(SERVER_ADMIN_URL):
            pytest.skip("no PostgreSQL server at 127.0.0.1:5432")
        admin = SERVER_ADMIN_URL
    else:
        admin = request.getfixturevalue("embedded_admin_url")
    yield from _fresh_database(admin, template_databases)


@pytest.fixture
def titan_env(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """Environment of a Titan installation in tmp_path using this test's database.

    Applied to this process (settings reloaded) and returned for child processes.
    """
    home = tmp_path / "home"
    env = {
        "TITAN_HOME": str(home),
        "DATABASE_URL": libpq_url(db_url),
        "TITAN_RETRY_BASE_SECONDS": "0.1",
        "TITAN_POLL_SECONDS": "0.2",
        "PYTHONUNBUFFERED": "1",
    }
    for key in ("OUTPUT_DIR", "TEMPLATES_DIR", "OPS_TOKEN", "GITHUB_REPO", "GITHUB_TOKEN",
                "RENDER_DEPLOY_HOOK_API", "RENDER_DEPLOY_HOOK_WORKER", "ALLOWED_PATHS",
                "PROTECTED_PATHS", "TITAN_REQUIRE_APPROVAL", "TITAN_API_TOKEN", "STRIPE_API_KEY",
                "SHOPIFY_STORE", "SHOPIFY_TOKEN", "JASON_LLM_URL", "JASON_LLM_MODEL",
                "OPS_REPO_PATH", "OPS_TEST_COMMAND", "OPS_APPROVER_TOKEN",
                "TITAN_API_ALLOWED_HOSTS", "TITAN_AI_URL", "TITAN_AI_MODEL", "TITAN_AI_KEY",
                "TITAN_AI_LOCAL", "TITAN_AI_MAX_TOKENS_PER_PROJECT", "TITAN_AI_REPAIR_ROUNDS",
                "TITAN_AI_BUILDS", "TITAN_DEPLOY_TARGET", "TITAN_DEPLOY_OPTIONS"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reload_settings()
    yield {**os.environ, **env}
    stop_site_host(home)
    reload_settings()


@pytest.fixture
def settings(titan_env: dict) -> Settings:
    return reload_settings()


@pytest.fixture
async def db(db_url: str) -> Database:
    database = Database(db_url)
    yield database
    await database.dispose()


def titan(env: dict, *args: str, timeout: float = 120, check: bool = False
          ) -> subprocess.CompletedProcess[str]:
    """Run ``titan ARGS`` in a child process (the real CLI, as a user would)."""
    return subprocess.run([sys.executable, "-m", "titan_desktop.launcher", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=check, cwd=ROOT)


class WorkerProcess(subprocess.Popen):
    """A ``titan worker`` child whose output goes to a file, not a pipe: several workers'
    output would otherwise fill pipes nobody is reading yet."""

    log_path: Path

    def communicate(self, input=None, timeout=None):  # type: ignore[no-untyped-def]
        self.wait(timeout=timeout)
        return self.log_path.read_text(errors="replace"), None


def spawn_worker(env: dict, *args: str, **popen: object) -> WorkerProcess:
    import tempfile

    fd, name = tempfile.mkstemp(prefix="titan-worker-", suffix=".log")
    with os.fdopen(fd, "w") as log:
        proc = WorkerProcess([sys.executable, "-m", "worker.cli", "worker", *args], env=env,
                             stdout=log, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                             **popen)  # type: ignore[arg-type]
    proc.log_path = Path(name)
    return proc
