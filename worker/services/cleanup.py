"""What deleting a project leaves behind on this machine: its service process, the site host
(when nothing else is published), its work and output folders; and its deployment on its
deploy target (worker/deploy) where the target allows taking it down."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from worker.logs import get_logger
from worker.templatekit.services import stop_service

log = get_logger("titan.cleanup")


def remove_project_files(settings: Any, slug: str, *, keep_files: bool = False,
                         stop_site_host: bool = False) -> tuple[list[str], list[Path],
                                                                list[Path]]:
    """Blocking. Returns (what was stopped, folders removed, folders kept)."""
    from worker import sitehost

    stopped: list[str] = []
    if slug and stop_service(settings.titan_home, slug):
        stopped.append("service")
    if stop_site_host and sitehost.stop_site_host(settings.titan_home):
        stopped.append("site host")
    removed: list[Path] = []
    kept: list[Path] = []
    for parent in (settings.work_dir, settings.projects_dir):
        folder = parent / slug
        # A slug never holds a path separator; the check guards against a corrupted row.
        if not slug or folder.resolve().parent != parent.resolve() or not folder.exists():
            continue
        if keep_files:
            kept.append(folder)
            continue
        shutil.rmtree(folder, ignore_errors=True)
        for leftover in parent.glob(f".{slug}.deploy*"):  # an interrupted deploy's staging
            shutil.rmtree(leftover, ignore_errors=True)
        removed.append(folder)
    # What a model wrote for the project (kept for replays, worker/ai/builds.py) goes with it.
    ai_record = settings.projects_dir / ".ai-builds" / f"{slug}.json"
    if slug and not keep_files and ai_record.parent.resolve() == \
            (settings.projects_dir / ".ai-builds").resolve() and ai_record.is_file():
        ai_record.unlink()
        removed.append(ai_record)
    # Earlier builds' files (worker/services/rebuild.py) go with it too.
    builds = settings.titan_home / "builds"
    folder = builds / slug
    if slug and folder.is_dir() and folder.resolve().parent == builds.resolve():
        if keep_files:
            kept.append(folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return stopped, removed, kept


def take_down_deployment(settings: Any, slug: str, name: str, target: str,
                         config: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Blocking. Returns (what was taken down, what is left up and why). A target that cannot
    be reached leaves the deployment up and says so: the project's rows are gone already."""
    from worker.deploy import teardown

    if target == "local":  # remove_project_files did it
        return [], []
    try:
        done = teardown(settings, slug, name, target, config)
    except Exception as exc:
        log.warning(f"could not take {slug} down from its {target} target: {exc}")
        return [], [f"the {target} deployment ({exc})"]
    return done.done, done.left
