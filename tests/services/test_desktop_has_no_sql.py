"""No module under titan_desktop/ talks to the database itself: worker/services is the only door.

import-linter forbids the driver imports (pyproject.toml); this test also catches SQL that would
slip past it — a session opened on ``ctx.db``, a statement in a string, a LISTEN — by reading
the source. ``offences`` takes the folder so it can be pointed at an older tree by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

FORBIDDEN = {
    "imports a database driver or SQLAlchemy": re.compile(
        r"^\s*(from|import)\s+(sqlalchemy|psycopg|asyncpg|worker\.db\.engine|worker\.db\.raw"
        r"|worker\.queue)\b", re.M),
    "opens a database session": re.compile(r"\.session\(\)"),
    "executes a statement": re.compile(r"\.(execute|executemany|scalars?|scalar_one)\("),
    "holds SQL text": re.compile(
        r"\bSELECT\s+[\w*(][^;\"']{0,300}?\bFROM\b|\bUPDATE\s+\w+\s+SET\b|\bINSERT\s+INTO\b"
        r"|\bDELETE\s+FROM\b|[\"']\s*LISTEN\s+\w+"),
}


def offences(root: Path) -> list[str]:
    return _scan(sorted(root.rglob("*.py")), root.parent, FORBIDDEN)


def _scan(paths: list[Path], base: Path, patterns: dict[str, re.Pattern[str]]) -> list[str]:
    """``path:line what`` for the first match of each pattern in each file."""
    found = []
    for path in paths:
        source = path.read_text(encoding="utf-8")
        for what, pattern in patterns.items():
            match = pattern.search(source)
            if match:
                line = source.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(base)}:{line} {what}")
    return found


def test_no_desktop_module_runs_sql() -> None:
    assert offences(ROOT / "titan_desktop") == []


def test_the_check_sees_sql(tmp_path: Path) -> None:
    """The patterns are not dead: each kind of leak is reported, with its line."""
    pkg = tmp_path / "titan_desktop"
    pkg.mkdir()
    (pkg / "leak.py").write_text(
        "from sqlalchemy import text\n\n"
        "async def load(ctx):\n"
        "    async with ctx.db.session() as session:\n"
        '        return await session.execute(text("SELECT id FROM projects"))\n',
        encoding="utf-8")
    (pkg / "clean.py").write_text('"""Shows the names the service gives it."""\n',
                                  encoding="utf-8")
    assert offences(pkg) == [
        "titan_desktop/leak.py:1 imports a database driver or SQLAlchemy",
        "titan_desktop/leak.py:4 opens a database session",
        "titan_desktop/leak.py:5 executes a statement",
        "titan_desktop/leak.py:5 holds SQL text",
    ]


# The other front ends live in worker/: the CLI, the HTTP API, Jason and the per-feature CLIs.
# They may map SQLAlchemy's exceptions to answers, so only running SQL is checked there.
FRONT_ENDS = ["worker/cli.py", "worker/api", "worker/jason", "worker/ops/cli.py",
              "worker/sales/cli.py", "worker/sales/api.py", "worker/ai/cli.py",
              "worker/templates_cli.py"]


def front_end_offences(root: Path) -> list[str]:
    paths = []
    for entry in FRONT_ENDS:
        target = root / entry
        paths += sorted(target.rglob("*.py")) if target.is_dir() else [target]
    running_sql = {what: p for what, p in FORBIDDEN.items() if not what.startswith("imports")}
    return _scan(paths, root, running_sql)


def test_no_cli_api_or_jason_module_runs_sql() -> None:
    assert front_end_offences(ROOT) == []
