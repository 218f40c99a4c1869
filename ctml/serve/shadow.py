"""The shadow model scored beside production in a process of its own, never in the way of an answer.

Why a process: scored on a thread of the server, the shadow held the GIL and shared production's
core: at load 1.9 on 2 cores production's p95 was 1.7x-2.0x of production alone
(benchmarks/results.md, before this module). Here it runs in a child process (`python -c`: no copy
of the server's threads or locks, no multiprocessing helper process) that lowers its CPU priority by
`NICE` once its imports are done: it holds no GIL of the server's, and the kernel gives the CPU to
production first. Its start (imports, about a CPU-second) is at the server's priority, so that a busy
machine does not starve a shadow before it scored anything; it happens when the server starts, when
a shadow appears and after a crash. benchmarks/results.md measures what is left.

The bound: a reply never waits for the shadow. The batcher offers each micro-batch after its
replies are set; `offer` only appends it to a queue, and a sender thread pickles its parsed requests
(and production's labels, for the agreements) into the child's pipe. The child scores what waits
with one model call (a backlog is one call, not one per micro-batch: a shadow behind catches up) and
sends back its labels, which a reader thread puts onto the captured rows (`capture.add_shadow`) and
into /metrics. At most `QUEUE_ROWS` rows are in flight: beyond that a micro-batch is not scored
(`ct_serve_shadow_skipped_rows`), so a slow or starved shadow costs evidence, never latency or memory.
Why rows, not micro-batches: the memory is in rows, and a backlog of small micro-batches is one cheap
call in the child; a bound of 8 micro-batches skipped 59% of the benchmark's rows at load 5.

The child loads the model itself with the verified loader, from .ct/shadow and only if its sha256 is
the one the version's tag records: a missing or changed file is never scored. A new shadow is loaded
into the running child; a shadow that leaves the stage ends it. A child that dies costs the
micro-batches it held (skipped), `ct_serve_shadow_crashes` and one log line, and the next reload
starts another. Shutdown lets it score what waits, then ends and reaps it: no orphan.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd

from ctml.config import ValidateParams
from ctml.serve.capture import Capture
from ctml.serve.metrics import Metrics
from ctml.serve.protocol import Request
from ctml.serve.scoring import Scored, Served, load, score

if TYPE_CHECKING:  # the child imports this module: it needs none of the release code
    from ctml.ct.release.shadow import Shadow

QUEUE_ROWS = 10_000  # rows sent to the child and not yet answered (at least one micro-batch, however large)
NICE = 10  # the child's niceness above the server's (at most 19)
STOP_S = 10.0  # longest wait for the child to score what waits and exit before it is killed
CODE = Path(__file__).resolve().parents[2]  # where `ctml` is imported from: the child's working directory
ENTRY = "from ctml.serve.shadow import child_main; child_main()"


@dataclass(frozen=True)
class Load:
    """Server -> child: score with this model from now on (its file must have `sha256`); `check`:
    the test split, on which a compiled model must agree with scikit-learn to be used."""

    folder: str
    version: str
    sha256: str
    check: str
    rules: ValidateParams


@dataclass(frozen=True)
class Batch:
    """Server -> child: a micro-batch production answered, with production's labels per request."""

    seq: int
    requests: list[Request]
    production: list[np.ndarray]


@dataclass(frozen=True)
class Loaded:
    """Child -> server: the model of a `Load` is the one scored now."""

    version: str
    sha256: str
    fast: bool


@dataclass(frozen=True)
class Failed:
    """Child -> server: the model of a `Load` was not loaded (nothing is scored until the next)."""

    version: str
    sha256: str
    why: str


@dataclass(frozen=True)
class Result:
    """One micro-batch as the shadow scored it; `version` None: nothing scored (no model loaded)."""

    seq: int
    version: str | None
    labels: list[tuple[str, list[Any]]]  # (request id, the shadow's label per row) of the requests it scored
    skipped: int  # rows it did not score (refused by its schema, or the call failed)
    agreements: int  # rows labelled as production labelled them
    counts: dict[str, int]  # the shadow's labels by class (classifiers)
    error: str = ""


@dataclass(frozen=True)
class Reply:
    """Child -> server: the micro-batches of one model call, and how long the call took."""

    results: list[Result]
    seconds: float


# --- the child ----------------------------------------------------------------------------------

def child_main() -> None:
    """The child (`ENTRY`; its one argument: its end of the pipe): load what it is told, score what it
    is sent, end on None or when the server's end closes."""
    os.nice(NICE)  # the kernel serves production first (capped at 19)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the server ends the child
    conn = Connection(int(sys.argv[1]))
    shadow: Served | None = None
    held: list[Any] = []  # a message read while gathering batches, handled next
    while True:
        try:
            message = held.pop() if held else conn.recv()
        except EOFError:  # the server is gone
            return
        if message is None:
            return
        if isinstance(message, Load):
            shadow, reply = load_shadow(message)
            conn.send(reply)
            continue
        batches = [message]
        while not held and conn.poll():  # what is already sent joins the same model call
            more = conn.recv()
            if isinstance(more, Batch):
                batches.append(more)
            else:
                held.append(more)
        conn.send(score_batches(shadow, batches))


def load_shadow(message: Load) -> tuple[Served | None, Loaded | Failed]:
    """The model of `message` through the verified loader, and only if it is the sha256 asked for."""
    folder, check = Path(message.folder), Path(message.check)
    try:
        rows = pd.read_parquet(check) if check.exists() else None
        served = load(folder / "model.joblib", folder / "model.json", folder / "schema.json", message.version,
                      message.rules, rows)
    except Exception as exc:  # any failure to load is the server's to report; the child lives on
        return None, Failed(message.version, message.sha256, str(exc))
    if served.sha256 != message.sha256:
        return None, Failed(message.version, message.sha256,
                            f"{folder / 'model.joblib'}: sha256 {served.sha256[:12]}… is not the {message.sha256[:12]}… "
                            "its tag records")
    return served, Loaded(served.version, served.sha256, served.fast is not None)


def score_batches(shadow: Served | None, batches: list[Batch]) -> Reply:
    """Every request of `batches` in one model call, answered per micro-batch."""
    rows = [sum(r.rows for r in b.requests) for b in batches]
    if shadow is None:
        return Reply([Result(b.seq, None, [], n, 0, {}) for b, n in zip(batches, rows)], 0.0)
    tick = time.perf_counter()
    try:
        answers = score(shadow, [r for b in batches for r in b.requests])
    except Exception as exc:  # a shadow failure is counted, never fatal
        return Reply([Result(b.seq, shadow.version, [], n, 0, {}, f"{type(exc).__name__}: {exc}")
                      for b, n in zip(batches, rows)], time.perf_counter() - tick)
    seconds = time.perf_counter() - tick
    results, at = [], 0
    for b, n in zip(batches, rows):
        mine = [(a, p) for a, p in zip(answers[at:at + len(b.requests)], b.production) if isinstance(a, Scored)]
        at += len(b.requests)
        ours = np.concatenate([a.labels for a, _ in mine]) if mine else np.array([])
        counts: dict[str, int] = {}
        if shadow.classes is not None and len(ours):
            labels, tally = np.unique(ours, return_counts=True)
            counts = {str(label): count for label, count in zip(labels.tolist(), tally.tolist())}
        agreements = int(np.sum(ours == np.concatenate([p for _, p in mine]))) if mine else 0
        results.append(Result(b.seq, shadow.version, [(a.request.id, a.labels.tolist()) for a, _ in mine],
                              n - len(ours), agreements, counts))
    return Reply(results, seconds)


# --- the server's side ------------------------------------------------------------------------

@dataclass(eq=False)
class _Child:
    """One child process, the server's end of its pipe, and the micro-batches it holds (seq -> rows)."""

    process: subprocess.Popen
    conn: Connection
    outbox: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)  # to the sender thread; None ends it
    pending: dict[int, int] = field(default_factory=dict)
    pending_rows: int = 0
    threads: list[threading.Thread] = field(default_factory=list)  # [sender, reader]


class ShadowScorer:
    """The server's side: the micro-batch thread offers, the reload thread checks, shutdown stops;
    the state (which child, which version it was asked for and confirmed) changes under one lock."""

    def __init__(self, folder: Path, check: Path, rules: ValidateParams, capture: Capture, metrics: Metrics,
                 log: Callable[[str], None]) -> None:
        """`folder`: the shadow's local copy; `check`: the test split (see `Load`)."""
        self.folder, self.check_path, self.rules = folder.resolve(), check.resolve(), rules
        self.capture, self.metrics, self.log = capture, metrics, log
        self.lock = threading.Lock()
        self.child: _Child | None = None
        self.asked: tuple[str, str] | None = None  # (version, sha256) the child was last told to load
        self.version: str | None = None  # the version the child said it scores: micro-batches are offered
        self.waiting: tuple[str, str] | None = None  # (version, why) last logged as not loadable: logged once
        self.seq = 0

    def offer(self, scored: list[Scored]) -> None:
        """A micro-batch production answered (the micro-batch thread): queued for the child, or
        counted as skipped when it is behind. Never blocks."""
        child = self.child
        if self.version is None or child is None or not scored:
            return
        rows = sum(s.request.rows for s in scored)
        with self.lock:
            if self.child is not child:  # ended meanwhile
                return
            full = bool(child.pending) and child.pending_rows + rows > QUEUE_ROWS
            if not full:
                self.seq += 1
                seq = self.seq
                child.pending[seq] = rows
                child.pending_rows += rows
        if full:
            self.metrics.shadow_skipped.inc(rows)
        else:
            child.outbox.put(Batch(seq, [s.request for s in scored], [s.labels for s in scored]))

    def check(self, found: Shadow | None, why: str | None) -> None:
        """The reload thread's look at the shadow stage: `found` (None: no shadow) and why its local
        copy cannot be scored (None: it can). Starts or tells the child; ends it once the shadow left."""
        if found is None or why is not None:
            if self.asked is not None and (found is None or found.version != self.asked[0]):
                self._end(f"shadow {self.asked[0]} left the shadow stage: scoring production only")
            if why is not None and found is not None:
                self.failed(found.version, why)
            return
        if self.child is not None and self.asked == (found.version, found.sha256):
            return  # loaded, or being loaded
        try:
            child = self.child or self._start()
        except OSError as exc:  # no process to be had (out of memory, of file descriptors): production serves on
            self.failed(found.version, f"cannot start its process: {exc.strerror or exc}")
            return
        self.asked = (found.version, found.sha256)
        child.outbox.put(Load(str(self.folder), found.version, found.sha256, str(self.check_path), self.rules))

    def failed(self, version: str, why: str) -> None:
        """A shadow not scored: counted every time, logged once per version and reason."""
        self.metrics.shadow_reloads.labels("failed").inc()
        if self.waiting != (version, why):
            self.waiting = (version, why)
            self.log(f"error: not scoring shadow {version}: {why}; serving production only")

    def stop(self) -> None:
        """Shutdown, after the batcher's last micro-batch and before the capture's last flush: the
        child scores what waits, then ends."""
        self._end(None)

    def _start(self) -> _Child:
        ours, theirs = multiprocessing.Pipe()
        try:
            process = subprocess.Popen([sys.executable, "-c", ENTRY, str(theirs.fileno())], cwd=CODE,
                                       pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()  # the child's end lives in the child only: its exit is an EOF here
        child = _Child(process, ours)
        child.threads = [threading.Thread(target=self._send, args=(child,), name="ct-serve-shadow-send", daemon=True),
                         threading.Thread(target=self._read, args=(child,), name="ct-serve-shadow-read", daemon=True)]
        with self.lock:
            self.child, self.asked, self.version = child, None, None
        self.log(f"shadow process {process.pid} started (nice +{NICE})")
        for thread in child.threads:
            thread.start()
        return child

    def _end(self, why: str | None) -> None:
        """End the child: what it holds is scored first (for at most STOP_S, then it is killed)."""
        with self.lock:
            child, self.child, was, self.asked, self.version = self.child, None, self.version, None, None
        if was is not None:
            self.metrics.shadowing(None)
            if why is not None:
                self.metrics.shadow_reloads.labels("removed").inc()
                self.log(why)
        if child is None:
            return
        child.outbox.put(None)
        reader = child.threads[1]
        reader.join(STOP_S)  # it ends once the child exited (see _read)
        if reader.is_alive():
            child.process.kill()
            reader.join()

    def _send(self, child: _Child) -> None:
        """Pickle into the pipe what the server queued; None ends it and, sent on, the child."""
        while True:
            message = child.outbox.get()
            try:
                child.conn.send(message)
            except (OSError, ValueError):  # the child is gone: its reader counts that
                return
            if message is None:
                return

    def _read(self, child: _Child) -> None:
        """The child's replies onto the captured rows and /metrics until its pipe closes; then the
        child is reaped and, unless the server ended it, counted and logged as a crash."""
        while True:
            try:
                reply = child.conn.recv()
            except (EOFError, OSError):
                break
            try:
                self._apply(child, reply)
            except Exception as exc:  # bookkeeping never ends the reader
                self.log(f"error: shadow: {exc}")
        try:
            child.process.wait(STOP_S)
        except subprocess.TimeoutExpired:  # its end of the pipe closed, yet it lives on
            child.process.kill()
            child.process.wait()
        child.outbox.put(None)  # ends the sender, if the child died
        child.threads[0].join()
        child.conn.close()
        with self.lock:
            lost, child.pending, child.pending_rows = child.pending_rows, {}, 0
            died = self.child is child
            if died:
                self.child, self.asked, self.version = None, None, None
        self.metrics.shadow_skipped.inc(lost)
        if died:
            self.metrics.shadowing(None)
            self.metrics.shadow_crashes.inc()
            self.log(f"error: shadow process {child.process.pid} died (exit {child.process.returncode}), {lost} rows not "
                     "scored; serving production only until the next reload starts another")

    def _apply(self, child: _Child, reply: Loaded | Failed | Reply) -> None:
        m = self.metrics
        if isinstance(reply, Reply):
            for result in reply.results:
                self._result(child, result)
            if any(result.version for result in reply.results):
                m.shadow_seconds.observe(reply.seconds)
            return
        with self.lock:
            current = self.child is child and self.asked == (reply.version, reply.sha256)
            was = self.version
            if current:
                self.version = reply.version if isinstance(reply, Loaded) else None
                if isinstance(reply, Failed):
                    self.asked = None  # asked again at the next reload
        if not current:
            return
        if isinstance(reply, Failed):
            if was is not None:
                m.shadowing(None)
            self.failed(reply.version, reply.why)
            return
        m.shadowing(reply.version, reply.sha256)
        m.shadow_reloads.labels("loaded").inc()
        self.waiting = None
        self.log(f"shadow {reply.version} (sha256 {reply.sha256[:12]}…, {'compiled runtime' if reply.fast else 'scikit-learn'}) "
                 f"scored in process {child.process.pid}")

    def _result(self, child: _Child, r: Result) -> None:
        m = self.metrics
        with self.lock:
            child.pending_rows -= child.pending.pop(r.seq, 0)
        if r.skipped:
            m.shadow_skipped.inc(r.skipped)
        if r.error:
            self.log(f"error: shadow: {r.error}")
        if r.version is None or not r.labels:
            return
        self.capture.add_shadow(r.labels, r.version)
        m.shadow_rows.inc(sum(len(values) for _, values in r.labels))
        m.shadow_agreements.inc(r.agreements)
        for label, count in r.counts.items():
            m.shadow_predictions.labels(label).inc(count)
