"""The ASGI routes (Starlette): the V2 REST API, /feedback and /metrics.

The event loop only reads bodies, parses and answers; scoring runs in the batcher's thread and
feedback (SQLite) in Starlette's thread pool. Every error is a V2 error body, `{"error": "..."}`,
one line naming the field or column.
"""
from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.requests import Request as HttpRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ctml.serve.protocol import RequestError, parse_infer, response
from ctml.serve.runtime import Runtime

JSON = "application/json"
MAX_KINDS = 1000  # kinds of rejection logged: a fuzzing client cannot grow the set without bound


def error(message: str, status: int) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def read_body(request: HttpRequest, limit: int) -> bytes:
    """The body, refused with 413 past `limit` bytes (by its Content-Length, or as it streams in)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(f"request body: {int(declared)} bytes, above the limit of {limit} (serve.max_body_mb)", 413)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(f"request body: above the limit of {limit} bytes (serve.max_body_mb)", 413)
            chunks.append(chunk)
    except ClientDisconnect:  # closed mid-body (by the client, or by serve.request_timeout_s): nobody to answer
        raise RequestError("request body: the connection closed before the body was whole", 408) from None
    return b"".join(chunks)


def rejections() -> Callable[[str, RequestError], None]:
    """One log line per kind of rejected request (route, status and the message's first clause), the
    first time it is seen: a client repeating a bad request is counted in /metrics, not logged each time."""
    seen: set[tuple[str, int, str]] = set()

    def rejected(path: str, exc: RequestError) -> None:
        kind = (path, exc.status, str(exc).split(":", 1)[0])
        if kind not in seen and len(seen) < MAX_KINDS:
            seen.add(kind)
            print(f"serve: rejected {path} ({exc.status}): {exc} (further ones of this kind counted in /metrics)",
                  file=sys.stderr, flush=True)
    return rejected


def build(runtime: Runtime, lifespan: Any = None) -> Starlette:
    m = runtime.metrics
    rejected = rejections()

    def route(path: str, handler: Callable[[HttpRequest], Awaitable[Response]], methods: list[str]) -> Route:
        """The route with its metrics, and any RequestError turned into its 4xx."""
        async def endpoint(request: HttpRequest) -> Response:
            start = time.perf_counter()
            try:
                reply = await handler(request)
            except RequestError as exc:
                reply = error(str(exc), exc.status)
                rejected(path, exc)
            code = str(reply.status_code)
            m.requests.labels(path, code).inc()
            if reply.status_code >= 400:
                m.errors.labels(path, code).inc()
            m.latency.labels(path).observe(time.perf_counter() - start)
            return reply
        return Route(path, endpoint, methods=methods)

    async def server_metadata(_: HttpRequest) -> Response:
        return JSONResponse({"name": "ct-serve", "version": runtime.server_version, "extensions": []})

    async def live(_: HttpRequest) -> Response:
        return JSONResponse({"live": True})

    async def ready(_: HttpRequest) -> Response:
        served = runtime.current()
        return JSONResponse({"ready": served is not None}, status_code=200 if served else 503)

    async def model_ready(_: HttpRequest) -> Response:
        served = runtime.current()
        return JSONResponse({"name": "model", "ready": served is not None, **({"version": served.version} if served else {})},
                            status_code=200 if served else 503)

    async def model_metadata(_: HttpRequest) -> Response:
        served = runtime.current()
        if served is None:
            raise RequestError("model: no production model yet (release one with `ct.py check` or `ct.py promote`)", 503)
        return JSONResponse(served.metadata())

    async def infer(request: HttpRequest) -> Response:
        body = await read_body(request, runtime.max_body)
        served = runtime.current()
        if served is None:
            raise RequestError("model: no production model yet", 503)
        parsed = parse_infer(body, served.kinds, served.outputs)
        scored = await asyncio.wrap_future(runtime.batcher.submit(parsed))
        return Response(response(scored.request, scored.version, scored.outputs()), media_type=JSON)

    async def feedback(request: HttpRequest) -> Response:
        body = await read_body(request, runtime.max_body)
        try:
            recorded = await run_in_threadpool(runtime.record_feedback, body)
        except RequestError as exc:
            m.feedback.labels({400: "invalid", 404: "unknown", 409: "conflict"}.get(exc.status, "invalid")).inc()
            raise
        m.feedback.labels("recorded" if recorded.new else "repeated").inc()
        return JSONResponse({"id": recorded.id, "rows": recorded.rows, "recorded": recorded.new,
                             "captured": recorded.captured})

    async def metrics(_: HttpRequest) -> Response:
        return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

    routes = [
        route("/v2", server_metadata, ["GET"]),
        route("/v2/health/live", live, ["GET"]),
        route("/v2/health/ready", ready, ["GET"]),
        route("/v2/models/model/ready", model_ready, ["GET"]),
        route("/v2/models/model", model_metadata, ["GET"]),
        route("/v2/models/model/infer", infer, ["POST"]),
        route("/feedback", feedback, ["POST"]),
        route("/metrics", metrics, ["GET"]),
    ]

    async def not_found(_: HttpRequest, exc: Exception) -> Response:
        """404 and 405 as V2 error bodies, with Starlette's headers kept (405's `Allow`).

        Starlette builds `Allow` from a set, so its order changes with the hash seed; it is sorted
        here so that the same request gets the same bytes back."""
        status = getattr(exc, "status_code", 404)
        reply = error(f"{getattr(exc, 'detail', 'not found')}", status)
        headers = dict(getattr(exc, "headers", None) or {})
        if "Allow" in headers:
            headers["Allow"] = ", ".join(sorted(m.strip() for m in headers["Allow"].split(",")))
        reply.headers.update(headers)
        return reply

    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found, 405: not_found})
