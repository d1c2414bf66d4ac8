"""The one door through which code nobody approved runs: ops tests, the canary, model-written code.

On Linux with bubblewrap (``bwrap``) ``run`` starts the command in its own user, pid, network,
ipc and uts namespaces:

- the whole system, Titan's own environment (the venv) included, is mounted read-only;
- the only writable place for the tree is a throwaway copy on the size-limited /tmp tmpfs,
  filled from a read-only export of the tree; the original repository is hidden;
- ``/tmp`` and ``HOME`` are tmpfs; ``TITAN_HOME``, the user's home and data folders, the
  repository and PostgreSQL's socket folders are empty read-only tmpfs (nothing of theirs shows);
- the network namespace has only its own loopback: no route to the host's PostgreSQL, the API
  or the outside;
- the environment is built from an allow-list (never DATABASE_URL, tokens or keys);
- ``--die-with-parent``, a new session, and rlimits on CPU time, memory, processes and file
  size, plus a wall-clock timeout that kills the whole process group.

Where no sandbox exists (macOS, Windows, no or broken bubblewrap) the caller must not run the
code until a person approves running it (``mode == "approve-first"``); ``run(..., unsandboxed=
True)`` is for that approved case and still uses the allow-listed environment, the limits, the
copy and the process-group kill. ``TITAN_SANDBOX=bwrap|approve-first`` overrides the choice.

Every live process group is in a registry: ``terminate_all`` (the worker's drain) ends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

MODES = ("auto", "bwrap", "approve-first")
OUTPUT_LIMIT = 200_000
# Inside the sandbox: the copy of the tree, and HOME (on the /tmp tmpfs).
TREE = "/tmp/titan/tree"
SOURCE = "/tmp/titan/source"
HOME = "/tmp/home"
# Environment variables passed through when set; everything else is dropped.
PASSED_THROUGH = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "QT_QPA_PLATFORM")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"

# pgid -> the process, for every sandboxed process group still running.
_live: dict[int, asyncio.subprocess.Process] = {}


class SandboxUnavailable(RuntimeError):
    """TITAN_SANDBOX=bwrap was asked for but bubblewrap cannot run here."""


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 1800.0
    cpu_seconds: int = 900
    memory_bytes: int = 2 * 1024**3
    processes: int = 256
    file_bytes: int = 256 * 1024**2
    disk_bytes: int = 1024**3

    @classmethod
    def from_settings(cls, settings: Any, wall_seconds: float) -> Limits:
        mib = 1024**2
        return cls(wall_seconds=wall_seconds, cpu_seconds=settings.sandbox_cpu_seconds,
                   memory_bytes=settings.sandbox_memory_mb * mib,
                   processes=settings.sandbox_processes,
                   file_bytes=settings.sandbox_file_mb * mib,
                   disk_bytes=settings.sandbox_disk_mb * mib)


@dataclass(frozen=True)
class Choice:
    mode: str  # "bwrap" or "approve-first"
    reason: str  # why approve-first (empty for bwrap)


@dataclass
class Result:
    returncode: int
    output: str
    timed_out: bool = False
    sandboxed: bool = True


def choose(settings: Any) -> Choice:
    """bwrap when it works here; approve-first otherwise (or when TITAN_SANDBOX says so)."""
    wanted = (getattr(settings, "sandbox", "auto") or "auto").strip().lower()
    if wanted == "approve-first":
        return Choice("approve-first", "TITAN_SANDBOX=approve-first: proposed code runs only "
                                       "after a person approves running it")
    problem = bwrap_problem()
    if problem is None:
        return Choice("bwrap", "")
    if wanted == "bwrap":
        raise SandboxUnavailable(f"TITAN_SANDBOX=bwrap but {problem}")
    return Choice("approve-first", f"no sandbox on this machine ({problem}); proposed code "
                                   "runs only after a person approves running it")


def bwrap_problem() -> str | None:
    """None when bubblewrap works here, else why not (one line)."""
    if platform.system() != "Linux":
        return f"bubblewrap needs Linux, this is {platform.system()}"
    path = shutil.which("bwrap")
    if path is None:
        return "bubblewrap (bwrap) is not on PATH; install the bubblewrap package"
    return _probe(path)


@lru_cache(maxsize=4)
def _probe(bwrap: str) -> str | None:
    try:
        done = subprocess.run([bwrap, *_namespaces(), "--ro-bind", "/", "/", "--dev", "/dev",
                               "--proc", "/proc", "true"], capture_output=True, text=True,
                              timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap does not start: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"bubblewrap cannot create its namespaces here: {last[:200]}"
    return None


def _namespaces() -> list[str]:
    return ["--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--uid", "65534", "--gid", "65534"]


def environment(extra: dict[str, str] | None = None, *, home: str = HOME) -> dict[str, str]:
    """The child's environment, from an allow-list: nothing the worker holds leaks through."""
    venv_bin = str(Path(sys.executable).parent)
    env = {"PATH": f"{venv_bin}:{SYSTEM_PATH}", "HOME": home, "TMPDIR": "/tmp",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "TITAN_SANDBOXED": "1"}
    if sys.prefix != sys.base_prefix:
        env["VIRTUAL_ENV"] = sys.prefix
    env.update({key: os.environ[key] for key in PASSED_THROUGH if key in os.environ})
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra or {})
    return env


def hidden_paths(settings: Any) -> list[Path]:
    """Folders the sandbox must not see, even read-only: secrets, settings, databases."""
    import platformdirs

    candidates = [Path.home(), Path(settings.titan_home), Path("/var/tmp"),
                  Path("/run/postgresql"), Path("/var/run/postgresql"),
                  Path(platformdirs.user_config_dir()), Path(platformdirs.user_data_dir()),
                  Path(platformdirs.user_cache_dir()), Path(f"/run/user/{os.getuid()}")]
    from worker.ops.gitrepo import default_repo_path

    # The repository the ops loop edits (OPS_REPO_PATH, else Titan's own checkout).
    repo = default_repo_path(settings)
    if repo is not None:
        candidates.append(repo)
    if getattr(settings, "output_dir", None):
        candidates.append(Path(settings.output_dir))
    seen: list[Path] = []
    for path in candidates:
        real = Path(os.path.realpath(path))
        if real not in (Path("/"), Path("/tmp"), Path("/dev/shm")) and real.is_dir() \
                and real not in seen:
            seen.append(real)
    # Outer folders first: a mount inside a hidden folder must come after the folder's tmpfs.
    return sorted(seen, key=lambda p: len(p.parts))


# Runs inside the sandbox as Titan's interpreter in isolated mode (-I: no cwd, no PYTHON*
# variables): sets the limits on the command, then becomes it.
_LIMIT_AND_EXEC = (
    "import os, resource as r, sys\n"
    "names = ('RLIMIT_CPU', 'RLIMIT_AS', 'RLIMIT_NPROC', 'RLIMIT_FSIZE', 'RLIMIT_CORE')\n"
    "for name, value in zip(names, sys.argv[1:6]):\n"
    "    r.setrlimit(getattr(r, name), (int(value), int(value)))\n"
    "os.execvp(sys.argv[6], sys.argv[6:])\n"
)


def _limit_values(limits: Limits) -> list[str]:
    return [str(max(1, int(limits.cpu_seconds))), str(limits.memory_bytes),
            str(limits.processes), str(limits.file_bytes), "0"]


def _bwrap_argv(settings: Any, source: Path, argv: Sequence[str], limits: Limits,
                env: dict[str, str], binds: Sequence[tuple[Path, str]] = ()) -> list[str]:
    bwrap = shutil.which("bwrap") or "bwrap"
    size = str(limits.disk_bytes)
    args = [bwrap, *_namespaces(), "--die-with-parent", "--new-session", "--ro-bind", "/", "/",
            "--dev", "/dev", "--proc", "/proc", "--size", size, "--tmpfs", "/tmp"]
    hidden = hidden_paths(settings)
    for path in hidden:
        args += ["--tmpfs", str(path)]
    # Titan's own interpreter and packages stay readable (read-only) even under a hidden folder.
    for keep in sorted({Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}):
        args += ["--ro-bind", str(keep), str(keep)]
    # Hidden folders are empty and read-only: a write there fails instead of vanishing later.
    for path in reversed(hidden):
        args += ["--remount-ro", str(path)]
    # Shared memory stays writable (multiprocessing needs it), within the space limit.
    args += ["--size", size, "--tmpfs", "/dev/shm"]
    args += ["--ro-bind", str(source), SOURCE]
    # Writable folders a long-running service keeps (its database, its socket): inside /tmp.
    for host_path, inside in binds:
        args += ["--bind", str(host_path), inside]
    args += ["--chdir", "/tmp", "--clearenv"]
    for key, value in env.items():
        args += ["--setenv", key, value]
    # Fill the throwaway copy, then become the limited command (its exit code is ours).
    script = (f'mkdir -p "$HOME" {TREE} && cp -a {SOURCE}/. {TREE}/ && cd {TREE} && '
              f'exec "$@"')
    return [*args, "/bin/sh", "-c", script, "sandbox", sys.executable, "-I", "-c",
            _LIMIT_AND_EXEC, *_limit_values(limits), *argv]


# A long-running service: no wall clock (it serves until stopped), a day of CPU time.
SERVICE_LIMITS = Limits(wall_seconds=0.0, cpu_seconds=86_400)
# Where a service's kept folder appears inside the sandbox.
SERVICE_DATA = "/tmp/titan/data"


def service_argv(settings: Any, source: Path, argv: Sequence[str], data: Path,
                 env: dict[str, str] | None = None) -> list[str]:
    """The bwrap command line that serves ``argv`` from a copy of ``source`` with ``data``
    bound writable at SERVICE_DATA (nothing else it writes survives). The caller starts it as a
    child of a process it keeps (``--die-with-parent``): worker.templatekit.proxy.
    Raises SandboxUnavailable when there is no working bubblewrap."""
    problem = bwrap_problem()
    if problem is not None:
        raise SandboxUnavailable(problem)
    return _bwrap_argv(settings, source, argv, SERVICE_LIMITS, environment(env),
                       binds=[(data, SERVICE_DATA)])


def _limiter(limits: Limits) -> Callable[[], None]:
    """For an approved unsandboxed run: the same limits except the process count (which would
    count every process of the user's, not only this command's)."""
    import resource

    def apply() -> None:
        cpu = max(1, int(limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _pids_cgroup(limits: Limits) -> Path | None:
    """A pids cgroup capping the run's process count, when we run as root and may create one.

    RLIMIT_NPROC is not enforced for processes whose outer user is root (the sandbox's uid maps
    to the worker's), so a root worker caps the count with a cgroup instead. Unprivileged workers
    need none: the rlimit holds for them.
    """
    if os.geteuid() != 0:
        return None
    global _cgroup_serial
    for root in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if not (root / "cgroup.procs").exists() or not os.access(root, os.W_OK):
            continue
        _cgroup_serial += 1
        group = root / f"titan-sandbox-{os.getpid()}-{_cgroup_serial}"
        try:
            group.mkdir()
            (group / "pids.max").write_text(str(limits.processes))
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
            continue
        return group
    return None


_cgroup_serial = 0


def _join_cgroup(group: Path | None) -> Callable[[], None] | None:
    if group is None:
        return None
    procs = str(group / "cgroup.procs")

    def join() -> None:
        with open(procs, "w") as handle:  # between fork and exec: plain I/O
            handle.write(str(os.getpid()))

    return join


async def _remove_cgroup(group: Path | None) -> None:
    if group is None:
        return
    for _ in range(50):  # the killed processes leave the group a moment later
        try:
            group.rmdir()
            return
        except OSError:
            await asyncio.sleep(0.1)


def export_tree(make: Callable[[Path], None]) -> Path:
    """A fresh temporary folder filled by ``make`` (e.g. ``git archive``); the caller removes it."""
    where = Path(tempfile.mkdtemp(prefix="titan-sandbox-"))
    try:
        make(where)
    except BaseException:
        shutil.rmtree(where, ignore_errors=True)
        raise
    return where


async def run(settings: Any, argv: Sequence[str], source: Path, limits: Limits, *,
              unsandboxed: bool = False, env: dict[str, str] | None = None,
              stdout_file: Path | None = None) -> Result:
    """Run ``argv`` on a throwaway copy of ``source``; return its exit code and output's tail.

    ``unsandboxed`` is only for code a person approved running where no sandbox exists: it runs
    in a copy in a temporary folder with the allow-listed environment and the same limits.
    With ``stdout_file`` the output goes to that file instead of being returned.
    """
    if not argv:
        raise ValueError("nothing to run")
    copy: Path | None = None
    if unsandboxed:
        copy = Path(tempfile.mkdtemp(prefix="titan-run-"))
        shutil.copytree(source, copy / "tree", symlinks=True)
        (copy / "home").mkdir()
        full = list(argv)
        cwd: Path | None = copy / "tree"
        child_env = environment(env, home=str(copy / "home"))
    else:
        full = _bwrap_argv(settings, source, argv, limits, environment(env))
        cwd, child_env = None, {"PATH": SYSTEM_PATH}
    group = None if unsandboxed else _pids_cgroup(limits)
    sink = stdout_file.open("wb") if stdout_file is not None else None
    try:
        try:
            process = await asyncio.create_subprocess_exec(
                *full, cwd=cwd, env=child_env, stdin=asyncio.subprocess.DEVNULL,
                stdout=sink or asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_limiter(limits) if unsandboxed else _join_cgroup(group))
        except OSError as exc:
            return Result(127, f"cannot run {full[0]!r}: {exc.strerror}", sandboxed=not unsandboxed)
        _live[process.pid] = process
        try:
            return await _collect(process, limits.wall_seconds, not unsandboxed)
        finally:
            # Timeout, cancellation (a draining worker) or normal end: nothing of it survives.
            await kill_group(process)
            _live.pop(process.pid, None)
    finally:
        await _remove_cgroup(group)
        if sink is not None:
            sink.close()
        if copy is not None:
            shutil.rmtree(copy, ignore_errors=True)


async def _collect(process: asyncio.subprocess.Process, timeout: float, sandboxed: bool
                   ) -> Result:
    tail = bytearray()

    async def read() -> None:
        if process.stdout is None:
            return
        while chunk := await process.stdout.read(65536):
            tail.extend(chunk)
            if len(tail) > 2 * OUTPUT_LIMIT:  # a flood of output costs no memory
                del tail[:-OUTPUT_LIMIT]

    reader = asyncio.ensure_future(read())
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        await kill_group(process)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader, 5)
        text = bytes(tail[-OUTPUT_LIMIT:]).decode("utf-8", "replace")
        return Result(124, f"{text}\n[timed out after {timeout:g}s]", True, sandboxed)
    # The command ended; a background child still holding the pipe must not keep us waiting.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(reader), 2)
    reader.cancel()
    text = bytes(tail[-OUTPUT_LIMIT:]).decode("utf-8", "replace")
    code = process.returncode if process.returncode is not None else -1
    return Result(code, text, False, sandboxed)


async def kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the process group (bwrap's pid namespace dies with its first process)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.returncode is None:
        with contextlib.suppress(TimeoutError, ProcessLookupError):
            await asyncio.wait_for(process.wait(), 10)


def terminate_all() -> int:
    """Kill every live sandboxed process group (a worker's drain); return how many."""
    count = 0
    for pgid in list(_live):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
            count += 1
        _live.pop(pgid, None)
    return count


def live_groups() -> list[int]:
    return list(_live)
