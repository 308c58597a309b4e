"""Run an ApiServer on its own event loop in a background thread, for synchronous callers (tests, CLI)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from slipway_dev.apiserver.faults import FaultConfig
from slipway_dev.apiserver.server import ApiServer

_START_TIMEOUT_SECONDS = 30


@contextmanager
def running_apiserver(
    faults: FaultConfig | None = None, port: int = 0, bookmark_seconds: float = 30.0
) -> Iterator[ApiServer]:
    """`with running_apiserver() as server:` a started server on a free loopback port (`server.url`).

    The server's state belongs to its loop's thread: in-process callers reach `server.cluster` only
    through `call_soon_threadsafe`-style hand-offs, or simply over HTTP."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    server: ApiServer | None = None
    failure: list[BaseException] = []

    async def start() -> None:
        nonlocal server
        try:
            server = ApiServer(port=port, faults=faults, bookmark_seconds=bookmark_seconds)
            await server.start()
        except BaseException as error:  # handed to the caller's thread below
            failure.append(error)
        finally:
            started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        if not failure:
            loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name="slipway-apiserver", daemon=True)
    thread.start()
    if not started.wait(_START_TIMEOUT_SECONDS):
        raise TimeoutError("the API server did not start")
    if failure:
        thread.join()
        raise failure[0]
    assert server is not None
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=_START_TIMEOUT_SECONDS)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=_START_TIMEOUT_SECONDS)
