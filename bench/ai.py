"""Titan's AI overhead: tokens/s through ``AIClient.chat`` vs the same server called directly,
and the delay from the server's first token to the first text Titan hands on.

    python bench/ai.py [--quick] [--reps N] [--max-tokens N] [--url URL --model M [--key K]]

Target: the local SmolLM2-135M server (worker/ai/local.py, started here on loopback) unless
``--url``/``--model``/``--key`` (or TITAN_AI_URL, TITAN_AI_MODEL, TITAN_AI_KEY) name another
OpenAI-compatible endpoint. Both clients reach the server through the same transparent loopback
TCP proxy, which timestamps the first response bytes that carry a non-empty ``"content"`` (the
server's first token on the wire). Runs alternate: Titan, direct, Titan, direct ...; the same
prompt, ``max_tokens`` and temperature 0 for both.

* **Titan**: ``AIClient.chat`` (openai SDK underneath, streaming, ``on_delta`` callback) with
  the ``ai_calls`` ledger writing to this script's own embedded PostgreSQL; the clock stops
  when ``chat`` returns, i.e. after the ledger row is written.
* **direct**: plain ``httpx`` streaming of the same request body, SSE lines parsed by hand:
  the floor any client can reach.
* **tokens/s**: completion tokens (the server's usage, else one per streamed chunk, as Titan
  counts) over the time from the first text to the end (``chat`` returning / stream closed).
  Split into "streaming only" (first to last text) and the tail (last text to the call
  returning: closing the stream and, for Titan, the ledger INSERT).
* **first token -> first text**: the proxy's timestamp of the first content bytes to the
  client's first text (Titan: its ``on_delta`` callback; direct: the first parsed delta).
  Both include the proxy's forwarding hop, so "direct" is the baseline for that hop.

A ``https://`` endpoint cannot be seen through a TCP proxy: then only tokens/s is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

# The repository root instead of bench/ (whose queue.py would shadow the stdlib's).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import httpx  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from bench.common import (  # noqa: E402
    embedded_server,
    endpoint_arguments,
    forget_user_data,
    header,
    load_average,
    parsed_with_endpoint,
    pct,
    print_table,
)
from worker.ai import AIClient, AIError, Endpoint  # noqa: E402
from worker.db.engine import Database  # noqa: E402
from worker.db.migrate import upgrade  # noqa: E402

if TYPE_CHECKING:
    from worker.ai.local import LocalServer

PROMPT = [{"role": "user", "content":
           "Write a long, detailed story about a lighthouse keeper who finds a message in a "
           "bottle. Describe the sea, the weather and every room of the lighthouse."}]
# The first SSE event whose delta carries text (not the role-only or empty first event).
FIRST_CONTENT = re.compile(rb'"content"\s*:\s*"(?!")')


class FirstTokenProxy:
    """A transparent loopback TCP proxy that notes when the server's first token passes by."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.first_token_at: float | None = None
        self._armed = False
        self._seen = b""
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    def arm(self) -> None:
        """Watch for the first content of the next response (one request at a time)."""
        self.first_token_at, self._armed, self._seen = None, True, b""

    async def _handle(self, client_r: asyncio.StreamReader,
                      client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(self.host, self.port)
        except OSError:  # the client then reports the endpoint unreachable
            client_w.close()
            return
        await asyncio.gather(self._pipe(client_r, server_w, watch=False),
                             self._pipe(server_r, client_w, watch=True))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                    watch: bool) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if watch and self._armed:
                    now = time.perf_counter()
                    # Keep a tail: a match may straddle two reads.
                    self._seen = self._seen[-64:] + data
                    if FIRST_CONTENT.search(self._seen):
                        self.first_token_at, self._armed = now, False
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


class Run:
    def __init__(self, tokens: int, first_text_at: float | None, last_text_at: float | None,
                 end: float, first_token_at: float | None) -> None:
        self.tokens = tokens
        self.tokens_per_s = _rate(tokens, first_text_at, end)
        # To the last text instead of the end: streaming alone, without closing and the ledger.
        self.stream_tokens_per_s = _rate(tokens - 1, first_text_at, last_text_at)
        self.tail_ms = (end - last_text_at) * 1000 if last_text_at is not None else None
        self.handoff_ms = ((first_text_at - first_token_at) * 1000
                           if first_text_at is not None and first_token_at is not None else None)


def _rate(tokens: int, start: float | None, end: float | None) -> float | None:
    if start is None or end is None or end <= start or tokens <= 0:
        return None
    return tokens / (end - start)


async def titan_once(client: AIClient, proxy: FirstTokenProxy | None, max_tokens: int) -> Run:
    seen: list[float] = []

    def on_delta(text: str) -> None:
        seen.append(time.perf_counter())

    if proxy:
        proxy.arm()
    completion = await client.chat(PROMPT, purpose="bench", on_delta=on_delta,
                                   max_tokens=max_tokens, temperature=0)
    end = time.perf_counter()
    return Run(completion.completion_tokens or 0, seen[0] if seen else None,
               seen[-1] if seen else None, end, proxy.first_token_at if proxy else None)


async def direct_once(http: httpx.AsyncClient, url: str, model: str, key: str | None,
                      proxy: FirstTokenProxy | None, max_tokens: int) -> Run:
    body = {"model": model, "messages": PROMPT, "stream": True, "max_tokens": max_tokens,
            "temperature": 0, "stream_options": {"include_usage": True}}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    first: float | None = None
    last: float | None = None
    chunks, usage = 0, None
    if proxy:
        proxy.arm()
    async with http.stream("POST", f"{url}/chat/completions", json=body,
                           headers=headers) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            chunk = json.loads(data)
            if chunk.get("usage"):
                usage = chunk["usage"].get("completion_tokens")
            for choice in chunk.get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    last = time.perf_counter()
                    if first is None:
                        first = last
                    chunks += 1
    end = time.perf_counter()
    return Run(usage or chunks, first, last, end, proxy.first_token_at if proxy else None)


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, f"127.0.0.1:{port}", parts.path, "", ""))


async def measure(db_url: str, endpoint: Endpoint, reps: int,
                  max_tokens: int) -> tuple[list[Run], list[Run], str]:
    parts = urlsplit(endpoint.url)
    proxy: FirstTokenProxy | None = None
    url = endpoint.url.rstrip("/")
    if parts.scheme == "http":
        proxy = FirstTokenProxy(parts.hostname or "127.0.0.1", parts.port or 80)
        url = _through(url, await proxy.start())
    key = endpoint.key.get_secret_value() if endpoint.key else None
    db = Database(db_url)
    client = AIClient(Endpoint(url, endpoint.model, endpoint.key, local=endpoint.local), db=db,
                      timeout_seconds=300)
    titan: list[Run] = []
    direct: list[Run] = []
    try:
        async with httpx.AsyncClient(timeout=300) as http:
            # One warm-up each: connections, the server's prompt cache, the ledger's pool.
            await titan_once(client, proxy, max_tokens)
            await direct_once(http, url, endpoint.model, key, proxy, max_tokens)
            for i in range(reps):
                titan.append(await titan_once(client, proxy, max_tokens))
                direct.append(await direct_once(http, url, endpoint.model, key, proxy,
                                                max_tokens))
                print(f"  rep {i + 1}/{reps}: titan {titan[-1].tokens} tok "
                      f"{titan[-1].tokens_per_s or 0:.1f} tok/s, direct {direct[-1].tokens} tok "
                      f"{direct[-1].tokens_per_s or 0:.1f} tok/s")
        async with db.session() as s:
            from sqlalchemy import text

            rows = (await s.execute(text("SELECT count(*) FROM ai_calls"))).scalar_one()
        ledger = f"{rows} ledger rows written (incl. 1 warm-up)"
    finally:
        await client.close()
        await db.dispose()
        if proxy:
            await proxy.stop()
    return titan, direct, ledger


def report(titan: list[Run], direct: list[Run], max_tokens: int) -> None:
    def tps(runs: list[Run]) -> list[float]:
        return [r.tokens_per_s for r in runs if r.tokens_per_s is not None]

    def ms(runs: list[Run]) -> list[float]:
        return [r.handoff_ms for r in runs if r.handoff_ms is not None]

    t_tps, d_tps = tps(titan), tps(direct)
    rows: list[list[object]] = []
    if t_tps and d_tps:
        t50, d50 = statistics.median(t_tps), statistics.median(d_tps)
        rows += [["tokens/s p50 (min-max)", f"{t50:.1f} ({min(t_tps):.1f}-{max(t_tps):.1f})",
                  f"{d50:.1f} ({min(d_tps):.1f}-{max(d_tps):.1f})", ""],
                 ["  Titan / direct", f"{t50 / d50:.3f}x", "", ">= 0.95x"]]
    pairs = [t.tokens_per_s / d.tokens_per_s for t, d in zip(titan, direct, strict=True)
             if t.tokens_per_s and d.tokens_per_s]
    if pairs:  # each Titan run beside the direct run right after it: robust to load drifting
        rows.append(["  Titan / direct, median of adjacent pairs (min-max)",
                     f"{statistics.median(pairs):.3f}x ({min(pairs):.2f}-{max(pairs):.2f})",
                     "", ""])
    t_s = [r.stream_tokens_per_s for r in titan if r.stream_tokens_per_s is not None]
    d_s = [r.stream_tokens_per_s for r in direct if r.stream_tokens_per_s is not None]
    if t_s and d_s:
        rows += [["  streaming only (first -> last text) p50", f"{statistics.median(t_s):.1f}",
                  f"{statistics.median(d_s):.1f}", ""],
                 ["  last text -> call returns p50 (close, ledger)",
                  f"{statistics.median([r.tail_ms for r in titan if r.tail_ms]):.1f} ms",
                  f"{statistics.median([r.tail_ms for r in direct if r.tail_ms]):.1f} ms", ""]]
    rows.append(["completion tokens per call (median)",
                 f"{statistics.median([r.tokens for r in titan]):.0f}",
                 f"{statistics.median([r.tokens for r in direct]):.0f}", f"max {max_tokens}"])
    t_ms, d_ms = ms(titan), ms(direct)
    if t_ms and d_ms:
        rows.append(["first token on the wire -> first text p50 / p95",
                     f"{pct(t_ms, 50):.2f} / {pct(t_ms, 95):.2f} ms",
                     f"{pct(d_ms, 50):.2f} / {pct(d_ms, 95):.2f} ms", "< 100 ms"])
        rows.append(["  max", f"{max(t_ms):.2f} ms", f"{max(d_ms):.2f} ms", ""])
    else:
        rows.append(["first token -> first text", "n/a (https)", "n/a", ""])
    print_table(["measure", "Titan (AIClient.chat)", "direct (httpx)", "goal"], rows)


async def _local_endpoint(log: Path) -> tuple[Endpoint, LocalServer]:
    from worker.ai.local import LocalServer, local_unavailable_reason

    reason = local_unavailable_reason()
    if reason is not None:
        raise SystemExit(f"bench/ai.py: no --url given and the local model cannot run: {reason}")
    server = LocalServer(log_path=log)
    return await server.start(timeout=180), server


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="5 repetitions of 32 tokens")
    ap.add_argument("--reps", type=int, help="repetitions per client (default 20)")
    ap.add_argument("--max-tokens", type=int, help="max_tokens per call (default 128)")
    endpoint_arguments(ap)
    args = parsed_with_endpoint(ap)
    if (args.reps is not None and args.reps < 1) or (args.max_tokens is not None
                                                     and args.max_tokens < 1):
        ap.error("--reps and --max-tokens must be at least 1")
    reps = args.reps or (5 if args.quick else 20)
    max_tokens = args.max_tokens or (32 if args.quick else 128)
    forget_user_data()
    with tempfile.TemporaryDirectory(prefix="titan-bench-ai-") as tmp:
        os.chmod(tmp, 0o755)  # pgserver drops to its own user when run as root
        with embedded_server(Path(tmp) / "server") as db_url:
            upgrade(db_url)
            try:
                return asyncio.run(_main(args, db_url, Path(tmp), reps, max_tokens))
            except (AIError, httpx.HTTPError) as exc:
                print(f"bench/ai.py: {exc} (the URL is the bench's loopback proxy to "
                      f"{args.url or 'the local model'})", file=sys.stderr)
                return 1


async def _main(args: argparse.Namespace, db_url: str, tmp: Path, reps: int,
                max_tokens: int) -> int:
    server: LocalServer | None = None
    if args.url:
        endpoint = Endpoint(args.url.rstrip("/"), args.model,
                            SecretStr(args.key) if args.key else None)
        target = f"{endpoint.safe_url}, model {endpoint.model}"
    else:
        endpoint, server = await _local_endpoint(tmp / "llama.log")
        target = f"local SmolLM2-135M-Instruct (llama-cpp-python server) at {endpoint.safe_url}"
    try:
        header("Titan AI client overhead: AIClient.chat vs direct httpx streaming",
               extra=[f"target:       {target}",
                      f"runs:         {reps} per client, alternating, after 1 warm-up each; "
                      f"max_tokens {max_tokens}, temperature 0"])
        titan, direct, ledger = await measure(db_url, endpoint, reps, max_tokens)
    finally:
        if server is not None:
            await server.stop()
    print()
    report(titan, direct, max_tokens)
    print(f"{ledger}; load average at end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
