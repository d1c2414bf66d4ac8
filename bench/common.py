"""Helpers shared by the benchmarks: machine description, load, percentiles, tables, servers.

Import it as ``bench.common`` after putting the repository root (not ``bench/``, whose queue.py
shadows the stdlib's) first on ``sys.path`` — see ``fix_sys_path``.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def fix_sys_path() -> None:
    """Drop ``bench/`` from sys.path (its queue.py would shadow ``import queue``), add the root."""
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def forget_user_data() -> None:
    """Benchmarks never touch your data: they ignore DATABASE_URL and TITAN_HOME (each script
    starts its own embedded PostgreSQL and Titan home in a temp dir and sets them for its own
    processes)."""
    for name in ("DATABASE_URL", "TITAN_HOME"):
        os.environ.pop(name, None)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine_description() -> str:
    """CPU model, cores, memory, OS and Python: enough to tell two result tables apart."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}")


def header(title: str, *, extra: Sequence[str] = ()) -> None:
    """The self-describing preamble every benchmark prints before its table."""
    if hasattr(sys.stdout, "reconfigure"):  # progress lines show up at once, also in a file
        sys.stdout.reconfigure(line_buffering=True)
    print(f"== {title} ==")
    print(f"machine:      {machine_description()}")
    print(f"load average: {load_average()} (1/5/15 min) at start"
          + ("  -- NOT a quiet machine, figures are pessimistic"
             if os.getloadavg()[0] > (os.cpu_count() or 1) * 0.5 else ""))
    for line in extra:
        print(line)
    print()


def pct(values: Sequence[float], p: float) -> float:
    """The p-th percentile by nearest rank on the sorted values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def median_range(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """``median (min-max)`` of repeated measurements."""
    if not values:
        return "-"
    med = fmt.format(statistics.median(values))
    if len(values) == 1:
        return med
    return f"{med} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain fixed-width table (first column left-aligned, the rest right-aligned)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                         for i, c in enumerate(row))

    print(line(cells[0]))
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row))
    print()


@contextmanager
def embedded_server(home: Path) -> Iterator[str]:
    """A fresh embedded PostgreSQL (pgserver) under ``home``; yields its SQLAlchemy URL
    (``postgresql+psycopg://...?host=<socket dir>``) and stops it on leaving the block, before
    the caller's temp dir goes away (pgserver's own at-exit stop fails once pgdata is deleted)."""
    import warnings

    from worker.db.embedded import to_sqlalchemy_url

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

        home.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(home / "pgdata", cleanup_mode="stop")
    try:
        yield to_sqlalchemy_url(server.get_uri())
    finally:
        server.cleanup()


def database_url(server_url: str, name: str) -> str:
    """Create database ``name`` on the server (dropped first if left over) and return its URL."""
    import psycopg
    from sqlalchemy import make_url

    from worker.db.engine import libpq_url

    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def endpoint_arguments(ap: Any) -> None:
    """``--url``, ``--model`` and ``--key`` of a model to measure (default: TITAN_AI_URL,
    TITAN_AI_MODEL, TITAN_AI_KEY); ``parsed_with_endpoint`` checks them."""
    ap.add_argument("--url", default=os.environ.get("TITAN_AI_URL"))
    ap.add_argument("--model", default=os.environ.get("TITAN_AI_MODEL"))
    ap.add_argument("--key", default=os.environ.get("TITAN_AI_KEY"))


def parsed_with_endpoint(ap: Any) -> Any:
    args = ap.parse_args()
    if args.url and not args.model:
        ap.error("--url needs --model (or TITAN_AI_MODEL)")
    return args
