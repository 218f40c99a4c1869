"""The server's Prometheus metrics, in a registry of its own (two servers in one process never share one)."""
from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# Seconds: single-row requests take milliseconds, 1,000-row batches tens of them.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.04, 0.06, 0.1, 0.25, 0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 512, 2048, 8192)
disable_created_metrics()  # no `*_created` series: the server's /metrics is half as long


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter("ct_serve_requests", "HTTP requests by route and status code", ["route", "code"], registry=r)
        self.errors = Counter("ct_serve_errors", "HTTP requests answered with a 4xx or 5xx, by route and code",
                              ["route", "code"], registry=r)
        self.latency = Histogram("ct_serve_request_seconds", "request latency by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.rows = Counter("ct_serve_rows", "rows scored", registry=r)
        self.predictions = Counter("ct_serve_predictions", "predictions by class (classifiers)", ["label"], registry=r)
        self.batch_rows = Histogram("ct_serve_model_call_rows", "rows per model call (micro-batch size)",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.model = Gauge("ct_serve_model_info", "1 for the model version being served", ["version", "sha256"], registry=r)
        self.reloads = Counter("ct_serve_reloads", "model reloads by result (loaded, failed)", ["result"], registry=r)
        self.capture_buffer = Gauge("ct_serve_capture_buffer_rows", "captured rows not yet written to the inbox",
                                    registry=r)
        self.captured = Counter("ct_serve_captured_rows", "rows written to the CT inbox", registry=r)
        self.capture_failures = Counter("ct_serve_capture_failures", "capture files that could not be written", registry=r)
        self.capture_dropped = Counter("ct_serve_capture_dropped_rows", "captured rows lost to a failed write", registry=r)
        self.shadow_model = Gauge("ct_serve_shadow_info", "1 for the model version scored in shadow", ["version", "sha256"],
                                  registry=r)
        self.shadow_reloads = Counter("ct_serve_shadow_reloads", "shadow loads by result (loaded, failed, removed)", ["result"],
                                      registry=r)
        self.shadow_rows = Counter("ct_serve_shadow_rows", "rows the shadow scored", registry=r)
        self.shadow_skipped = Counter("ct_serve_shadow_skipped_rows", "rows production answered that the shadow did not score "
                                      "(its queue full, rows it refused, or held by a process that died)", registry=r)
        self.shadow_agreements = Counter("ct_serve_shadow_agreements", "rows the shadow labelled as production did", registry=r)
        self.shadow_predictions = Counter("ct_serve_shadow_predictions", "the shadow's predictions by class (classifiers)",
                                          ["label"], registry=r)
        self.shadow_crashes = Counter("ct_serve_shadow_crashes", "shadow processes that died (the next reload starts another)",
                                      registry=r)
        self.shadow_seconds = Histogram("ct_serve_shadow_call_seconds", "the shadow's model calls (in its process: one per "
                                        "micro-batch, or per backlog of them)",
                                        buckets=LATENCY_BUCKETS, registry=r)
        self.feedback = Counter("ct_serve_feedback", "feedback requests by result", ["result"], registry=r)

    def total(self, sample: str) -> float:
        """A sample summed over its labels, e.g. every `ct_serve_requests_total`."""
        return sum(s.value for m in self.registry.collect() for s in m.samples if s.name == sample)

    def summary(self) -> str:
        return (f"{self.total('ct_serve_requests_total'):.0f} requests ({self.total('ct_serve_errors_total'):.0f} errors), "
                f"{self.total('ct_serve_rows_total'):.0f} rows scored, {self.total('ct_serve_captured_rows_total'):.0f} captured, "
                f"{self.total('ct_serve_feedback_total'):.0f} feedback, {self.total('ct_serve_reloads_total'):.0f} reloads")

    def shadowing(self, version: str | None, sha256: str = "") -> None:
        self.shadow_model.clear()
        if version is not None:
            self.shadow_model.labels(version=version, sha256=sha256[:12]).set(1)

    def serving(self, version: str, sha256: str) -> None:
        self.model.clear()
        self.model.labels(version=version, sha256=sha256[:12]).set(1)
