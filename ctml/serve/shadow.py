"""The shadow model scored beside production, never in the way of an answer.

The bound: production's replies never wait for the shadow. The batcher hands each micro-batch to
this thread after its replies are set; the shadow scores the same requests with one model call of
its own and its labels go onto the captured rows (`_ct_shadow_prediction`, `_ct_shadow_version`)
and into /metrics. At most `QUEUE_BATCHES` micro-batches wait here: beyond that a micro-batch is
not scored by the shadow (counted in `ct_serve_shadow_skipped_rows`), so a slow shadow costs
evidence, never latency or memory. What it still shares with production is the CPU (and the GIL
between NumPy calls); benchmarks/results.md measures that cost.
"""
from __future__ import annotations

import queue
import sys
import threading
import time
from typing import Callable

import numpy as np

from ctml.serve.capture import Capture
from ctml.serve.metrics import Metrics
from ctml.serve.protocol import RequestError
from ctml.serve.scoring import Scored, Served, score

QUEUE_BATCHES = 8


class ShadowScorer:
    def __init__(self, current: Callable[[], Served | None], capture: Capture, metrics: Metrics) -> None:
        """`current`: the shadow to use now (None: nothing to do)."""
        self.current, self.capture, self.metrics = current, capture, metrics
        self.queue: queue.Queue[list[Scored] | None] = queue.Queue(maxsize=QUEUE_BATCHES)
        self.thread = threading.Thread(target=self._run, name="ct-serve-shadow", daemon=True)
        self.thread.start()

    def offer(self, scored: list[Scored]) -> None:
        """A micro-batch production answered; dropped (and counted) when the shadow is behind."""
        if self.current() is None or not scored:
            return
        try:
            self.queue.put_nowait(scored)
        except queue.Full:
            self.metrics.shadow_skipped.inc(sum(s.request.rows for s in scored))

    def stop(self) -> None:
        """Score what waits, then end the thread (before the capture's last flush)."""
        self.queue.put(None)
        self.thread.join()

    def _run(self) -> None:
        while (scored := self.queue.get()) is not None:
            try:
                self._score(scored)
            except Exception as exc:  # a shadow failure never ends the thread nor touches production
                self.metrics.shadow_skipped.inc(sum(s.request.rows for s in scored))
                print(f"serve: error: shadow: {exc}", file=sys.stderr, flush=True)

    def _score(self, scored: list[Scored]) -> None:
        shadow = self.current()
        if shadow is None:
            return
        m = self.metrics
        tick = time.perf_counter()
        results = score(shadow, [s.request for s in scored])
        m.shadow_seconds.observe(time.perf_counter() - tick)
        answers = [(s, r) for s, r in zip(scored, results) if not isinstance(r, RequestError)]
        m.shadow_skipped.inc(sum(s.request.rows for s, r in zip(scored, results) if isinstance(r, RequestError)))
        if not answers:
            return
        self.capture.add_shadow([(s.request.id, r.labels.tolist()) for s, r in answers], shadow.version)
        ours = np.concatenate([r.labels for _, r in answers])
        m.shadow_rows.inc(len(ours))
        m.shadow_agreements.inc(int(np.sum(ours == np.concatenate([s.labels for s, _ in answers]))))
        if shadow.classes is not None:
            labels, counts = np.unique(ours, return_counts=True)
            for label, count in zip(labels.tolist(), counts.tolist()):
                m.shadow_predictions.labels(str(label)).inc(count)
