"""The hostile suite: a proposed change attacks the machine from inside its own tests.

The change is driven through the real ops loop: ``titan ops propose`` (the CLI), a real
``titan worker`` process with secrets in its environment, a real git repository, the real API
on a loopback port and the real PostgreSQL. Its code runs from ``tests/conftest.py``, from a
pytest plugin named in ``pyproject.toml``, or from a module under ``worker/`` that the change's
test imports. Each time it tries to:

- write outside its tree (the repository's ``.ci/run``, ``TITAN_HOME``, a marker in ``/tmp``);
- read secrets (the environment, ``TITAN_HOME/settings.json``, the user's config folders);
- connect to PostgreSQL (TCP and the unix socket), to the API port and out to the network;
- leave a process running; fill the disk; fork without limit.

Every attempt must fail while the change's own tests run and report. Afterwards: no file
outside the tree changed (checksums), no secret in any output, log row or artifact, no process
left, and the change ended as its tests decided.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.api.server import ApiServer
from tests.conftest import spawn_worker, titan
from tests.ops.conftest import git, ops_env, tiny_repo  # noqa: F401 (fixtures)
from worker import sandbox
from worker.config import reload_settings

pytestmark = pytest.mark.skipif(sandbox.bwrap_problem() is not None,
                                reason=f"no sandbox here: {sandbox.bwrap_problem()}")

ATTACK = r'''
"""Hostile code: every attack records what happened; the change's test prints the report."""
import json, os, socket, subprocess, sys, time
from pathlib import Path

REPO, TITAN_HOME, USER_HOME = {repo!r}, {titan_home!r}, {user_home!r}
MARKER, API_PORT, LINGER = {marker!r}, {api_port!r}, {linger!r}
REPORT = Path("attack-report.json")


def attempt(name, action, report):
    try:
        report[name] = "SUCCEEDED: " + str(action())[:300]
    except BaseException as exc:  # noqa: BLE001 - every failure is a blocked attack
        report[name] = "blocked: " + type(exc).__name__ + ": " + str(exc)[:200]


def write(path):
    with open(path, "a") as handle:
        handle.write("pwned\n")
    return path


def read(path):
    return Path(path).read_text()


def connect(address, family=socket.AF_INET):
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        sock.connect(address)
    return address


def linger():
    # A grandchild in its own session that would outlive the test run.
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", LINGER],
                     start_new_session=True, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    return "started"


def fill_disk():
    written = 0
    try:
        with open("big.bin", "wb") as handle:  # one huge file: the file-size limit
            for _ in range(4096):
                handle.write(b"x" * 1024 * 1024)
                written += 1024 * 1024
    except OSError as exc:
        first = type(exc).__name__ + " " + str(exc)
    else:
        first = "no limit"
    os.remove("big.bin")
    files = []
    try:  # many smaller files: the space limit
        for n in range(4096):
            name = "fill-%d.bin" % n
            files.append(name)
            with open(name, "wb") as handle:
                handle.write(b"x" * 8 * 1024 * 1024)
        rest = "no limit"
    except OSError as exc:
        rest = type(exc).__name__ + " " + str(exc)
    for name in files:
        if os.path.exists(name):
            os.remove(name)
    if "no limit" in (first, rest):
        return "wrote %d bytes (%s / %s)" % (written, first, rest)
    raise OSError("stopped: " + first + " / " + rest)


def fork_bomb():
    children = []
    try:
        for _ in range(5000):
            pid = os.fork()
            if pid == 0:
                time.sleep(3)
                os._exit(0)
            children.append(pid)
    except OSError as exc:
        for pid in children:
            os.waitpid(pid, 0)
        raise OSError("stopped after %d forks: %s" % (len(children), exc))
    for pid in children:
        os.waitpid(pid, 0)
    return "%d forks" % len(children)


def run():
    if REPORT.exists():
        return
    report = dict()
    report["env"] = dict(os.environ)  # printed: the secret scan checks nothing leaked
    attempt("write .ci/run", lambda: write(os.path.join(REPO, ".ci", "run")), report)
    attempt("write repo file", lambda: write(os.path.join(REPO, "client", "health.txt")),
            report)
    attempt("write TITAN_HOME", lambda: write(os.path.join(TITAN_HOME, "pwned")), report)
    attempt("write /tmp marker", lambda: write(MARKER), report)
    attempt("read settings.json", lambda: read(os.path.join(TITAN_HOME, "settings.json")),
            report)
    attempt("read ~/.config", lambda: read(os.path.join(USER_HOME, ".config", "titan",
                                                        "secret.txt")), report)
    attempt("read ~/.local/share", lambda: read(os.path.join(
        USER_HOME, ".local", "share", "titan", "secret.txt")), report)
    attempt("postgres tcp", lambda: connect(("127.0.0.1", 5432)), report)
    attempt("postgres socket", lambda: connect("/var/run/postgresql/.s.PGSQL.5432",
                                               socket.AF_UNIX), report)
    attempt("api port", lambda: connect(("127.0.0.1", API_PORT)), report)
    attempt("outside", lambda: connect(("1.1.1.1", 443)), report)
    attempt("outside by name", lambda: connect(("example.com", 80)), report)
    attempt("linger", linger, report)
    attempt("fill disk", fill_disk, report)
    attempt("fork bomb", fork_bomb, report)
    REPORT.write_text(json.dumps(report))
'''

REPORT_TEST = '''\
import json
from pathlib import Path


def test_hostile_report():
    import worker.attack
    worker.attack.run()
    print("HOSTILE-REPORT " + Path("attack-report.json").read_text())
'''

# Where the attack is triggered from, as the change's patches.
ENTRY_POINTS = {
    "tests/conftest.py": {"tests/conftest.py": "import worker.attack\nworker.attack.run()\n"},
    "pyproject.toml": {"pyproject.toml": '[tool.pytest.ini_options]\n'
                                         'addopts = "-p worker.attack_plugin"\n',
                       "worker/attack_plugin.py": "import worker.attack\nworker.attack.run()\n"},
    "worker module": {"worker/__init__.py": "from worker import attack\nattack.run()\n"},
}


def _tree_sums(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    sums = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(rel == s or rel.startswith(s + "/") for s in skip) or path.is_dir():
            continue
        sums[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "?"
    return sums


def _git_control(repo: Path) -> dict[str, str]:
    """What git runs or obeys: hooks and config (objects and refs change with every commit)."""
    sums = _tree_sums(repo / ".git" / "hooks")
    sums["config"] = hashlib.sha256((repo / ".git" / "config").read_bytes()).hexdigest()
    return sums


def _lingering(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def _wait_status(env: dict, change_id: str, *done: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        shown = titan(env, "ops", "show", change_id, "--json")
        assert shown.returncode == 0, shown.stderr
        data = json.loads(shown.stdout)
        if data["status"] in done:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"change stuck in {data['status']}: {data['reason']}")
        time.sleep(0.3)


@pytest.fixture
def hostile_env(ops_env: dict, tmp_path: Path, tiny_repo: Path  # noqa: F811
                ) -> Iterator[dict]:
    """A worker environment full of secrets, a settings.json and user folders holding more."""
    secrets = {
        "STRIPE_API_KEY": f"sk_live_{uuid.uuid4().hex}",
        "TITAN_API_TOKEN": f"api-{uuid.uuid4().hex}",
        "OPS_TOKEN": f"ops-{uuid.uuid4().hex}",
        "GITHUB_TOKEN": f"ghp_{uuid.uuid4().hex}",
    }
    home = Path(ops_env["TITAN_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    file_secret = f"shpat_{uuid.uuid4().hex}"
    (home / "settings.json").write_text(json.dumps({"SHOPIFY_TOKEN": file_secret}))
    user_home = tmp_path / "user-home"
    config_secret = f"config-{uuid.uuid4().hex}"
    for folder in (user_home / ".config" / "titan", user_home / ".local" / "share" / "titan"):
        folder.mkdir(parents=True)
        (folder / "secret.txt").write_text(config_secret)
    (tiny_repo / ".ci").mkdir()
    (tiny_repo / ".ci" / "run").write_text("#!/bin/sh\necho ci\n")
    git(tiny_repo, "add", "-A")
    git(tiny_repo, "-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "-qm",
        "ci")
    env = {**ops_env, **secrets, "HOME": str(user_home),
           "OPS_TEST_COMMAND": "python -m pytest -q -s -p no:cacheprovider tests",
           "TITAN_SANDBOX": "auto", "TITAN_SANDBOX_PROCESSES": "64",
           "TITAN_SANDBOX_FILE_MB": "16", "TITAN_SANDBOX_DISK_MB": "128"}
    env["_secrets"] = json.dumps([*secrets.values(), file_secret, config_secret,
                                  ops_env["DATABASE_URL"]])
    yield env


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_hostile_change_is_contained(hostile_env: dict, tiny_repo: Path,  # noqa: F811
                                     tmp_path: Path, entry: str) -> None:
    env = {k: v for k, v in hostile_env.items() if k != "_secrets"}
    secrets: list[str] = json.loads(hostile_env["_secrets"])
    home = Path(env["TITAN_HOME"])
    user_home = Path(env["HOME"])
    marker = f"/tmp/titan-hostile-{uuid.uuid4().hex}"
    linger = f"titan-linger-{uuid.uuid4().hex}"
    settings = reload_settings()
    with ApiServer(settings) as api:
        attack = ATTACK.format(repo=str(tiny_repo), titan_home=str(home),
                               user_home=str(user_home), marker=marker, api_port=api.port,
                               linger=linger)
        files = {"worker/attack.py": attack, "tests/test_hostile_report.py": REPORT_TEST,
                 **ENTRY_POINTS[entry]}
        files.setdefault("worker/__init__.py", "")
        args = []
        for index, (path, content) in enumerate(files.items()):
            local = tmp_path / f"patch-{index}"
            local.write_text(content)
            args += ["--patch", f"{path}={local}"]

        repo_before = _tree_sums(tiny_repo, skip=(".git",))
        hooks_before = _git_control(tiny_repo)
        home_before = _tree_sums(home, skip=("ops",))
        user_before = _tree_sums(user_home)

        proposed = titan(env, "ops", "propose", "--title", f"Hostile via {entry}", *args,
                         "--json")
        assert proposed.returncode == 0, proposed.stderr
        change_id = str(json.loads(proposed.stdout)["id"])
        worker = spawn_worker(env, "--concurrency", "1")
        try:
            change = _wait_status(env, change_id, "awaiting_approval", "rolled_back",
                                  "failed")
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=60)
        worker_output = worker.log_path.read_text(errors="replace")

    # The change's own tests ran and reported, and decided how it ended.
    assert change["status"] == "awaiting_approval", (change["reason"], worker_output[-3000:])
    assert change["testPassed"] is True and "2 passed" in change["testSummary"]
    report_path = next(a["path"] for a in change["artifacts"] if a["name"] == "test-output")
    output = Path(report_path).read_text()
    assert "in the sandbox" in output.splitlines()[0]
    line = next(x for x in output.splitlines() if "HOSTILE-REPORT " in x)
    report = json.loads(line.split("HOSTILE-REPORT ", 1)[1])

    # Inside, every attack failed (writing the /tmp marker lands in the sandbox's own tmpfs).
    for name, outcome in report.items():
        if name in ("env", "write /tmp marker", "linger"):
            continue
        assert outcome.startswith("blocked"), (name, outcome)
    assert "stopped" in report["fill disk"] and "stopped after" in report["fork bomb"]
    # The environment came from the allow-list: nothing of the worker's passed through
    # (pytest, the shell and imported libraries add a few names of their own inside).
    allowed = {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "VIRTUAL_ENV",
               "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "QT_QPA_PLATFORM",
               # set inside by the shell, pytest and PySide6 (on import) themselves
               "PWD", "OLDPWD", "SHLVL", "_", "PYTEST_VERSION", "PYTEST_CURRENT_TEST",
               "PYSIDE6_OPTION_PYTHON_ENUM"}
    inherited = {key for key in report["env"] if key in env and key not in allowed}
    assert not inherited and report["env"]["HOME"] != env["HOME"]

    # Outside, nothing changed.
    assert _tree_sums(tiny_repo, skip=(".git",)) == repo_before
    assert _git_control(tiny_repo) == hooks_before
    assert _tree_sums(home, skip=("ops",)) == home_before
    assert _tree_sums(user_home) == user_before
    assert not Path(marker).exists()
    deadline = time.monotonic() + 10
    while _lingering(linger) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _lingering(linger)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, "a process of the change outlived its test run"

    # No secret anywhere: outputs, artifacts, log rows, the change's row, the worker's output.
    texts = [output, worker_output, json.dumps(change)]
    texts += [Path(a["path"]).read_text(errors="replace") for a in change["artifacts"]]
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        texts += [json.dumps(row, default=str) for row in conn.execute(
            "SELECT message, extra FROM log_entries").fetchall()]
        texts += [json.dumps(row, default=str) for row in conn.execute(
            "SELECT reason, test_summary, diff FROM ops_changes").fetchall()]
    for secret in secrets:
        for text in texts:
            assert secret not in text, "a secret leaked"
