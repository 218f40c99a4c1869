"""Adaptive micro-batching: requests that arrive together are answered by one model call.

Why a thread of its own: model work never runs on the event loop, which only parses, queues and
answers. The worker takes the first waiting request, then every request already queued; it waits
up to `serve.batch_wait_ms` for more only when the last call answered more than one request (a
sign of concurrent clients), so a lone client never pays the wait. The model is read once per
micro-batch: a reload swaps it between two calls, never inside one.
"""
from __future__ import annotations

import queue
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

from ctml.serve.protocol import Request, RequestError
from ctml.serve.scoring import Scored, Served, score


@dataclass
class _Item:
    request: Request
    future: Future


class Batcher:
    def __init__(self, current: Callable[[], Served | None], wait_s: float, max_rows: int,
                 done: Callable[[Served, list[Scored]], None], after: Callable[[list[Scored]], None] | None = None) -> None:
        """`current`: the model to use now; `done`: called with each micro-batch's answers before
        they are handed back (capture, feedback ids, metrics); `after`: once they are (the shadow)."""
        self.current, self.wait_s, self.max_rows, self.done, self.after = current, wait_s, max_rows, done, after
        self.queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self.concurrent = False
        self.thread = threading.Thread(target=self._run, name="ct-serve-model", daemon=True)
        self.thread.start()

    def submit(self, request: Request) -> Future:
        future: Future = Future()
        self.queue.put(_Item(request, future))
        return future

    def stop(self) -> None:
        """Answer what is queued, then end the worker."""
        self.queue.put(None)
        self.thread.join()

    def _collect(self, first: _Item) -> tuple[list[_Item], bool]:
        items, rows, stop = [first], first.request.rows, False
        deadline = time.monotonic() + (self.wait_s if self.concurrent else 0.0)
        while rows < self.max_rows:
            try:
                remaining = deadline - time.monotonic()
                item = self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                stop = True
                break
            items.append(item)
            rows += item.request.rows
        return items, stop

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            if first is None:
                return
            items, stop = self._collect(first)
            self.concurrent = len(items) > 1
            self._answer(items)
            if stop:
                return

    def _answer(self, items: list[_Item]) -> None:
        served = self.current()
        if served is None:
            for item in items:
                item.future.set_exception(RequestError("model: no production model loaded yet", 503))
            return
        try:
            results = score(served, [item.request for item in items])
        except Exception as exc:  # a model failure: every request of the batch gets it, the worker lives on
            for item in items:
                item.future.set_exception(exc)
            return
        scored = [r for r in results if isinstance(r, Scored)]
        try:
            if scored:  # a micro-batch whose every request was refused has nothing to count or capture
                self.done(served, scored)
        except Exception as exc:  # bookkeeping never fails a request that was answered
            print(f"serve: error: after scoring: {exc}", file=sys.stderr, flush=True)
        for item, result in zip(items, results):
            if isinstance(result, RequestError):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)
        if self.after is not None:
            self.after(scored)
