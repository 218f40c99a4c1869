"""The running server's state: the model being served, and the parts around it, reloaded in place.

Hot reload: a thread looks every `serve.reload_interval_s` for a new production version
(`ctml.ct.release.production`); it loads and verifies the new model beside the old one, then swaps one
reference. The batcher reads that reference once per micro-batch, so no request fails during the
swap and none mixes versions; each response names the version that answered it. A model that fails
its integrity check is never loaded: the old one keeps serving, and the failure is logged and counted.
The server never takes the CT lock: it only reads git tags and models/production. A version in
shadow (`release.mode: shadow`) is found the same way and scored beside production after each reply,
in a process of its own that loads it from .ct/shadow/ (ctml.serve.shadow); it never answers a request.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from ctml import layout
from ctml.config import Params
from ctml.errors import UserError
from ctml.provenance import git_commit
from ctml.serve import scoring
from ctml.ct.release import production
from ctml.serve.batcher import Batcher
from ctml.serve.capture import Capture
from ctml.serve.feedback import Feedback, Recorded
from ctml.serve.metrics import Metrics
from ctml.serve.scoring import Scored, Served
from ctml.serve.shadow import ShadowScorer
from ctml.ct.release import shadow as shadows

MB = 1 << 20


def log(line: str) -> None:
    print(f"serve: {line}", file=sys.stderr, flush=True)


class Runtime:
    def __init__(self, root: Path, params: Params) -> None:
        """Load production (a UserError when its model fails the integrity check), then start the parts."""
        sp = params.serve
        self.root, self.params = root, params
        self.max_body = int(sp.max_body_mb * MB)
        self.server_version = git_commit(root)[:12]
        self.metrics = Metrics()
        self.served: Served | None = None
        self.waiting: tuple[str, str] | None = None  # (version, reason) last logged as not loadable, logged once
        prod = production.production(root)
        if prod is None:
            log("no production model yet: live, not ready (the next release is served within "
                f"{sp.reload_interval_s:g} s)")
        else:
            recorded = production.workspace_sha(root)
            if recorded != prod.sha256:
                raise UserError(f"{layout.PRODUCTION / 'model.json'}: records sha256 {str(recorded)[:12]}…, production "
                                f"{prod.version} has {prod.sha256[:12]}…; bring the workspace to it (git checkout, "
                                "dvc checkout) or let the running ct.py finish")
            self._swap(self._load(prod))
        self.capture = Capture(root, params.data.target, sp.capture_rows, sp.capture_seconds, sp.capture_sample, self.metrics)
        self.feedback = Feedback(root / layout.SERVED_REQUESTS, sp.feedback_retention_hours)
        self.shadow = ShadowScorer(root / layout.SHADOW, root / layout.TEST_SPLIT, params.validate_, self.capture,
                                   self.metrics, log)
        self.check_shadow()
        self.batcher = Batcher(self.current, sp.batch_wait_ms / 1000, sp.max_batch_rows, self._scored, self.shadow.offer)
        self.stopping = threading.Event()
        self.reloader = threading.Thread(target=self._watch, name="ct-serve-reload", daemon=True)
        self.reloader.start()

    def current(self) -> Served | None:
        return self.served

    def _load(self, prod: production.Production) -> Served:
        folder, test = self.root / layout.PRODUCTION, self.root / layout.TEST_SPLIT
        check = pd.read_parquet(test) if test.exists() else None  # the compiled model is used only if it agrees here
        return scoring.load(folder / "model.joblib", folder / "model.json", self.root / layout.SCHEMA, prod.version,
                            self.params.validate_, check)

    def _swap(self, served: Served) -> None:
        old, self.served = self.served, served
        self.metrics.serving(served.version, served.sha256)
        runtime = "compiled runtime" if served.fast else "scikit-learn"
        log(f"serving {served.version} (sha256 {served.sha256[:12]}…, {runtime})" + (f", replacing {old.version}" if old else ""))

    def check_reload(self) -> None:
        """Serve the production version if it is not the one served (see the module docstring)."""
        prod = production.production(self.root)
        if prod is None or (self.served is not None and (prod.version, prod.sha256) == (self.served.version, self.served.sha256)):
            return
        if production.workspace_sha(self.root) != prod.sha256:
            return  # the workspace is not at that version (yet, or someone changed it): keep serving, look again
        try:
            served = self._load(prod)
        except (UserError, OSError, ValueError) as exc:
            self.metrics.reloads.labels("failed").inc()
            if self.waiting != (prod.version, str(exc)):
                self.waiting = (prod.version, str(exc))
                log(f"error: not loading {prod.version}: {exc}; still serving "
                    f"{self.served.version if self.served else 'nothing'}")
            return
        self.metrics.reloads.labels("loaded").inc()
        self._swap(served)

    def check_shadow(self) -> None:
        """Score the version in shadow beside production once its local copy (.ct/shadow) is the one its
        tag records; stop when it leaves the stage (promoted or retired). A copy that is missing or
        changed is never loaded: production serves on, the failure is logged once and counted."""
        try:
            found = shadows.current(self.root)
            why = None if found is None else shadows.problem(self.root, found)
        except UserError as exc:
            found, why = None, str(exc)
        self.shadow.check(found, why)

    def _watch(self) -> None:
        while not self.stopping.wait(self.params.serve.reload_interval_s):
            try:
                self.check_reload()
                self.check_shadow()
                self.feedback.forget_expired()
            except Exception as exc:  # a git or disk hiccup must not end reloading
                log(f"error: reload check: {exc}")

    def _scored(self, served: Served, scored: list[Scored]) -> None:
        keys = self.feedback.served(scored)
        captured = self.capture.add(scored, served.features, keys)
        self.feedback.captured([s.request.id for s, taken in zip(scored, captured) if taken])
        m = self.metrics
        rows = sum(s.request.rows for s in scored)
        m.rows.inc(rows)
        m.batch_rows.observe(rows)
        if served.classes is not None:
            labels, counts = np.unique(np.concatenate([s.labels for s in scored]), return_counts=True)
            for label, count in zip(labels.tolist(), counts.tolist()):
                m.predictions.labels(str(label)).inc(count)

    def record_feedback(self, body: bytes) -> Recorded:
        recorded, labels = self.feedback.record(body, self.served)
        if recorded.new and recorded.captured:
            self.capture.add_labels(recorded.key, labels)
        return recorded

    def stop(self) -> None:
        """Shutdown, after the last request was answered: stop reloading, answer what is queued, flush."""
        self.stopping.set()
        self.reloader.join()
        self.batcher.stop()
        self.shadow.stop()
        self.capture.stop()
        self.feedback.close()
