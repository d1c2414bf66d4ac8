"""``titan project edit`` and ``titan project rebuild`` (worker.services.rebuild)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from worker.config import Settings
from worker.errors import InvalidInput

COMMANDS = ("edit", "rebuild")


def add_commands(psub: Any) -> None:
    """Add ``edit`` and ``rebuild`` to ``titan project``'s subparsers."""
    ed = psub.add_parser("edit", help="change a project's spec (checked against its template's "
                                      "schema); --rebuild builds it again")
    ed.add_argument("ref", metavar="ID_OR_SLUG")
    ed.add_argument("--set", dest="set_fields", action="append", default=[],
                    metavar="KEY=VALUE",
                    help="change one spec field (a.b=x reaches into objects; JSON values such "
                         "as '[\"a\", \"b\"]' or null are taken as JSON); repeatable")
    ed.add_argument("--spec-file", type=Path, help="replace the whole spec with this JSON file")
    ed.add_argument("--rebuild", action="store_true", help="then rebuild it (a new build)")
    ed.add_argument("--json", action="store_true")
    rb = psub.add_parser("rebuild", help="build a finished project again from scaffold with its "
                                         "current spec; earlier builds and artifacts are kept")
    rb.add_argument("ref", metavar="ID_OR_SLUG")
    rb.add_argument("--json", action="store_true")


def _read_spec(path: Path) -> dict[str, Any]:
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput("--spec-file", f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise InvalidInput("--spec-file", f"{path} is not valid JSON: {exc}") from None
    if not isinstance(spec, dict):
        raise InvalidInput("--spec-file", "must contain a JSON object")
    return spec


def run(args: argparse.Namespace, settings: Settings) -> int:
    from worker.cli import _emit, _with_db
    from worker.services.projects import ProjectService
    from worker.services.rebuild import RebuildService, parse_assignments
    from worker.services.serialize import project_dict

    spec: dict[str, Any] | None = None
    patch: dict[str, Any] | None = None
    if args.project_command == "edit":
        # Bad input is refused before the database is opened: nothing is written.
        if args.spec_file is not None and args.set_fields:
            raise InvalidInput("--spec-file", "give either --spec-file or --set, not both")
        if args.spec_file is not None:
            spec = _read_spec(args.spec_file)
        elif args.set_fields:
            patch = parse_assignments(args.set_fields)
        elif not args.rebuild:
            raise InvalidInput("--set", "say what to change (--set KEY=VALUE or --spec-file)")

    async def body(db: Any) -> int:
        service = RebuildService(ProjectService.from_settings(db, settings))
        project = None
        lines = []
        if args.project_command == "edit" and (spec is not None or patch is not None):
            project = await service.edit_spec(args.ref, patch, spec=spec)
            lines.append(f"spec of {project.slug} saved")
        if args.project_command == "rebuild" or args.rebuild:
            project, job_id = await service.rebuild(args.ref)
            lines.append(f"rebuilding {project.slug}: build {project.build} queued (job "
                         f"{job_id}); earlier builds and their artifacts are kept")
        assert project is not None  # edit without changes and without --rebuild is refused
        data = project_dict(project)
        _emit(args, data, "\n".join(lines)
              + ("" if project.status == "queued" else "; `titan project rebuild "
                 f"{project.slug}` builds it"))
        return 0

    return _with_db(settings, body)
