"""The ops loop as job kinds; each step's success queues the next.

(ops.draft: a model drafts a requested change ->) ops.diff -> ops.patch -> ops.test -> ops.pr ->
(awaiting_approval: a person decides, or ops.expire after the approval timeout) ->
ops.deploy-canary -> ops.promote. A failed test, an unhealthy canary, a rejection, a timeout or a
step that dies queue ops.rollback, which closes the PR, deletes the branch and redeploys the
previous version where one was deployed. A drafted change whose tests fail first goes back to
ops.draft once (the repair round) before it is rolled back.

Every handler first checks the change's status, so a step that runs twice (after a crash and a
reclaim) does its work once.
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import shlex
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import CursorResult, delete, func, update

from worker import sandbox
from worker.db.engine import Database
from worker.db.models import Approval, Artifact, Job, OpsChange
from worker.errors import PermanentError
from worker.jobkit import JobContext, Registry
from worker.logs import get_logger, log_context
from worker.ops import canary

if TYPE_CHECKING:
    from worker.ops.github import GitHubRemote
from worker.ops.gitrepo import LocalRepo, branch_name, default_repo_path
from worker.ops.paths import PathPolicy, PathRejected, check_paths, disk_symlinks, either
from worker.services.ops import FINISHED, RUN_APPROVAL_MARK, ops_job
from worker.services.principals import JASON_TIMEOUT

log = get_logger("titan.ops")
KINDS = ("ops.draft", "ops.diff", "ops.patch", "ops.test", "ops.pr", "ops.expire",
         "ops.deploy-canary", "ops.promote", "ops.rollback")


def register(registry: Registry) -> None:
    handlers = {
        "ops.draft": draft_step, "ops.diff": diff_step, "ops.patch": patch_step,
        "ops.test": test_step,
        "ops.pr": pr_step, "ops.expire": expire_step, "ops.deploy-canary": canary_step,
        "ops.promote": promote_step, "ops.rollback": rollback_step,
    }
    for kind, handler in handlers.items():
        registry.register(kind, _with_ids(handler), on_dead=_step_died)


def _with_ids(handler: Any) -> Any:
    async def run(ctx: JobContext) -> None:
        with log_context(ops_change_id=_change_id(ctx)):
            await handler(ctx)

    run.__name__ = handler.__name__
    return run


# -- helpers ------------------------------------------------------------------------------------

def _change_id(ctx: JobContext) -> int:
    change_id = ctx.job.ops_change_id or ctx.job.payload.get("change_id")
    if not change_id:
        raise PermanentError(f"{ctx.job.kind} job has no ops change")
    return int(change_id)


async def _load(ctx: JobContext) -> OpsChange:
    async with ctx.db.session() as session:
        change = await session.get(OpsChange, _change_id(ctx))
    if change is None:
        raise PermanentError(f"ops change {_change_id(ctx)} no longer exists")
    return change


async def _set(db: Database, change_id: int, **values: Any) -> None:
    async with db.session() as session:
        await session.execute(update(OpsChange).where(OpsChange.id == change_id)
                              .values(**values, updated_at=func.now()))


def _repo(ctx: JobContext) -> LocalRepo:
    root = default_repo_path(ctx.settings)
    if root is None:
        raise PermanentError("no repository to change: set OPS_REPO_PATH")
    repo = LocalRepo(root)
    try:
        repo.check()
    except Exception as exc:
        raise PermanentError(str(exc)) from exc
    return repo


def _remote(ctx: JobContext, change: OpsChange) -> GitHubRemote | None:
    if change.backend != "github":
        return None
    # PyGithub takes ~0.5 s to import: only changes that use GitHub pay for it.
    from worker.ops.github import remote_from_settings

    return remote_from_settings(ctx.settings)


def _files(change: OpsChange) -> dict[str, str | None]:
    """The change's files: their new text, None for a file the change deletes."""
    return {patch["path"]: None if patch.get("delete") else patch["content"]
            for patch in change.patches}


def _ops_dir(ctx: JobContext, change_id: int) -> Path:
    return ctx.settings.titan_home / "ops" / f"change-{change_id}"


def _rollback(ctx: JobContext, change_id: int, reason: str, **payload: Any) -> None:
    ctx.then(ops_job(change_id, "ops.rollback", reason=reason, **payload))


async def _save_artifact(ctx: JobContext, change_id: int, step: str, name: str, path: Path
                         ) -> None:
    data = path.read_bytes()
    async with ctx.db.session() as session:
        await session.execute(delete(Artifact).where(Artifact.ops_change_id == change_id,
                                                     Artifact.name == name))
        session.add(Artifact(ops_change_id=change_id, job_id=ctx.job.id, run_id=ctx.job.run_id,
                             step=step, kind="report", name=name, path=str(path),
                             size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest()))


def unified_diff(path: str, before: str | None, after: str | None) -> str:
    """``after`` None: the file is deleted."""
    old = (before or "").splitlines(keepends=True)
    new = (after or "").splitlines(keepends=True)
    lines = list(difflib.unified_diff(old, new, "/dev/null" if before is None else f"a/{path}",
                                      "/dev/null" if after is None else f"b/{path}"))
    lines = [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
             for line in lines]
    mode = ("new file mode 100644\n" if before is None
            else "deleted file mode 100644\n" if after is None else "")
    header = f"diff --git a/{path} b/{path}\n" + mode
    return header + "".join(lines) if lines else header


async def _base(ctx: JobContext, repo: LocalRepo) -> tuple[str, str]:
    """The base branch (OPS_BASE_BRANCH, else the repository's HEAD branch) and its commit."""
    try:
        base_ref = ctx.settings.ops_base_branch
        if not base_ref:
            base_ref = await asyncio.to_thread(repo.head_branch)
        base_sha = await asyncio.to_thread(repo.resolve, base_ref)
    except Exception as exc:
        raise PermanentError(f"cannot find the base branch: {exc}") from exc
    return base_ref, base_sha


# -- steps --------------------------------------------------------------------------------------

async def draft_step(ctx: JobContext) -> None:
    """A model drafts the requested change (or, with ``repair`` in the payload, repairs it
    once after its tests failed); its patches then take the path a person's patches take."""
    from worker.ai import AIError, open_client
    from worker.ops import ask

    change = await _load(ctx)
    repairing = bool(ctx.job.payload.get("repair"))
    if repairing:
        if change.status != "tested" or change.test_passed or change.ai_drafts != 1:
            return
    elif change.status != "proposed" or not change.ask or change.patches:
        return
    assert change.ask is not None
    repo = _repo(ctx)
    policy = ask.draft_policy(ctx.settings)
    if repairing:
        assert change.base_sha is not None  # set by diff_step
        base_sha, tree_sha = change.base_sha, f"refs/heads/{change.branch}"
    else:
        _, base_sha = await _base(ctx, repo)
        tree_sha = base_sha
    workspace = await asyncio.to_thread(
        sandbox.export_tree, lambda where: repo.export(repo.resolve(tree_sha), where))
    try:
        messages: list[dict[str, str]] = [
            {"role": "system", "content": ask.system_prompt(ctx.settings)}]
        repo_map = await asyncio.to_thread(ask.build_map, workspace, change.ask,
                                           include=lambda p: _mappable(p, policy))
        prompt = ask.first_prompt(change.ask, repo_map)
        if repairing:
            prompt += "\n\n" + ask.repair_prompt(change.test_summary or "tests failed",
                                                 str(ctx.job.payload.get("output") or ""),
                                                 _files(change))
        messages.append({"role": "user", "content": prompt})
        purpose = ask.REPAIR_PURPOSE if repairing else ask.DRAFT_PURPOSE
        verb = "repair" if repairing else "draft"
        try:
            async with open_client(ctx.settings, ctx.db) as client:
                asked = await ask.ask_for_edits(client, messages, purpose=purpose,
                                                job_id=ctx.job.id, db=ctx.db)
        except AIError as exc:  # no client at all (AI off here, the local model won't start)
            await _draft_failed(ctx, change, f"the model could not {verb} the change: {exc}",
                                repairing)
            return
        tokens = asked.tokens
        spent = {"ai_model": asked.model, "ai_tokens": change.ai_tokens + tokens,
                 "ai_drafts": change.ai_drafts + 1}
        if asked.answer is None:
            await _set(ctx.db, change.id, **spent)
            await _draft_failed(ctx, change, f"the model could not {verb} the change: "
                                f"{asked.error}", repairing)
            return
        draft = await asyncio.to_thread(
            ask.apply_draft, workspace, asked.answer, policy,
            base_text=(lambda path: repo.read_file(base_sha, path)) if repairing else None,
            carried=[p["path"] for p in change.patches] if repairing else ())
    finally:
        await asyncio.to_thread(shutil.rmtree, workspace, True)
    model = asked.model
    if draft.refused:
        reason = (f"the model's {verb} was refused before anything was written: "
                  + "; ".join(draft.refusals))
        await _set(ctx.db, change.id, **spent)
        await _draft_failed(ctx, change, reason, repairing)
        return
    if not draft.patches:
        await _set(ctx.db, change.id, **spent)
        await _draft_failed(ctx, change, f"the model's {verb} changes no file", repairing)
        return
    if repairing:  # the branch is rebuilt from the base with the repaired files
        await asyncio.to_thread(repo.delete_branch, change.branch or branch_name(change.id))
    await _set(ctx.db, change.id, patches=draft.patches, status="proposed", diff=None,
               head_sha=None, test_passed=None, test_summary=None, reason=None, **spent)
    log.info(f"the model ({model}) {'repaired' if repairing else 'drafted'} ops change "
             f"{change.id}: {len(draft.patches)} file(s), {tokens} tokens")
    ctx.then(ops_job(change.id, "ops.diff"))


def _mappable(path: str, policy: PathPolicy) -> bool:
    """Files the map lists: none the rules protect (their text never reaches the model)."""
    try:
        check_paths([path], PathPolicy(("**",), policy.protected))
    except PathRejected:
        return False
    return True


async def _draft_failed(ctx: JobContext, change: OpsChange, reason: str, repairing: bool
                        ) -> None:
    log.warning(f"ops change {change.id}: {reason}")
    if repairing:  # a branch exists: the rollback step cleans up, as for any failed test
        _rollback(ctx, change.id, reason)
    else:  # nothing was written anywhere
        await _set(ctx.db, change.id, status="failed", reason=reason)


async def diff_step(ctx: JobContext) -> None:
    """Validate every path again (now against the repository's tree) and store the diff."""
    change = await _load(ctx)
    if change.status != "proposed" or (change.ask and not change.patches):
        return  # a requested change's patches come from its ops.draft step
    repo = _repo(ctx)
    base_ref, base_sha = await _base(ctx, repo)
    lookup = either(repo.symlink_in_tree(base_sha), disk_symlinks(repo.root))
    try:
        await asyncio.to_thread(check_paths, [p["path"] for p in change.patches],
                                PathPolicy.from_settings(ctx.settings), symlink_target=lookup)
    except PathRejected as exc:
        log.error(f"ops change rejected before anything was written: {exc}", rule=exc.rule)
        await _set(ctx.db, change.id, status="failed", reason=str(exc))
        return
    parts = []
    for path, content in _files(change).items():  # content None: a deletion
        before = await asyncio.to_thread(repo.read_file, base_sha, path)
        parts.append(unified_diff(path, before, content))
    await _set(ctx.db, change.id, status="diffed", diff="".join(parts), base_ref=base_ref,
               base_sha=base_sha, branch=branch_name(change.id))
    log.info(f"diffed ops change {change.id} against {base_ref} ({base_sha[:10]})")
    ctx.then(ops_job(change.id, "ops.patch"))


async def patch_step(ctx: JobContext) -> None:
    """Commit the patches on branch titan/ops-<id> (locally; on GitHub too when configured)."""
    change = await _load(ctx)
    if change.status != "diffed":
        return
    repo = _repo(ctx)
    message = f"{change.title}\n\n{change.description}\n\nTitan ops change #{change.id}".strip()
    branch = change.branch or branch_name(change.id)
    assert change.base_sha is not None  # diff_step set it with status "diffed"
    head = await asyncio.to_thread(repo.commit_files, branch, change.base_sha, _files(change),
                                   message)
    base = change.base_sha
    remote = _remote(ctx, change)
    if remote is not None:
        assert change.base_ref is not None  # set by diff_step
        # GitHub's shas are what deploys and merges refer to from here on; tests and the
        # local canary run the local branch, which has the same files on the same base.
        head, base = await asyncio.to_thread(remote.push_branch, branch, change.base_ref,
                                             _files(change), message)
    await _set(ctx.db, change.id, status="patched", branch=branch, head_sha=head, base_sha=base)
    log.info(f"committed ops change {change.id} on {branch} ({head[:10]})")
    ctx.then(ops_job(change.id, "ops.test"))


async def test_step(ctx: JobContext) -> None:
    """Run the worker's OPS_TEST_COMMAND on a copy of the branch, in the sandbox.

    Where no sandbox exists the change waits (status shown as awaiting_run_approval) until a
    person approves running it; that approval queues this step again with its name.
    """
    change = await _load(ctx)
    if change.status != "patched":
        return
    choice = _sandbox_choice(ctx)
    approved_by = ctx.job.payload.get("run_approved_by")
    if choice.mode != "bwrap" and not approved_by:
        await _set(ctx.db, change.id, reason=RUN_APPROVAL_MARK + choice.reason)
        log.warning(f"ops change {change.id} waits for a person to approve running its tests: "
                    f"{choice.reason}")
        return
    repo = _repo(ctx)
    folder = _ops_dir(ctx, change.id)
    folder.mkdir(parents=True, exist_ok=True)
    # The worker's configuration decides what runs, not the proposer's environment.
    command = ctx.settings.ops_test_command
    argv = _argv(command)
    limits = sandbox.Limits.from_settings(ctx.settings, ctx.settings.ops_test_timeout_seconds)
    source = await asyncio.to_thread(_export_branch, repo, change.branch)
    try:
        result = await sandbox.run(ctx.settings, argv, source, limits,
                                   unsandboxed=choice.mode != "bwrap")
    finally:
        await asyncio.to_thread(shutil.rmtree, source, True)
    where = "in the sandbox" if result.sandboxed else f"without a sandbox (approved by " \
                                                       f"{approved_by})"
    report = folder / "test-output.txt"
    report.write_text(f"$ {command}   # {where}\n{result.output}\n"
                      f"[exit code {result.returncode}]\n", encoding="utf-8")
    await _save_artifact(ctx, change.id, "ops.test", "test-output", report)
    summary = _summary(result.output, result.returncode)
    passed = result.returncode == 0
    await _set(ctx.db, change.id, status="tested", test_passed=passed, test_summary=summary,
               test_command=command, reason=None)
    if passed:
        log.info(f"tests passed for ops change {change.id} ({where}): {summary}")
        ctx.then(ops_job(change.id, "ops.pr"))
    elif change.ask and change.ai_drafts == 1:
        # A model's first draft failed its tests: one repair round before a person is asked.
        await _set(ctx.db, change.id, reason=f"tests failed: {summary}; the model gets one "
                                             "repair round")
        log.warning(f"tests failed for ops change {change.id} ({where}): {summary}; "
                    "asking the model to repair it once")
        ctx.then(ops_job(change.id, "ops.draft", repair=True,
                         output=result.output[-ask_output_chars():]))
    elif change.ask:
        log.warning(f"tests failed for ops change {change.id} ({where}) after the model's "
                    f"repair round: {summary}")
        _rollback(ctx, change.id, f"tests failed after the model's repair round: {summary}")
    else:
        log.warning(f"tests failed for ops change {change.id} ({where}): {summary}")
        _rollback(ctx, change.id, f"tests failed: {summary}")


def ask_output_chars() -> int:
    from worker.ops.ask import OUTPUT_CHARS

    return OUTPUT_CHARS


def _sandbox_choice(ctx: JobContext) -> sandbox.Choice:
    try:
        return sandbox.choose(ctx.settings)
    except sandbox.SandboxUnavailable as exc:
        raise PermanentError(str(exc)) from exc


async def pr_step(ctx: JobContext) -> None:
    """Open the pull request (GitHub) or record branch + diff (local); then wait for approval."""
    change = await _load(ctx)
    if change.status != "tested" or not change.test_passed:
        return
    drafted = (f"Drafted by {change.ai_model} on request ({change.proposed_by}; "
               f"{change.ai_tokens:,} tokens, {change.ai_drafts} draft(s)): {change.ask}\n\n"
               if change.ask else "")
    body = (f"{drafted}{change.description}\n\nTests: `{change.test_command}`: "
            f"{change.test_summary}\n\n```diff\n{change.diff or ''}```\n")
    folder = _ops_dir(ctx, change.id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pull-request.md").write_text(f"# {change.title}\n\n{body}", encoding="utf-8")
    await _save_artifact(ctx, change.id, "ops.pr", "pull-request", folder / "pull-request.md")
    number, url = None, None
    remote = _remote(ctx, change)
    assert change.branch is not None and change.base_ref is not None  # set by diff_step
    if remote is not None:
        number, url = await asyncio.to_thread(remote.open_pull, change.branch, change.base_ref,
                                              change.title, body)
    await _set(ctx.db, change.id, status="awaiting_approval", pr_number=number, pr_url=url)
    log.info(f"ops change {change.id} awaits approval"
             + (f" (pull request #{number})" if number else f" (branch {change.branch})"))
    ctx.then(ops_job(change.id, "ops.expire",
                     delay_seconds=ctx.settings.approval_timeout_seconds))


async def expire_step(ctx: JobContext) -> None:
    """Nobody decided within the approval timeout: roll the change back."""
    change = await _load(ctx)
    if change.status != "awaiting_approval":
        return
    reason = (f"approval timed out after {ctx.settings.approval_timeout_seconds} s "
              "without a decision")
    async with ctx.db.session() as session:  # only if nobody decided meanwhile
        # An UPDATE's result is a CursorResult (it has rowcount); execute() is typed generally.
        expired = cast("CursorResult[Any]", await session.execute(
            update(OpsChange).where(OpsChange.id == change.id,
                                    OpsChange.status == "awaiting_approval")
            .values(status="rejected", reason=reason, updated_at=func.now())))
        if not expired.rowcount:
            return
        # The timeout's decision is recorded like anyone's: who (Jason, by timeout) and why.
        session.add(Approval(ops_change_id=change.id, decided_by="jason", actor="Jason",
                             decision="rejected", comment=reason, principal=JASON_TIMEOUT))
    _rollback(ctx, change.id, reason)


async def canary_step(ctx: JobContext) -> None:
    """Deploy the approved change as a canary and probe its health until healthy or timeout."""
    change = await _load(ctx)
    if change.status not in ("approved", "canary"):
        return
    await _set(ctx.db, change.id, status="canary")
    timeout = ctx.settings.ops_canary_timeout_seconds
    hooks = canary.render_hooks(ctx.settings)
    deployed = False
    if hooks:
        health = ctx.settings.ops_canary_health_url
        if not health:
            raise PermanentError("Render deploy hooks are set but OPS_CANARY_HEALTH_URL is not")
        await canary.trigger_render(hooks, change.head_sha)
        deployed = True
        result = await canary.probe_until_healthy(health, timeout)
    else:
        # Approving the change approved running it, so without a sandbox it runs now too.
        choice = _sandbox_choice(ctx)
        repo = _repo(ctx)
        source = await asyncio.to_thread(_export_branch, repo, change.branch)
        try:
            result = await canary.run_local_canary(
                ctx.settings, source, ctx.settings.ops_canary_command, timeout,
                _ops_dir(ctx, change.id) / "canary-output.txt",
                unsandboxed=choice.mode != "bwrap")
        finally:
            await asyncio.to_thread(shutil.rmtree, source, True)
    await _set(ctx.db, change.id, canary_url=result.url, canary_probes=result.probes)
    if result.healthy:
        log.info(f"canary of ops change {change.id} is {result.detail}")
        ctx.then(ops_job(change.id, "ops.promote"))
    else:
        log.warning(f"canary of ops change {change.id} failed: {result.detail}")
        _rollback(ctx, change.id, f"canary failed: {result.detail}", redeploy=deployed)


async def promote_step(ctx: JobContext) -> None:
    """Merge the change into the base branch (the pull request, on GitHub)."""
    change = await _load(ctx)
    if change.status != "canary":
        return
    title = f"Merge ops change #{change.id}: {change.title}"
    remote = _remote(ctx, change)
    assert change.branch is not None and change.base_ref is not None  # set by diff_step
    if remote is not None and change.pr_number is not None:
        merged = await asyncio.to_thread(remote.merge, change.pr_number, title)
    else:
        repo = _repo(ctx)
        merged = await asyncio.to_thread(repo.merge, change.base_ref, change.branch, title)
    await _set(ctx.db, change.id, status="promoted", reason=None)
    log.info(f"promoted ops change {change.id}: {change.base_ref} is now {merged[:10]}",
             merge_sha=merged)


async def rollback_step(ctx: JobContext) -> None:
    """Close the PR, delete the branch, redeploy the previous version if a canary went out."""
    change = await _load(ctx)
    if change.status in FINISHED:
        return
    reason = str(ctx.job.payload.get("reason") or change.reason or "rolled back")
    remote = _remote(ctx, change)
    if remote is not None:
        await asyncio.to_thread(remote.discard, change.pr_number, change.branch)
    if change.branch:
        repo = _repo(ctx)
        await asyncio.to_thread(repo.delete_branch, change.branch)
    if ctx.job.payload.get("redeploy") and change.base_sha:
        hooks = canary.render_hooks(ctx.settings)
        if hooks:
            await canary.trigger_render(hooks, change.base_sha)
            reason += f" (redeployed {change.base_sha[:10]})"
    shutil.rmtree(_ops_dir(ctx, change.id) / "test-tree", ignore_errors=True)
    shutil.rmtree(_ops_dir(ctx, change.id) / "canary-tree", ignore_errors=True)
    await _set(ctx.db, change.id, status="rolled_back", reason=reason)
    log.warning(f"rolled back ops change {change.id}: {reason}")


async def _step_died(db: Database, job_id: int, error: str, payload: dict[str, Any]) -> None:
    """A step failed for good: roll the change back (or mark it failed if the rollback died)."""
    from worker import queue

    async with db.session() as session:
        # Look at the job row: a job buried by lease expiry arrives without its payload.
        job = await session.get(Job, job_id)
        change_id = (job.ops_change_id if job is not None else None) or payload.get("change_id")
        if not change_id:
            return
        change = await session.get(OpsChange, int(change_id), with_for_update=True)
        if change is None or change.status in FINISHED:
            return
        kind = job.kind if job is not None else ""
        if kind == "ops.rollback":
            change.status, change.reason = "failed", f"rollback failed: {error}"
        else:
            change.reason = f"{kind or 'a step'} failed: {error}"
            await queue.enqueue(session, ops_job(change.id, "ops.rollback",
                                                 reason=change.reason))
        change.updated_at = func.now()


# -- processes ----------------------------------------------------------------------------------

def _export_branch(repo: LocalRepo, branch: str | None) -> Path:
    """The branch's files in a fresh temporary folder (the sandbox copies it again)."""
    if branch is None or not repo.branch_exists(branch):
        raise PermanentError(f"the change's branch {branch} does not exist")
    sha = repo.resolve(f"refs/heads/{branch}")
    return sandbox.export_tree(lambda where: repo.export(sha, where))


def _argv(command: str) -> list[str]:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise PermanentError(f"OPS_TEST_COMMAND cannot be parsed: {exc}") from exc
    if not argv:
        raise PermanentError("the test command (OPS_TEST_COMMAND) is empty")
    if argv[0] in ("python", "python3"):  # the interpreter Titan runs on, with its packages
        argv[0] = sys.executable
    return argv


def _summary(output: str, code: int) -> str:
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    last = lines[-1] if lines else "(no output)"
    return f"exit code {code}: {last[:300]}"
