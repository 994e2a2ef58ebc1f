"""uvicorn's HTTP protocol as the proxy serves it, driven in-process over a transport that
records what is written (tests/proxy/test_uvicorn_protocol.py, test_wsgi_cycle.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState


class Transport(asyncio.Transport):  # (only what uvicorn's protocol calls)
    """`events`: the bytes written, and "close"; with `strict`, a write after the close fails
    the test where it happens, else it is recorded after the "close"."""

    def __init__(self, *, strict: bool = True) -> None:
        super().__init__()
        self.events: list[Any] = []
        self.closing = False
        self.strict = strict
        self.protocol: Any = None  # the protocol it carries (set by `drive`)
        self.closed_at: float | None = None  # the loop's time of the close
        self.lost_at: float | None = None  # when `drive` ended the connection

    def write(self, data: bytes) -> None:
        assert not (self.strict and self.closing), "written after close"
        self.events.append(bytes(data))

    def close(self) -> None:
        if not self.closing:
            self.events.append("close")
            self.closed_at = asyncio.get_running_loop().time()
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def drive(
    protocol_class: type,
    app: Any,
    reads: Iterable[bytes],
    *,
    transport: Transport | None = None,
    lose_after: int | None = None,
    linger: float = 0.0,
    during: Any = None,
    **options: Any,
) -> list[Any]:
    """What `protocol_class` serving the ASGI `app` wrote for `reads` (each its own read, until
    the connection closes); with `lose_after`, the connection is lost once that many writes
    were made; `during(protocol)`, if given, is called once the reads are in. Every request
    must have finished; then, with `linger`, the loop runs that many seconds more (timers
    fire) before the connection is lost. `options`: uvicorn's Config's (timeout_keep_alive)."""

    async def run() -> list[Any]:
        losing = lose_after
        config = Config(app, http=protocol_class, lifespan="off", log_config=None, **options)
        config.load()
        state = ServerState()
        protocol = protocol_class(
            config=config, server_state=state, app_state={}, _loop=asyncio.get_running_loop()
        )
        written = transport or Transport()
        written.protocol = protocol
        protocol.connection_made(written)
        for data in reads:
            if written.closing:
                break
            protocol.data_received(data)
            await asyncio.sleep(0)
        if during is not None:
            during(protocol)
        for _ in range(400):
            await asyncio.sleep(0)
            if losing is not None and len(written.events) >= losing:
                written.close()
                protocol.connection_lost(None)
                losing = None
            if not state.tasks and not protocol.pipeline:
                break
        assert not state.tasks, "a request was never finished"
        if linger:
            await asyncio.sleep(linger)
        written.lost_at = asyncio.get_running_loop().time()
        protocol.connection_lost(None)
        return written.events

    return asyncio.run(run())
