"""uvicorn around the app: the socket, the start-up line, the graceful shutdown.

The socket is bound here, before uvicorn starts, so a port in use is one line and exit 1, and
`--port 0` can print the port the system picked (tests and benchmarks run servers in parallel).
SIGTERM (or SIGINT) stops accepting, lets in-flight requests finish (at most
`serve.shutdown_timeout_s`), flushes the capture buffer and exits 0.
"""
from __future__ import annotations

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
                            timeout_graceful_shutdown=params.serve.shutdown_timeout_s, loop="uvloop", http="httptools")
    served = runtime.current()
    print(f"serving {served.version if served else 'no model yet'} on http://{host}:{sock.getsockname()[1]}", flush=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        # uvicorn re-raises the signal it shut down on once it is done: by then the shutdown was clean (exit 0).
        signal.signal(sig, lambda *_: None)
    uvicorn.Server(config).run(sockets=[sock])
    print(f"stopped: {runtime.metrics.summary()}", flush=True)
    return 0
