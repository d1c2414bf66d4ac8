"""Finding an artifact's file for download, confined to the project's own folders.

An artifact row holds a path a template returned; the API serves it only when the real path
(symlinks resolved) lies inside the project's output folder (``OUTPUT_DIR/<slug>``) or its work
folder (``TITAN_HOME/work/<slug>``). A row pointing anywhere else — written by a broken or
hostile template, or a folder since moved — is answered as missing, never read.
"""

from __future__ import annotations

import mimetypes
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from worker.db.engine import Database
from worker.db.models import Artifact, Project
from worker.errors import NotFound


@dataclass(frozen=True)
class ArtifactFile:
    path: Path
    # What the download is called (Content-Disposition) and its media type.
    filename: str
    media_type: str
    is_dir: bool


class ArtifactService:
    def __init__(self, db: Database, settings: Any) -> None:
        self.db = db
        self.settings = settings

    async def file(self, project_id: int, artifact_id: int) -> ArtifactFile:
        """The artifact's file or folder; NotFound when it has none, it is gone, or it lies
        outside the project's folders."""
        async with self.db.session() as session:
            row = (await session.execute(
                select(Artifact, Project.slug).join(Project, Project.id == Artifact.project_id)
                .where(Artifact.id == artifact_id, Artifact.project_id == project_id))).first()
        if row is None:
            raise NotFound(f"project {project_id} has no artifact {artifact_id}")
        artifact, slug = row
        if not artifact.path:
            where = f" (it is a URL: {artifact.uri})" if artifact.uri else ""
            raise NotFound(f"artifact {artifact_id} has no file{where}")
        path = confined(Path(artifact.path), self.roots(slug))
        if path is None:
            raise NotFound(f"artifact {artifact_id}'s file is missing or outside the "
                           f"project's folders")
        if path.is_dir():
            return ArtifactFile(path, f"{path.name}.zip", "application/zip", True)
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return ArtifactFile(path, path.name, media_type, False)

    def roots(self, slug: str) -> list[Path]:
        """The folders a project's artifact files may live in (its output and work folders)."""
        return [self.settings.projects_dir / slug, self.settings.work_dir / slug]


def confined(path: Path, roots: list[Path]) -> Path | None:
    """``path`` resolved, when it exists and lies inside one of ``roots``; else None."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        return None
    for root in roots:
        try:
            real_root = root.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if real != real_root and real.is_relative_to(real_root):
            return real if real.is_file() or real.is_dir() else None
    return None


def zip_folder(folder: Path) -> Path:
    """The folder's regular files in a temporary zip (the caller deletes it). Symlinks are
    left out: one could point outside the project."""
    fd, name = tempfile.mkstemp(prefix="titan-artifact-", suffix=".zip")
    os.close(fd)
    with zipfile.ZipFile(name, "w", zipfile.ZIP_DEFLATED) as archive:
        for dirpath, dirnames, filenames in os.walk(folder):
            base = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not (base / d).is_symlink())
            for filename in sorted(filenames):
                item = base / filename
                if item.is_file() and not item.is_symlink():
                    archive.write(item, item.relative_to(folder).as_posix())
    return Path(name)
