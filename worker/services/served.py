"""Bring published projects back online when a worker or the desktop starts (after a reboot,
a crash of the site host or of a service process), and keep their stored URLs true.

Sites come back on the loopback site host, on its old port when that is free; a service comes
back with its recorded command line, on its old port when free. When a port had to change, the
projects' URLs (and their ``url`` artifacts) follow it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from worker.db.raw import driver_connection
from worker.logs import get_logger

log = get_logger("titan.served")

# Projects whose URL somebody may open: published ones and those waiting for a reviewer,
# deployed on this machine (a folder, GitHub Pages or Render target is served by somebody else).
_SERVED = """
    SELECT id, slug, url FROM projects
    WHERE url IS NOT NULL AND status IN ('published', 'awaiting_approval')
      AND deploy_target = 'local'
    ORDER BY id
"""


@dataclass(frozen=True)
class Moved:
    project_id: int
    slug: str
    old_url: str
    new_url: str


async def restore_served(use: Callable[[], AbstractAsyncContextManager[Any]], settings: Any
                         ) -> list[Moved]:
    """``use()`` opens a connection or session (a worker's ``WorkerConnection.use``, a
    ``Database.session``). Blocking work (HTTP probes, process starts) runs in a thread."""
    async with use() as executor:
        conn = await driver_connection(executor)
        rows = await (await conn.execute(_SERVED)).fetchall()
    if not rows:
        return []
    moves = await asyncio.to_thread(bring_back, settings, [tuple(r) for r in rows])
    if moves:
        async with use() as executor:
            conn = await driver_connection(executor)
            for move in moves:
                await conn.execute(
                    "UPDATE projects SET url = %(new)s, updated_at = now() "
                    "WHERE id = %(id)s AND url = %(old)s",
                    {"id": move.project_id, "old": move.old_url, "new": move.new_url})
                await conn.execute(
                    "UPDATE artifacts SET uri = %(new)s WHERE project_id = %(id)s "
                    "AND uri = %(old)s",
                    {"id": move.project_id, "old": move.old_url, "new": move.new_url})
        for move in moves:
            log.warning(f"{move.slug} moved from {move.old_url} to {move.new_url} "
                        "(its old port is taken)", project_id=move.project_id)
    return moves


def bring_back(settings: Any, rows: list[tuple[int, str, str]]) -> list[Moved]:
    """Blocking. One process at a time per TITAN_HOME (a worker and the desktop start together)."""
    import fasteners

    from worker.sitehost import ensure_site_host
    from worker.templatekit.services import ensure_service, service_state

    home: Path = settings.titan_home
    home.mkdir(parents=True, exist_ok=True)
    moves: list[Moved] = []
    sites: list[tuple[int, str, str]] = []
    with fasteners.InterProcessLock(str(home / "served.lock")):
        for project_id, slug, url in rows:
            if service_state(home, slug):
                try:
                    new_url = ensure_service(home, slug)
                except Exception as exc:
                    log.error(f"could not bring {slug} back: {exc}", project_id=project_id)
                    continue
                if new_url and new_url != url:
                    moves.append(Moved(project_id, slug, url, new_url))
            elif (settings.projects_dir / slug / "index.html").is_file():
                sites.append((project_id, slug, url))
        if sites:
            base = ensure_site_host(settings.projects_dir, home)
            for project_id, slug, url in sites:
                new_url = urljoin(base, f"{slug}/")
                if new_url != url:
                    moves.append(Moved(project_id, slug, url, new_url))
            log.info(f"site host serving {len(sites)} published sites at {base}")
    return moves
