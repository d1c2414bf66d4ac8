"""A loopback TCP port in front of a service that runs in the sandbox.

Model-written services (fastapi/service with a model) run in bubblewrap with no network of their
own: they listen on a unix socket in a folder bound into the sandbox. This small process, Titan's
own code, is what ``start_service`` records and what outlives the worker:

    python -m worker.templatekit.proxy PORT SOCKET -- BWRAP ARGV...

It starts the sandboxed command as its child (bwrap's ``--die-with-parent`` ends the service with
this process), then copies bytes between ``127.0.0.1:PORT`` and ``SOCKET`` (relative to the
working directory: a socket path is limited to 108 bytes). When the child exits, so does the
proxy, with the child's status: ``start_service`` then shows the service's own output.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            writer.close()


async def _serve(port: int, socket_path: str, argv: list[str]) -> int:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)  # a stale socket from a run that was killed
    child = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL)

    async def relay(client_reader: asyncio.StreamReader,
                    client_writer: asyncio.StreamWriter) -> None:
        try:
            service_reader, service_writer = await asyncio.open_unix_connection(socket_path)
        except OSError:  # not listening yet (or gone): the client sees a closed connection
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, service_writer),
                             _pipe(service_reader, client_writer))

    server = await asyncio.start_server(relay, "127.0.0.1", port)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, child.terminate)
    async with server:
        status = await child.wait()
    return status if status >= 0 else 128 - status


def main(args: list[str]) -> int:
    if len(args) < 4 or args[2] != "--":
        print("usage: python -m worker.templatekit.proxy PORT SOCKET -- ARGV...", file=sys.stderr)
        return 2
    return asyncio.run(_serve(int(args[0]), args[1], args[3:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
