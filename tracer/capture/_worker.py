"""The one background thread that does claude-tracer's deferred work: attempt spans and metrics.

The OpenTelemetry SDK's work for an attempt span with its twenty attributes, and for a call's metrics, is several
times our whole per-call budget (docs/footprint.md), while the call itself mostly waits on the network with the
GIL released. So the caller's thread only appends `(function, args)` to a bounded deque and this thread runs them
every `INTERVAL_S`, in order. `drain()` runs what is waiting at once, on the calling thread: `tracer.flush()`,
`uninstrument()` and the exit handler call it before flushing the exporters.

After `stop()` (at `uninstrument()` and at exit) nothing is left waiting for a thread that is gone: `stop()` joins
the thread before its last drain, and an item deferred later (a stream that ends after the exit handler ran, say)
runs at once on the caller's thread.

Nothing here raises into the caller: a failing item is logged at debug level and skipped. When `MAX_PENDING` items
wait (the thread cannot keep up), a new item is dropped and counted (`tracer._drops`, stage `worker_queue`); the
deque itself is `_SLACK` longer, so that threads racing past that check find room and nothing leaves it uncounted.
The next drain says once that drops began (for every stage: the caller's thread never logs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from tracer import _drops

log = logging.getLogger("tracer.capture")
# Bound at import: this module runs on our thread, and an application that patches `time.sleep` or `time.monotonic`
# (its tests, freezegun, time-machine) must never see that thread call its patch.
_sleep = time.sleep
_monotonic = time.monotonic

INTERVAL_S = 0.05
MAX_PENDING = 200_000
# Every so many items the thread gives the GIL back (`sleep(0)`), so that a caller whose response just arrived
# waits at most about a millisecond for it. Measured (paired A/B, benchmarks/overhead.py --paired): yielding after
# every item doubles the caller's cost (each hand-over is a context switch and cold caches), never yielding is
# cheapest on average but lets one drain hold the GIL for milliseconds; 32 is close to the cheapest.
_YIELD_EVERY = 32
_SLACK = 1_024

_pending: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque(maxlen=MAX_PENDING + _SLACK)
_drain_lock = threading.RLock()  # re-entrant: an item that defers another after stop() drains it at once
_thread: threading.Thread | None = None
_stop = threading.Event()
_stopped = True  # no thread to run what is deferred: `defer` drains at once
_after: list[Callable[[], None]] = []


def after_drain(fn: Callable[[], None]) -> None:
    """Call `fn()` at the end of every drain, under the drain lock (to record what the items gathered)."""
    _after.append(fn)


def defer(fn: Callable[..., None], *args: Any) -> None:
    """Run `fn(*args)` on the worker thread, soon; dropped and counted when `MAX_PENDING` items wait. Never raises."""
    if len(_pending) >= MAX_PENDING:
        _drops.count(_drops.WORKER_QUEUE)
        return
    _pending.append((fn, args))
    if _stopped:
        drain()


def drain(polite: bool = False, deadline: float | None = None) -> bool:
    """Run everything waiting now, on this thread, until `deadline` (monotonic) if given. True when nothing is left
    waiting. Never raises."""
    with _drain_lock:
        _warn_drops()
        pop = _pending.popleft
        n = 0
        while True:
            try:
                fn, args = pop()
            except IndexError:
                break
            try:
                fn(*args)
            except Exception:
                log.debug("deferred telemetry failed", exc_info=True)
            n += 1
            if n % _YIELD_EVERY == 0:
                if polite:
                    _sleep(0)
                if deadline is not None and _monotonic() >= deadline:
                    break
        for hook in _after:
            try:
                hook()
            except Exception:
                log.debug("deferred telemetry failed", exc_info=True)
        return not _pending


_WHAT_DROPS = {
    _drops.WORKER_QUEUE: "attempt spans and metrics waiting to be recorded (more than MAX_PENDING)",
    _drops.PROCESSOR_QUEUE: "spans waiting for an exporter (a batch processor's queue is full: span_queue_size, "
    "OTEL_BSP_MAX_QUEUE_SIZE)",
}


def _warn_drops() -> None:
    for stage, n in _drops.newly_dropping():
        log.warning(
            "tracer: telemetry is arriving faster than it can be recorded; %s are being dropped (%d so far). They are "
            "counted in the tracer.dropped metric (tracer.drop.stage=%s) and tracer.flush() returns False. The "
            "application is not affected.",
            _WHAT_DROPS.get(stage, stage), n, stage,
        )


def start() -> None:
    global _thread, _stopped
    if _thread is None or not _thread.is_alive():
        _stop.clear()
        _thread = threading.Thread(target=_run, name="claude-tracer-worker", daemon=True)
        _thread.start()
    _stopped = False


def stop(deadline: float | None = None) -> bool:
    """Stop the thread, then run what is waiting (until `deadline`, monotonic, if given); later items run as they are
    deferred. True when nothing was left waiting. Never raises."""
    global _thread, _stopped
    _stopped = True
    _stop.set()
    thread, _thread = _thread, None
    if thread is not None and thread is not threading.current_thread():
        # It finishes the drain it is in (ours would wait for it on the lock anyway).
        thread.join(timeout=2 if deadline is None else max(deadline - _monotonic(), 0.0))
    return drain(deadline=deadline)


def _run() -> None:
    while not _stop.wait(INTERVAL_S):
        drain(polite=True)
