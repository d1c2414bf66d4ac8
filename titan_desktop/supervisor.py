"""The worker supervisor: spawn ``titan worker``, watch it, restart it, stop it on quit.

The worker is a separate process (QProcess) talking to the same database. Its JSON log lines
arrive on stdout; its heartbeat lives in the ``workers`` table. Pause and resume go through the
``workers.command`` column, which the worker reads on every heartbeat, so the same buttons steer
a worker this app did not spawn. If another worker already serves the database with a fresh
heartbeat, the supervisor shows it and spawns nothing unless asked.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from worker.logs import get_logger
from worker.paths import titan_command
from worker.services.database import Database
from worker.services.workers import WorkerInfo, WorkerService

log = get_logger("titan.desktop.supervisor")


class WorkerSupervisor(QObject):
    """States: starting, running, stopped, crashed, external (another process serves the db)."""

    stateChanged = Signal(str)
    workerChanged = Signal(object)  # WorkerInfo | None: our worker, or the external one
    logLine = Signal(object)  # dict: one parsed JSON log line from the worker's stdout

    def __init__(self, db: Database, *, concurrency: int = 4, stop_timeout: float = 10.0,
                 env: dict[str, str] | None = None, parent: QObject | None = None,
                 workers: WorkerService | None = None) -> None:
        super().__init__(parent)
        self.db = db
        self.workers = workers or WorkerService(db)
        self.concurrency = concurrency
        self.stop_timeout = stop_timeout
        self.extra_env = env or {}
        self.state = "stopped"
        self.info: WorkerInfo | None = None
        self.restarts = 0
        self.recent_lines: deque[dict[str, Any]] = deque(maxlen=500)
        self._process: QProcess | None = None
        self._stopping = False
        self._started_at = 0.0
        self._backoff = 1.0
        self._restart_timer = QTimer(self, singleShot=True)
        self._restart_timer.timeout.connect(self.spawn)
        self._buffer = b""
        self._restoring: asyncio.Future[None] | None = None

    # -- queries -------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        if self._process is None or self._process.state() == QProcess.ProcessState.NotRunning:
            return None
        return int(self._process.processId()) or None

    def spawned(self) -> bool:
        return self.pid is not None

    async def live_workers(self, fresh_seconds: float = 10.0) -> list[WorkerInfo]:
        """Workers with a heartbeat in the last ``fresh_seconds`` (any host)."""
        return await self.workers.live(fresh_seconds)

    async def refresh(self) -> WorkerInfo | None:
        """Re-read our worker's row (or the external worker's) and publish it."""
        workers = await self.live_workers(fresh_seconds=3600)
        pid, host = self.pid, socket.gethostname()
        mine = next((w for w in workers if pid and w.pid == pid and w.host == host), None)
        if mine is None and self.state == "external":
            mine = workers[0] if workers else None
            if mine is None or mine.heartbeat_age() > 10:
                self._set_state("stopped")  # the external worker went away
        if mine is not None and self.state == "starting":
            self._set_state("running")  # its heartbeat row is proof enough
        self.info = mine
        self.workerChanged.emit(mine)
        return mine

    # -- lifecycle -----------------------------------------------------------------------------

    async def ensure_worker(self) -> None:
        """Spawn a worker unless another one already serves this database. Published sites
        and services come back online too (a worker does the same when it starts; the one
        that comes second finds them running)."""
        self._restoring = asyncio.ensure_future(self.restore_served())
        others = await self.live_workers()
        if others:
            self.info = others[0]
            self._set_state("external")
            self.workerChanged.emit(self.info)
            log.info("a worker already serves this database; not spawning one",
                     worker=others[0].id)
            return
        self.spawn()

    async def restore_served(self) -> None:
        from worker.config import get_settings
        from worker.services.served import restore_served

        try:
            await restore_served(self.db.session, get_settings())
        except Exception as exc:
            log.warning("could not bring published projects back online",
                        error=f"{type(exc).__name__}: {exc}")

    def spawn(self) -> None:
        if self.spawned():
            return
        self._stopping = False
        program, *args = titan_command("worker", "--concurrency", str(self.concurrency))
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        for key, value in self.extra_env.items():
            env.insert(key, value)
        process.setProcessEnvironment(env)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._read_output)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self._process = process
        self._buffer = b""
        self._started_at = time.monotonic()
        self._set_state("starting")
        process.start(program, args)
        log.info("spawned worker", program=program)

    def _read_output(self) -> None:
        if self._process is None:
            return
        self._buffer += bytes(self._process.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = {"level": "INFO", "message": line}
            if not isinstance(entry, dict):
                entry = {"level": "INFO", "message": line}
            self.recent_lines.append(entry)
            if entry.get("message") == "worker started" and self.state == "starting":
                self._set_state("running")
            self.logLine.emit(entry)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            log.error("could not start the worker", error=str(error))
            self._on_finished(-1, QProcess.ExitStatus.CrashExit)

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.deleteLater()
        if self._stopping:
            self._set_state("stopped")
            return
        # Died on its own: crashed. Restart with backoff (reset after a minute of good health).
        if time.monotonic() - self._started_at > 60:
            self._backoff = 1.0
        delay = self._backoff
        self._backoff = min(self._backoff * 2, 30.0)
        self.restarts += 1
        log.warning("worker exited; restarting", exit_code=code,
                    crashed=status == QProcess.ExitStatus.CrashExit, restart_in=delay)
        self._set_state("crashed")
        self._restart_timer.start(int(delay * 1000))

    async def stop(self) -> None:
        """SIGTERM; kill after ``stop_timeout``. Returns once the process is gone."""
        self._restart_timer.stop()
        self._stopping = True
        process = self._process
        if process is None:
            if self.state != "external":
                self._set_state("stopped")
            return
        process.terminate()
        deadline = time.monotonic() + self.stop_timeout
        # _on_finished clears self._process (and deletes the QProcess) once it has exited.
        while self._process is process:
            if time.monotonic() > deadline:
                log.warning("worker did not stop in time; killing it")
                process.kill()
                deadline = time.monotonic() + 5
            await asyncio.sleep(0.05)

    def stop_blocking(self) -> None:
        """For the last moments of the app, when no event loop runs any more."""
        self._restart_timer.stop()
        self._stopping = True
        process = self._process
        if process is None:
            return
        process.terminate()
        if not process.waitForFinished(int(self.stop_timeout * 1000)):
            process.kill()
            process.waitForFinished(5000)

    async def restart(self) -> None:
        """Stop our worker (or take over from an external one) and spawn a fresh one."""
        await self.stop()
        self._backoff = 1.0
        self.spawn()

    def kill_for_test(self) -> None:
        """SIGKILL the worker, as a crash would (tests and the 'simulate crash' path)."""
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)

    async def send_command(self, command: str) -> bool:
        """'pause' | 'resume' | 'stop' to our worker (or the external one), via its row."""
        if command not in ("pause", "resume", "stop"):
            raise ValueError(command)
        target = self.info or await self.refresh()
        if target is None:
            return False
        return await self.workers.send(target.id, command)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.stateChanged.emit(state)


class EmbeddedDatabaseWatch(QObject):
    """Starts the embedded PostgreSQL again when it dies (a crash, an OOM kill) while the app
    runs. The app holds a handle on it, as its worker does; whichever notices first starts it
    (pgserver's lock), the other finds it running. Connections then reconnect by themselves."""

    restarted = Signal(object)  # datetime (local) at which the server ran again

    def __init__(self, home: Path, parent: QObject | None = None,
                 interval_ms: int = 1000) -> None:
        super().__init__(parent)
        self.home = home
        self.restarted_at: datetime | None = None
        self._busy = False
        self._task: asyncio.Future[None] | None = None
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self._check)
        self._timer.start()

    def _check(self) -> None:
        from worker.db.embedded import embedded_server_alive

        if self._busy or embedded_server_alive(self.home):
            return
        self._busy = True
        self._task = asyncio.ensure_future(self._restart())

    async def _restart(self) -> None:
        from worker.db.embedded import restart_embedded_server

        try:
            pid = await asyncio.to_thread(restart_embedded_server, self.home)
        except Exception as exc:  # old backends may still hold its memory: next tick
            log.warning("embedded PostgreSQL is down; could not start it yet",
                        error=f"{type(exc).__name__}: {exc}")
            return
        finally:
            self._busy = False
        if pid:
            self.restarted_at = datetime.now().astimezone()
            log.warning("embedded PostgreSQL had stopped; it runs again", pid=pid)
            self.restarted.emit(self.restarted_at)
