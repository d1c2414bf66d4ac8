"""``GET /api/projects/{id}/artifacts/{artifact_id}/download``: an artifact's file.

A file is streamed as it is (its media type guessed from its name, ``Content-Disposition:
attachment``); a folder (a built site) as a zip made for the request. Files outside the project's
folders are answered 404, like missing ones (worker/services/artifacts.py).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from worker.api.deps import DB, SettingsDep
from worker.services.artifacts import ArtifactService, zip_folder

router = APIRouter(prefix="/api/projects", tags=["projects"])
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get(
    "/{project_id}/artifacts/{artifact_id}/download",
    summary="download an artifact's file (a folder comes as a zip)",
    response_class=FileResponse,
    responses={200: {"description": "the file's bytes", "content": {
                         "application/octet-stream": {"schema": {"type": "string",
                                                                 "format": "binary"}}}},
               404: {"description": "no such artifact, it has no file (a URL), or its file is "
                                    "missing or outside the project's folders"}})
async def download_artifact(project_id: Id, artifact_id: Id, db: DB,
                            settings: SettingsDep) -> FileResponse:
    found = await ArtifactService(db, settings).file(project_id, artifact_id)
    if not found.is_dir:
        return FileResponse(found.path, media_type=found.media_type, filename=found.filename)
    archive = await asyncio.to_thread(zip_folder, found.path)
    return FileResponse(archive, media_type=found.media_type, filename=found.filename,
                        background=BackgroundTask(archive.unlink, missing_ok=True))
