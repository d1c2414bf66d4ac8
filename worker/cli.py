"""Titan's command line (the Qt-free part): ``titan db|worker|project|logs|jason|api|...``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import shlex
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn

from worker import __version__
from worker.config import Settings, get_settings
from worker.errors import Conflict, InvalidInput, NotFound, TitanError

EXIT_USAGE = 2


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one clear line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="titan", description="Titan: build, deploy and publish projects.")
    p.add_argument("--version", action="version", version=f"titan {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    db = sub.add_parser("db", help="database maintenance")
    dbsub = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    dbsub.add_parser("upgrade", help="apply migrations")
    dbsub.add_parser("status", help="show the database and its migration revision")
    backup = dbsub.add_parser("backup", help="back up the database (pg_dump custom format)")
    backup.add_argument("file", nargs="?", type=Path,
                        help="where to write it (default: a new file in TITAN_HOME/backups)")
    restore = dbsub.add_parser("restore", help="replace the database's contents by a backup")
    restore.add_argument("file", type=Path)
    restore.add_argument("--force", action="store_true",
                         help="restore even while workers are running on the database")

    w = sub.add_parser("worker", help="run a worker (headless)")
    w.add_argument("--concurrency", type=_positive_int, default=4)
    w.add_argument("--batch-size", type=_positive_int, default=None)
    w.add_argument("--exit-when-idle", action="store_true",
                   help="exit 0 once no job is running or due soon (retries included)")
    w.add_argument("--grace", type=float, default=30.0,
                   help="seconds running jobs get to finish after SIGTERM")
    _log_format_option(w)

    proj = sub.add_parser("project", help="create and inspect projects")
    psub = proj.add_subparsers(dest="project_command", required=True, parser_class=_Parser)
    c = psub.add_parser("create", help="create a project and queue its pipeline")
    c.add_argument("name")
    c.add_argument("--template", default=None, help="default: persona/basic")
    c.add_argument("--type", default=None,
                   help="project type (default: the template's, e.g. cli for python/cli)")
    c.add_argument("--description")
    c.add_argument("--feature", action="append", default=[])
    c.add_argument("--spec-file", type=Path)
    c.add_argument("--require-approval", action="store_true", default=None)
    c.add_argument("--target", default=None, metavar="TARGET",
                   help="deploy target: local, folder, github-pages, render (default: "
                        "TITAN_DEPLOY_TARGET for a static site, else local)")
    c.add_argument("--target-option", action="append", default=[], metavar="NAME=VALUE",
                   help="a deploy target option, e.g. root=/srv/www url=https://example.org/ "
                        "(README: Deploy targets)")
    c.add_argument("--describe", metavar="TEXT",
                   help="let the AI choose the template, spec and plan from this description")
    c.add_argument("--yes", action="store_true", help="with --describe: build without asking")
    c.add_argument("--json", action="store_true")
    ls = psub.add_parser("list", help="list projects")
    ls.add_argument("--status")
    ls.add_argument("--json", action="store_true")
    for name, text in (("show", "status, stage, jobs, artifacts, url"),
                       ("plan", "the project's plan: features, milestones, goals"),
                       ("retry", "run a failed project's failed step again"),
                       ("cancel", "cancel a project and its jobs"),
                       ("delete", "delete a project and its history, stop its service, "
                                  "remove its folders")):
        cmd = psub.add_parser(name, help=text)
        cmd.add_argument("ref", metavar="ID_OR_SLUG")
        cmd.add_argument("--json", action="store_true")
        if name == "delete":
            cmd.add_argument("--keep-files", action="store_true",
                             help="keep its work and output folders")
    for name in ("approve", "reject"):
        cmd = psub.add_parser(name, help=f"{name} a project awaiting approval")
        cmd.add_argument("ref", metavar="ID_OR_SLUG")
        cmd.add_argument("--comment", default="")
        cmd.add_argument("--json", action="store_true")

    cp = psub.add_parser("copy", help="show the model-written copy of a project, or edit it "
                                      "while the project awaits approval")
    cp.add_argument("ref", metavar="ID_OR_SLUG")
    cp.add_argument("--set", dest="set_fields", action="append", default=[],
                    metavar="FIELD=TEXT",
                    help="change one text (tagline, about, bio, 'features[NAME]'); repeatable")
    cp.add_argument("--json", action="store_true")
    from worker import rebuild_cli

    rebuild_cli.add_commands(psub)  # edit, rebuild

    lg = sub.add_parser("logs", help="show the structured log")
    lg.add_argument("--project")
    lg.add_argument("--level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    lg.add_argument("--limit", type=_positive_int, default=50)
    lg.add_argument("--follow", "-f", action="store_true")
    lg.add_argument("--json", action="store_true")

    # Dispatched before parsing (main): listed here so ``titan --help`` shows it.
    sub.add_parser("jason", help="Jason from the shell: say, hear, parse, ask (titan jason -h)",
                   add_help=False)
    api = sub.add_parser("api", help="serve the REST API")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=_port, default=3000)
    _log_format_option(api)

    sh = sub.add_parser("site-host", help=argparse.SUPPRESS)
    sh.add_argument("--root", type=Path, required=True)
    sh.add_argument("--state", type=Path, required=True)
    sh.add_argument("--port", type=_port_or_any, default=0)

    for module_name in PLUGIN_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        module.add_commands(sub, COMMANDS)
    return p


# Feature packages add their own subcommands: ``add_commands(subparsers, commands)`` registers
# parsers and puts ``name -> handler(args, settings) -> int`` into ``commands``.
PLUGIN_MODULES = ("worker.templates_cli", "worker.ops.cli", "worker.sales.cli",
                  "worker.ai.cli")


def _log_format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-format", choices=["auto", "json", "text"], default="auto",
                        help="log lines on stdout: readable text on a terminal and JSON "
                             "otherwise (auto, the default), or always json / text")


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    return number


def _port(value: str) -> int:
    number = _positive_int(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a TCP port (1 to 65535)")
    return number


def _port_or_any(value: str) -> int:  # 0: any free port
    return 0 if value.strip() == "0" else _port(value)


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "jason":  # its own parser; Qt-free like the rest of worker
        from worker.jason.cli import main as jason_main

        return jason_main(args_list[1:])
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = get_settings()
    except Exception as exc:  # a malformed environment variable
        print(f"titan: configuration error: {_first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    handler = COMMANDS[args.command]
    try:
        return handler(args, settings)
    except (InvalidInput, UsageError) as exc:
        print(f"titan: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NotFound as exc:
        print(f"titan: {exc}", file=sys.stderr)
        return 1
    except (Conflict, TitanError) as exc:
        print(f"titan: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(text.split("\n")[:3]) if text else type(exc).__name__


def _with_db(settings: Settings, body: Callable[[Any], Awaitable[int]]) -> int:
    from worker.bootstrap import open_database

    async def runner() -> int:
        db = await open_database(settings)
        try:
            return await body(db)
        finally:
            await db.dispose()

    return asyncio.run(runner())


# -- db ---------------------------------------------------------------------------------------

def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    if args.db_command in ("backup", "restore"):
        return _db_backup_restore(args, settings)
    from worker.bootstrap import prepare_database
    from worker.db.engine import describe_url
    from worker.db.migrate import current_revision, head_revision

    url = prepare_database(settings, migrate=args.db_command == "upgrade")
    where = "embedded" if settings.embedded else describe_url(url)
    print(f"database: {where}; revision {current_revision(url)} (head {head_revision(url)})")
    return 0


def _db_backup_restore(args: argparse.Namespace, settings: Settings) -> int:
    """``titan db backup [FILE]`` / ``titan db restore FILE`` (worker/services/backups.py)."""
    import logging

    from worker.services import backups

    # This command says what happened itself; the service's log lines are for workers' logs.
    logging.getLogger("titan.backups").addHandler(logging.NullHandler())
    where = "the embedded database" if settings.embedded else "the DATABASE_URL database"
    if args.db_command == "backup":
        made = backups.back_up_blocking(settings, args.file)
        print(f"backed up {where} to {made.path} ({made.size / 1e6:.1f} MB)")
        return 0
    revision = backups.restore_blocking(settings, args.file, force=args.force)
    print(f"restored {args.file} (schema revision {revision}) into {where}")
    return 0


# -- worker -----------------------------------------------------------------------------------

def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import logging

    from worker.bootstrap import open_database
    from worker.handlers import default_registry
    from worker.logs import DatabaseLogSink, configure_logging
    from worker.pipeline.jobs import repair_output_dirs
    from worker.runner import Worker

    configure_logging(settings.log_level, secrets=settings.secret_values(),
                      log_format=args.log_format)
    sink = DatabaseLogSink(level=logging.INFO)
    logging.getLogger().addHandler(sink)

    async def run() -> int:
        import gc

        db = await open_database(settings, pool_size=max(5, min(args.concurrency, 20)))
        await repair_output_dirs(db, settings.projects_dir)
        # Start-up objects (modules, settings) live as long as the worker: keep them out of
        # the collector's full passes, which would otherwise stall job pickup now and then.
        gc.freeze()
        worker = Worker(db, settings, default_registry(), concurrency=args.concurrency,
                        batch_size=args.batch_size, exit_when_idle=args.exit_when_idle,
                        grace_seconds=args.grace, log_sink=sink)
        worker.install_signal_handlers()
        try:
            return await worker.run()
        finally:
            await db.dispose()

    return asyncio.run(run())


# -- project ----------------------------------------------------------------------------------

def cmd_project(args: argparse.Namespace, settings: Settings) -> int:
    from worker.services.principals import os_user
    from worker.services.projects import ProjectService, check_status, parse_create
    from worker.services.serialize import approval_dict, project_dict
    from worker.templates import TemplateRegistry

    if args.project_command == "create" and args.describe is not None:
        return _create_described(args, settings)
    if args.project_command == "create":
        # Validate everything before the database is touched: bad input writes nothing.
        request = parse_create(_create_body(args))
        template = TemplateRegistry.from_settings(settings).get(request.template_ref)
        template.validate_spec(dict(request.spec))
        from worker.deploy import choose
        from worker.slugs import slugify

        choose(template, slugify(request.name), request.deploy_target, request.deploy_config,
               settings)
    if args.project_command == "list":
        check_status(args.status, "--status")
    if args.project_command == "copy":
        return _project_copy(args, settings)
    from worker import rebuild_cli

    if args.project_command in rebuild_cli.COMMANDS:
        return rebuild_cli.run(args, settings)

    async def body(db: Any) -> int:
        service = ProjectService.from_settings(db, settings)
        cmd = args.project_command
        if cmd == "create":
            project = await service.create(request)
            _emit(args, project_dict(project),
                  f"created project {project.slug} (id {project.id}); "
                  f"run `titan worker` to build it")
        elif cmd == "list":
            projects = await service.list(status=args.status, limit=1000)
            if args.json:
                print(json.dumps([project_dict(p) for p in projects], indent=2))
            else:
                for p in projects:
                    print(f"{p.id:>5}  {p.slug:<30} {p.status:<18} {p.progress:>4.0%}  "
                          f"{p.url or ''}")
        elif cmd == "show":
            project = await service.get(args.ref, details=True)
            approvals = await service.approvals(project.id)
            data = project_dict(project, details=True)
            data["approvals"] = [approval_dict(a) for a in approvals]
            data["decidedBy"] = approvals[-1].principal if approvals else None
            _emit(args, data, _describe(project, approvals))
        elif cmd == "plan":
            project = await service.get(args.ref)
            _print_plan(args, await service.plan(project.id))
        elif cmd == "retry":
            job_id = await service.retry(args.ref)
            _emit(args, {"jobId": job_id}, f"queued job {job_id}")
        elif cmd == "cancel":
            project = await service.cancel(args.ref)
            _emit(args, project_dict(project), f"cancelled {project.slug}")
        elif cmd == "delete":
            done = await service.delete(args.ref, keep_files=args.keep_files)
            _emit(args, {"deleted": done.slug, "stopped": done.stopped,
                         "removed": [str(p) for p in done.removed],
                         "kept": [str(p) for p in done.kept],
                         "undeployed": done.undeployed, "left": done.left}, done.describe())
        elif cmd in ("approve", "reject"):
            project = await service.decide(
                args.ref, "approved" if cmd == "approve" else "rejected", decided_by="person",
                actor=os_user().removeprefix("user:"), comment=args.comment,
                principal=os_user())
            _emit(args, project_dict(project), f"{project.slug} is now {project.status}")
        return 0

    return _with_db(settings, body)


def _project_copy(args: argparse.Namespace, settings: Settings) -> int:
    """``project copy REF [--set FIELD=TEXT ...] [--json]``: print the model-written copy, or
    save a person's edit (worker.services.copy: validated, the site rendered again, logged)."""
    from worker.services.copy import CopyService
    from worker.services.principals import os_user

    changes: dict[str, str] = {}
    for item in args.set_fields:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set takes FIELD=TEXT, not {item!r}")
        changes[key.strip()] = value

    async def body(db: Any) -> int:
        service = CopyService.from_settings(db, settings)
        if changes:
            principal = os_user()
            saved = await service.save(args.ref, changes, actor=principal.removeprefix("user:"),
                                       principal=principal)
            _emit(args, {**saved.copy.as_dict(), "changed": saved.changed}, saved.describe())
            return 0
        shown = await service.get(args.ref)
        if shown is None:
            raise NotFound(f"project {args.ref} has no model-written copy (its template wrote "
                           f"every text)")
        lines = [f"copy of {shown.slug} ({shown.file}); "
                 + ("editable until it is approved" if shown.editable else shown.why_not)]
        empty = "(empty: the template's own text)"
        for fld in shown.fields:
            lines.append(f"  {fld.key}: {fld.value or empty}")
        _emit(args, shown.as_dict(), "\n".join(lines))
        return 0

    return _with_db(settings, body)


def _create_described(args: argparse.Namespace, settings: Settings) -> int:
    """``project create NAME --describe TEXT``: the AI plans, the person confirms, Titan builds."""
    from worker.ai import ai_off_reason, open_client
    from worker.ai.builds import plannable
    from worker.ai.endpoint import configured_endpoint
    from worker.ai.planner import propose
    from worker.services.planning import create_planned
    from worker.services.projects import ProjectService, parse_create
    from worker.services.serialize import project_dict

    given = [flag for flag, value in (
        ("--template", args.template), ("--spec-file", args.spec_file),
        ("--description", args.description), ("--feature", args.feature)) if value]
    if given:
        raise UsageError(f"--describe chooses the template and spec itself; drop {given[0]}")
    if not args.describe.strip():
        raise InvalidInput("--describe", "must not be empty")
    body: dict[str, Any] = {"name": args.name, **({"type": args.type} if args.type else {})}
    if args.require_approval:
        body["requiresApproval"] = True
    request = parse_create(body)  # a bad name fails before any AI call
    configured_endpoint(settings)  # a URL without a model is a usage error
    off = ai_off_reason(settings)
    if off is not None:
        raise UsageError(off)

    async def run(db: Any) -> int:
        service = ProjectService.from_settings(db, settings)
        async with open_client(settings, db) as client:
            if sys.stderr.isatty():  # a person waits: say who is thinking (a tiny model: ~10 s)
                where = "the local model" if client.endpoint.local else client.endpoint.safe_url
                print(f"planning with {client.endpoint.model} ({where}) ...", file=sys.stderr,
                      flush=True)
            plan = await propose(client, plannable(service.templates, settings), request.name,
                                 args.describe)
        if not args.yes:
            _show_proposal(args, plan)
            if not sys.stdin.isatty():
                print(f"not created; to build it, run again with --yes (the plan is made "
                      f"afresh): titan project create {shlex.quote(args.name)} --describe ... "
                      f"--yes", file=sys.stderr)
                return 0
            if input("Build it? [y/N] ").strip().lower() not in ("y", "yes"):
                print("not created", file=sys.stderr)
                return 0
        project = await create_planned(service, request, plan)
        _emit(args, {**project_dict(project), "plan": plan.as_dict()["plan"]},
              f"created project {project.slug} (id {project.id}) from template "
              f"{project.template_ref}; run `titan worker` to build it")
        return 0

    return _with_db(settings, run)


def _show_proposal(args: argparse.Namespace, plan: Any) -> None:
    if args.json:
        print(json.dumps({**plan.as_dict(), "created": False}, indent=2))
        return
    print(f"template: {plan.template}")
    print("spec:     " + json.dumps(plan.spec, indent=2).replace("\n", "\n          "))
    print("plan:")
    for line in _plan_lines(plan.nodes()):
        print(line)


def _plan_lines(nodes: list[Any], depth: int = 1) -> list[str]:
    lines = []
    for node in nodes:
        mark = "[ ] " if node.kind == "goal" else ""
        step = f"  ({node.step})" if node.step else ""
        lines.append(f"{'  ' * depth}{mark}{node.title}{step}")
        lines += _plan_lines(node.children, depth + 1)
    return lines


def _print_plan(args: argparse.Namespace, items: list[Any]) -> None:
    """A project's plan items as a tree: JSON for machines, indented lines for people."""
    children: dict[int | None, list[Any]] = {}
    for item in items:  # already by position
        children.setdefault(item.parent_id, []).append(item)

    def tree(parent: int | None) -> list[dict[str, Any]]:
        return [{"id": i.id, "kind": i.kind, "title": i.title, "step": i.step, "done": i.done,
                 "children": tree(i.id)} for i in children.get(parent, [])]

    def lines(parent: int | None, depth: int) -> list[str]:
        out = []
        for i in children.get(parent, []):
            mark = ("[x] " if i.done else "[ ] ") if i.kind == "goal" else ""
            out.append(f"{'  ' * depth}{mark}{i.title}{f'  ({i.step})' if i.step else ''}")
            out += lines(i.id, depth + 1)
        return out

    if args.json:
        print(json.dumps(tree(None), indent=2))
    else:
        print("\n".join(lines(None, 0)) or "no plan")


def _create_body(args: argparse.Namespace) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    if args.spec_file:
        try:
            spec = json.loads(args.spec_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InvalidInput("--spec-file", f"cannot read {args.spec_file}: "
                               f"{exc.strerror}") from None
        except ValueError as exc:
            raise InvalidInput("--spec-file", f"{args.spec_file} is not valid JSON: {exc}"
                               ) from None
        if not isinstance(spec, dict):
            raise InvalidInput("--spec-file", "must contain a JSON object")
    if args.description is not None:
        spec["description"] = args.description
    if args.feature:
        spec["features"] = [*spec.get("features", []), *args.feature]
    body: dict[str, Any] = {"name": args.name, "templateRef": args.template or "persona/basic",
                            "spec": spec}
    if args.type is not None:
        body["type"] = args.type
    if args.require_approval:
        body["requiresApproval"] = True
    if args.target is not None:
        body["deployTarget"] = args.target
    if args.target_option:
        from worker.deploy import parse_options

        body["deployConfig"] = parse_options(args.target_option, "--target-option")
    return body


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else text)


def _describe(project: Any, approvals: list[Any] | None = None) -> str:
    lines = [f"{project.name} ({project.slug}, id {project.id})",
             f"  status:   {project.status}  stage: {project.stage or '-'}  "
             f"progress: {project.progress:.0%}",
             f"  template: {project.template_ref}  type: {project.type}  "
             f"url: {project.url or '-'}",
             f"  output:   {project.output_dir or '-'}"]
    if project.build > 1:  # rebuilt (titan project rebuild): earlier builds' artifacts stay
        lines.append(f"  build:    {project.build} (earlier builds' artifacts are listed too)")
    if project.deploy_target != "local":
        options = ", ".join(f"{k}={v}" for k, v in sorted((project.deploy_config or {}).items()))
        lines.append(f"  deploy:   {project.deploy_target} ({options})")
    if project.last_error:
        lines.append(f"  error:    {project.last_error}")
    for a in approvals or []:
        lines.append(f"  {a.decision + ':':<9} by {a.principal or a.decided_by} at "
                     f"{a.created_at:%Y-%m-%d %H:%M:%S}" + (f"  {a.comment}" if a.comment else ""))
    lines.append("  jobs:")
    for job in sorted(project.jobs, key=lambda j: j.id):
        lines.append(f"    #{job.id:<6} {job.kind:<10} {job.status:<10} attempts {job.attempts}"
                     + (f"  {job.last_error}" if job.last_error else ""))
    lines.append("  artifacts:")
    for a in sorted(project.artifacts, key=lambda a: (-a.build, a.id)):
        size = f"{a.size_bytes:,} B" if a.size_bytes is not None else ""
        build = f"build {a.build}  " if project.build > 1 else ""
        lines.append(f"    {build}{a.kind:<8} {a.name:<24} {a.path or a.uri or ''} {size}"
                     + (f" sha256 {a.sha256[:12]}" if a.sha256 else ""))
    return "\n".join(lines)


# -- logs -------------------------------------------------------------------------------------

def cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    from worker.services.logquery import LogFilter, follow, query_logs

    async def body(db: Any) -> int:
        project_id = None
        if args.project:
            from worker.services.projects import ProjectService

            project_id = (await ProjectService.from_settings(db, settings).get(args.project)).id
        flt = LogFilter(project_id=project_id, level=args.level)
        rows = await query_logs(db, flt, limit=args.limit, newest_first=True)
        rows.reverse()
        for row in rows:
            _print_log(row, args.json)
        if args.follow:
            last_id = rows[-1].id if rows else await _max_log_id(db)
            async for row in follow(db, flt, after_id=last_id):
                _print_log(row, args.json)
        return 0

    return _with_db(settings, body)


async def _max_log_id(db: Any) -> int:
    from worker.services.logquery import LogService

    return await LogService(db).last_id()


def _print_log(row: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"id": row.id, "ts": row.ts.isoformat(), "level": row.level,
                          "message": row.message, "projectId": row.project_id,
                          "jobId": row.job_id, "workerId": row.worker_id, "extra": row.extra}),
              flush=True)
    else:
        ids = " ".join(f"{k}={v}" for k, v in (("project", row.project_id), ("job", row.job_id))
                       if v is not None)
        print(f"{row.ts:%Y-%m-%d %H:%M:%S} {row.level:<7} {row.message}  {ids}".rstrip(),
              flush=True)


# -- api, site host ---------------------------------------------------------------------------

def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    try:
        from worker.api.server import serve
    except ImportError as exc:
        print(f"titan: the REST API is not installed ({exc}); install titan[api]",
              file=sys.stderr)
        return EXIT_USAGE
    return serve(settings, host=args.host, port=args.port, log_format=args.log_format)


def cmd_site_host(args: argparse.Namespace, settings: Settings) -> int:
    from worker.sitehost import serve

    serve(args.root, args.state, args.port)
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "db": cmd_db, "worker": cmd_worker, "project": cmd_project, "logs": cmd_logs,
    "api": cmd_api, "site-host": cmd_site_host,
}


if __name__ == "__main__":
    sys.exit(main())
