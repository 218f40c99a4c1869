"""uvicorn around the app: the socket, the start-up line, the graceful shutdown.

The socket is bound here, before uvicorn starts, so a port in use is one line and exit 1, and
`--port 0` can print the port the system picked (tests and benchmarks run servers in parallel).
A request must arrive whole, headers and body, within `serve.request_timeout_s` of its first byte
(or of the connection): uvicorn 0.54 times out only idle keep-alive connections (`timeout_keep_alive`)
and httptools has no read deadline, so a client that sends half a request would hold its connection
(and a slot of the event loop's file descriptors) for good. `Deadline` answers it 408 and closes.
SIGTERM (or SIGINT) stops accepting, lets in-flight requests finish (at most
`serve.shutdown_timeout_s`), flushes the capture buffer and exits 0.
"""
from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
from pathlib import Path
from typing import AsyncIterator

from ctml.config import Params
from ctml.errors import UserError
from ctml.serve.app import build
from ctml.serve.runtime import Runtime


def deadline_protocol(timeout_s: float) -> type:
    """uvicorn's httptools protocol with a deadline on receiving each request (see the module docstring)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class Deadline(HttpToolsProtocol):
        timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self.timer is None:
                self.timer = self.loop.call_later(timeout_s, self._expired)

        def _disarm(self) -> None:
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()  # a connection that never sends a whole request

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()  # the next request of a kept-alive connection

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _expired(self) -> None:
            self.timer = None
            if self.transport.is_closing():
                return
            if self.cycle is None or not self.cycle.response_started:
                self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                                     b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(TIMEOUT_BODY), TIMEOUT_BODY))
            self.transport.close()

    return Deadline


TIMEOUT_BODY = b'{"error": "request: not received whole within serve.request_timeout_s"}'


def bind(host: str, port: int) -> socket.socket:
    try:
        return socket.create_server((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UserError(f"--port {port}: {host}:{port} is in use (another server?); pick another port or stop it") from None
        raise UserError(f"--host {host} --port {port}: cannot listen there: {exc.strerror or exc}") from None


def serve(root: Path, params: Params, host: str, port: int) -> int:
    import uvicorn

    sock = bind(host, port)
    try:
        runtime = Runtime(root, params)
    except BaseException:
        sock.close()
        raise

    @contextlib.asynccontextmanager
    async def lifespan(_app: object) -> AsyncIterator[None]:
        yield
        runtime.stop()

    config = uvicorn.Config(build(runtime, lifespan), log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=params.serve.shutdown_timeout_s, loop="uvloop",
                            http=deadline_protocol(params.serve.request_timeout_s))
    served = runtime.current()
    print(f"serving {served.version if served else 'no model yet'} on http://{host}:{sock.getsockname()[1]}", flush=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        # uvicorn re-raises the signal it shut down on once it is done: by then the shutdown was clean (exit 0).
        signal.signal(sig, lambda *_: None)
    uvicorn.Server(config).run(sockets=[sock])
    print(f"stopped: {runtime.metrics.summary()}", flush=True)
    return 0
