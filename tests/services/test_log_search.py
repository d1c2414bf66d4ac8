"""Log text search on both PostgreSQLs: the server's pg_trgm index and, on the embedded
pgserver (no pg_trgm), Titan's own trigram index. Either way the search finds exactly what a
plain ILIKE finds, and the planner can answer a rare word from the index."""

from __future__ import annotations

import psycopg
import pytest

from worker.db.engine import Database, libpq_url
from worker.services.logquery import FALLBACK_INDEX, LogFilter, LogService

LINES = [
    "Build FAILED: exit status 2",
    "build started for Ünïcode Straße",
    "deploy done in 95% of the time",
    "tab\tseparated\tline",
    "multi\nline\nmessage with needle inside",
    "control \x01 character between words",
    "ab",
    "résumé uploaded",
    "UPPER CASE NEEDLE",
]
NEEDLES = ["failed", "BUILD", "straße", "ünï", "95%", "d_ne", "\tsep", "needle", "\x01 ch",
           "ab", "b", "résumé", "e n", "nothing like this", "e\nm"]


def _count_plain_ilike(conn: psycopg.Connection, needle: str) -> int:
    escaped = needle.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
    row = conn.execute("SELECT count(*) FROM log_entries WHERE message ILIKE %s",
                       (f"%{escaped}%",)).fetchone()
    assert row is not None
    return int(row[0])


def _index_kind(conn: psycopg.Connection) -> str:
    names = {r[0] for r in conn.execute(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'log_entries'")}
    return ("pg_trgm" if "ix_log_entries_message_trgm" in names
            else "own" if FALLBACK_INDEX in names else "none")


async def test_search_finds_what_ilike_finds_on_both_servers(any_db_url: str) -> None:
    with psycopg.connect(libpq_url(any_db_url), autocommit=True) as conn:
        kind = _index_kind(conn)
        trgm = conn.execute("SELECT count(*) FROM pg_available_extensions "
                            "WHERE name = 'pg_trgm'").fetchone()
        assert kind == ("pg_trgm" if trgm and trgm[0] else "own")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO log_entries (level, message) VALUES ('INFO', %s)",
                            [(line,) for line in LINES])
            # Filler, so the planner has a table worth indexing.
            cur.execute("INSERT INTO log_entries (level, message) SELECT 'INFO', "
                        "'filler line ' || md5(i::text) FROM generate_series(1, 20000) i")
            cur.execute("ANALYZE log_entries")
        expected = {needle: _count_plain_ilike(conn, needle) for needle in NEEDLES}
        conn.execute("SET enable_seqscan = off")  # can the index answer it? (not: is it cheaper)
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT * FROM log_entries WHERE message ILIKE '%failed%' "
            + ("AND titan_trigrams(message) @> titan_trigrams('failed') " if kind == "own"
               else "") + "ORDER BY id DESC LIMIT 500"))
    assert expected["failed"] == 1 and expected["needle"] == 2 and expected["d_ne"] == 0
    assert ("ix_log_entries_message_trgm" if kind == "pg_trgm" else FALLBACK_INDEX) in plan

    db = Database(any_db_url)
    try:
        service = LogService(db)
        for needle, count in expected.items():
            found = await service.query(LogFilter(text=needle), limit=25_000)
            assert len(found) == count, (kind, needle)
            assert all(needle.lower() in row.message.lower() for row in found)
    finally:
        await db.dispose()


@pytest.mark.parametrize("text", ["Ünïcode", "needle"])
async def test_new_lines_are_searchable_at_once(any_db_url: str, text: str) -> None:
    db = Database(any_db_url)
    try:
        service = LogService(db)
        assert await service.query(LogFilter(text=text)) == []
        with psycopg.connect(libpq_url(any_db_url), autocommit=True) as conn:
            conn.execute("INSERT INTO log_entries (level, message) VALUES ('INFO', %s)",
                         (f"a line about {text.upper()} written now",))
        found = await service.query(LogFilter(text=text))
        assert [row.message for row in found] == [f"a line about {text.upper()} written now"]
    finally:
        await db.dispose()


@pytest.mark.parametrize("limit", [7, 50, 500])
async def test_newest_first_pages_are_the_newest_matches_in_order(any_db_url: str,
                                                                   limit: int) -> None:
    """However the search reads the log (windows of ids from the newest back), a page is the
    newest ``limit`` matching lines, newest first, and the next page carries on below it: for a
    common word, a 1 % word, a word only in old lines, and a word thinned out over time."""
    with psycopg.connect(libpq_url(any_db_url), autocommit=True) as conn:
        conn.execute("""
            INSERT INTO log_entries (level, message)
            SELECT 'INFO', CASE
                WHEN i % 100 = 0 THEN 'job ' || i || ' Timed Out after 30 s'
                WHEN i % 5 = 0 THEN 'deploy step ' || i
                WHEN i < 3000 AND i % 3 = 0 THEN 'old trouble ' || i
                WHEN i % (1 + i / 1000) = 0 THEN 'thinning ' || i
                ELSE 'filler line ' || md5(i::text) END
            FROM generate_series(1, 30000) i""")
        conn.execute("ANALYZE log_entries")

        def newest(needle: str, before: int | None) -> list[int]:
            below = "" if before is None else f"AND id < {before} "
            return [r[0] for r in conn.execute(
                f"SELECT id FROM log_entries WHERE message ILIKE %s {below}"
                "ORDER BY id DESC LIMIT %s", (f"%{needle}%", limit))]

        db = Database(any_db_url)
        try:
            service = LogService(db)
            for needle in ("deploy", "timed out", "old trouble", "thinning"):
                before = None
                for _ in range(3):  # three pages down
                    page = [row.id for row in await service.query(
                        LogFilter(text=needle), limit=limit, before_id=before)]
                    assert page == newest(needle, before), (needle, before)
                    if len(page) < limit:
                        break
                    before = page[-1]
        finally:
            await db.dispose()
