"""OTLP exporters configured the standard way, wrapped so that a collector being down never hurts the app.

Configuration, first match wins: the arguments, then the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
`OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT`, `OTEL_EXPORTER_OTLP_PROTOCOL` and the per-signal ones,
`OTEL_EXPORTER_OTLP_HEADERS` and per-signal, `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_EXPORTER_OTLP_INSECURE`,
certificates, compression: read by the OpenTelemetry exporters themselves). Protocol default: `http/protobuf`
when the endpoint's port is 4318, else `grpc`.

The guard: the SDK's exporters already run off the caller's thread (in a BatchSpanProcessor or a periodic
metric reader), but against an unreachable endpoint they log a warning per retry and spend their whole timeout
on every batch. The guarded exporters instead log ONE warning naming the endpoint and what to do, drop batches
without trying for a back-off period (5 s doubling to 5 min), then try again, and say once when the endpoint is
reachable again. Exceptions from the wrapped exporter are caught and reported the same way.

Until an export has succeeded, and again after one failed, each export first opens a plain TCP connection to the
endpoint (at most `PROBE_TIMEOUT_S`): the OTLP exporters retry a refused connection with backoff for most of their
timeout, which would hold the export thread, and `tracer.flush()` or the interpreter's exit behind it, for that long
on every retry period; the probe fails a refused connection at once. No probe is made through a proxy (the
exporters would use it; a direct connection says nothing).

An endpoint that accepts connections and never answers passes the probe, and the wrapped exporter then waits its
whole timeout (10 s by default) on each batch. So the wrapped exporter's calls run on a thread of the guard's own,
and the guard stops waiting for one at the time `abandon_exports(at)` gave it (the exit handler and `uninstrument()`
give their deadline): that batch is counted as failed, and every later one is dropped at once. The processors'
shutdown, ours and the providers' own at exit, then never waits behind a silent endpoint.

The one warning says what happened, as far as the wrapped exporter's own log records tell (they are kept, not
printed): the connection was refused, the endpoint did not answer in time, or it rejected the data with a status.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import math
import os
import queue
import socket
import threading
import time
import urllib.request
import weakref
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import urlparse

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from tracer import _compat, _drops

log = logging.getLogger("tracer.export")
# Bound at import: exports run on threads of ours, which must never call an application's patched `time`.
_monotonic = time.monotonic

GRPC = "grpc"
HTTP = "http/protobuf"
PROTOCOLS = (GRPC, HTTP)

# The OTLP exporters' own loggers: their per-retry warnings are replaced by the guard's one warning.
_EXPORTER_LOGGERS = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.http.metric_exporter",
    "opentelemetry.exporter.otlp.proto.http._common",
    "opentelemetry.exporter.otlp.common.http",
)
_inside = threading.local()


# How often a guard waiting on an export looks at its `abandon_at`.
_POLL_S = 0.05


class _QuietInsideGuard(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_inside, "depth", 0) > 0 and record.levelno < logging.CRITICAL:
            heard = getattr(_inside, "heard", None)
            if heard is not None and len(heard) < 16:
                heard.append(record)  # what the warning will say happened
            log.debug("suppressed OTLP exporter log: %s", record.getMessage())
            return False
        return True


_filter = _QuietInsideGuard()
for _name in _EXPORTER_LOGGERS:
    logging.getLogger(_name).addFilter(_filter)


def _headers(value: Mapping[str, str] | str | None) -> dict[str, str] | None:
    if value is None or isinstance(value, Mapping):
        return None if value is None else dict(value)
    from urllib.parse import unquote

    pairs = (item.split("=", 1) for item in value.split(",") if "=" in item)
    return {unquote(k).strip().lower(): unquote(v).strip() for k, v in pairs}


def resolve(endpoint: str | None = None, protocol: str | None = None, signal: str = "traces") -> tuple[str | None, str]:
    """(endpoint, protocol) for a signal (`traces` or `metrics`) after arguments and environment.

    The endpoint is None when only the exporters' own environment variables (or their defaults) should decide.

    >>> resolve("http://collector:4318")
    ('http://collector:4318', 'http/protobuf')
    """
    upper = signal.upper()
    protocol = (
        protocol
        or os.environ.get(f"OTEL_EXPORTER_OTLP_{upper}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or None
    )
    source, seen = "otlp_endpoint", endpoint
    for name in (f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        if not seen:
            source, seen = name, os.environ.get(name)
    port = _port(source, seen)
    if protocol is None:
        protocol = HTTP if port == 4318 else GRPC
    protocol = protocol.strip().lower()
    if protocol == "http":
        protocol = HTTP
    if protocol not in PROTOCOLS:
        raise ValueError(f"OTLP protocol {protocol!r} is not one of {', '.join(PROTOCOLS)} (http/json is not supported)")
    return endpoint, protocol


def _port(source: str, endpoint: str | None) -> int | None:
    """The port of an endpoint URL (None without a scheme or a port). Raises ValueError naming where the endpoint
    came from (`source`: the argument or the variable) and its value, for one that is not a URL (`http://[::1`).

    >>> _port("OTEL_EXPORTER_OTLP_ENDPOINT", "http://[::1")
    Traceback (most recent call last):
    ...
    ValueError: OTEL_EXPORTER_OTLP_ENDPOINT='http://[::1' is not a valid OTLP endpoint URL (Invalid IPv6 URL)
    """
    if not endpoint or "://" not in endpoint:
        return None
    try:
        return urlparse(endpoint).port
    except ValueError as exc:
        raise ValueError(f"{source}={endpoint!r} is not a valid OTLP endpoint URL ({exc})") from None


def _http_url(base: str, signal: str) -> str:
    # An endpoint given as an argument is the collector's base URL, like OTEL_EXPORTER_OTLP_ENDPOINT; a URL that
    # already names the signal path is kept.
    path = f"/v1/{signal}"
    return base if base.rstrip("/").endswith(path) else base.rstrip("/") + path


def otlp_exporters(
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | str | None = None,
    *,
    timeout_s: float | None = None,
) -> tuple[SpanExporter, MetricExporter]:
    """A span exporter and a metric exporter for an OTLP endpoint, guarded (one warning when unreachable).

    `endpoint` is the collector's base URL (`http://host:4317` for gRPC, `http://host:4318` for HTTP, to which
    `/v1/traces` and `/v1/metrics` are added); None reads `OTEL_EXPORTER_OTLP_*`. `protocol` is `grpc` or
    `http/protobuf`. `headers` is a dict or the `k=v,k2=v2` form of `OTEL_EXPORTER_OTLP_HEADERS`.
    Raises ValueError for an unknown protocol (a configuration mistake, reported at start-up).
    """
    span_endpoint, span_protocol = resolve(endpoint, protocol, "traces")
    metric_endpoint, metric_protocol = resolve(endpoint, protocol, "metrics")
    extra = _headers(headers)
    kwargs: dict[str, Any] = {}
    if extra is not None:
        kwargs["headers"] = extra
    if timeout_s is not None:
        kwargs["timeout"] = timeout_s
    if span_protocol == GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        spans: SpanExporter = GrpcSpans(endpoint=span_endpoint, **kwargs)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

        spans = HttpSpans(endpoint=None if span_endpoint is None else _http_url(span_endpoint, "traces"), **kwargs)
    if metric_protocol == GRPC:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics

        metrics: MetricExporter = GrpcMetrics(endpoint=metric_endpoint, **kwargs)
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics

        metrics = HttpMetrics(endpoint=None if metric_endpoint is None else _http_url(metric_endpoint, "metrics"), **kwargs)
    _compat.private_backoff_random()  # their retry jitter runs on our threads: not from the app's `random`
    where = _describe(spans, span_endpoint, span_protocol)
    guarded_spans = GuardedSpanExporter(spans, where)
    guarded_metrics = GuardedMetricExporter(metrics, _describe(metrics, metric_endpoint, metric_protocol))
    # Made together, shut down together: whoever holds the span exporter can find the metric one's guard.
    guarded_spans.guard.group = guarded_metrics.guard.group = [guarded_spans.guard, guarded_metrics.guard]
    return guarded_spans, guarded_metrics


def _describe(exporter: Any, endpoint: str | None, protocol: str) -> str:
    target = endpoint or _compat.exporter_endpoint(exporter) or "the default endpoint"
    return f"{target} ({protocol})"


PROBE_TIMEOUT_S = 1.0


def _address(endpoint: object) -> tuple[str, int] | None:
    """(host, port) an OTLP exporter's `_endpoint` connects to (`host:port` for gRPC, a URL for HTTP), or None
    when there is nothing to probe directly (a Unix socket, an unparsable value, a host reached through a proxy).

    >>> _address("127.0.0.1:4317"), _address("https://collector/v1/traces")
    (('127.0.0.1', 4317), ('collector', 443))
    """
    if not isinstance(endpoint, str) or not endpoint or endpoint.startswith("unix"):
        return None
    url = urlparse(endpoint if "://" in endpoint else "//" + endpoint)
    try:
        host, port = url.hostname, url.port
    except ValueError:
        return None
    if port is None:
        port = {"http": 80, "https": 443}.get(url.scheme)
    if not host or port is None:
        return None
    if urllib.request.getproxies() and not urllib.request.proxy_bypass(host):
        return None
    return host, port


_guards: weakref.WeakSet[_Guard] = weakref.WeakSet()


class _Guard:
    """Failure bookkeeping shared by the span and metric guards. Thread-safe; never raises."""

    first_backoff_s = 5.0
    max_backoff_s = 300.0

    def __init__(
        self,
        where: str,
        what: str,
        clock: Callable[[], float] = _monotonic,
        address: tuple[str, int] | None = None,
    ) -> None:
        self.where = where
        self.what = what
        self.clock = clock
        self.address = address
        self.failures = 0
        self.dropped_batches = 0
        self._down_until = 0.0
        self._backoff = self.first_backoff_s
        self._warned = False
        self._healthy = False  # an export has succeeded and none failed since: no probe needed
        self._lock = threading.Lock()
        self.abandon_at = math.inf  # see `abandon_exports`
        self.runner = _Runner(f"claude-tracer-otlp-{what}")
        self.group: list[_Guard] = [self]  # the guards of the exporters made with this one (`otlp_exporters`)
        _guards.add(self)

    def dropped(self, batches: int) -> None:
        with self._lock:
            self.dropped_batches += batches

    def reachable(self) -> bool:
        """False (after reporting the failure) when a probe finds nothing listening at the endpoint."""
        if self._healthy or self.address is None:
            return True
        try:
            socket.create_connection(self.address, timeout=PROBE_TIMEOUT_S).close()
        except OSError as exc:
            where = f"{self.address[0]}:{self.address[1]}"
            if isinstance(exc, ConnectionRefusedError):
                self.failed(f"the connection was refused by {where}")
            elif isinstance(exc, TimeoutError):
                self.failed(f"{where} did not accept a connection within {PROBE_TIMEOUT_S:.0f} s")
            else:
                self.failed(f"cannot connect to {where}: {exc.strerror or exc}")
            return False
        return True

    def allowed(self) -> bool:
        with self._lock:
            if self.clock() < self._down_until:
                self.dropped_batches += 1
                return False
            return True

    def failed(self, reason: str) -> None:
        with self._lock:
            self.failures += 1
            self.dropped_batches += 1
            self._down_until = self.clock() + self._backoff
            self._backoff = min(self._backoff * 2, self.max_backoff_s)
            self._healthy = False
            first = not self._warned
            self._warned = True
        if first:
            log.warning(
                "tracer: cannot export %s over OTLP to %s: %s. They are dropped while this lasts (retried after a "
                "back-off) and the application carries on; check the collector or OTEL_EXPORTER_OTLP_ENDPOINT.",
                self.what, self.where, reason,
            )
        else:
            log.debug("OTLP export of %s to %s failed again: %s", self.what, self.where, reason)

    def succeeded(self) -> None:
        with self._lock:
            recovered = self._warned and self.failures > 0 and self._down_until > 0
            self._down_until = 0.0
            self._backoff = self.first_backoff_s
            self._healthy = True
        if recovered:
            log.info("tracer: OTLP export of %s to %s works again", self.what, self.where)
            with self._lock:
                self._warned = False  # a later outage is a new story worth one warning


def guards_of(span_exporter: object) -> list[_Guard]:
    """The guards of a guarded span exporter and of the metric exporter made with it; [] for any other exporter."""
    guard = getattr(span_exporter, "guard", None)
    return list(guard.group) if isinstance(guard, _Guard) else []


def abandon_exports(at: float | None = None, guards: Sequence[_Guard] | None = None) -> None:
    """Stop waiting for the exports of `guards` (default: every guard) at monotonic time `at` (default: now), and
    drop their later exports at once: their exporters are being shut down (exit, `uninstrument()`). Never raises."""
    when = _monotonic() if at is None else at
    for guard in list(_guards) if guards is None else guards:
        guard.abandon_at = when


def lost_batches(guards: Sequence[_Guard] | None = None) -> int:
    """Batches `guards` (default: every guard) have dropped or failed to export so far."""
    return sum(guard.dropped_batches for guard in (list(_guards) if guards is None else guards))


_PHRASES = {status.phrase: status.value for status in HTTPStatus}


def failure_reason(heard: Sequence[logging.LogRecord], elapsed_s: float) -> str:
    """What went wrong in a failed export, from the wrapped exporter's log records (kept, not printed). Pure.

    >>> failure_reason([], 10.2)
    'no answer within 10.2 s'
    """
    status: int | None = None
    refused = unavailable = timed_out = False
    last = ""
    for record in heard:
        args = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            if type(arg) is int and 400 <= arg <= 599:
                status = arg
            elif isinstance(arg, str) and arg in _PHRASES and _PHRASES[arg] >= 400:
                status = _PHRASES[arg]
            elif isinstance(arg, BaseException):
                timed_out = timed_out or "Timeout" in type(arg).__name__
                refused = refused or "refused" in str(arg).lower()
        try:
            last = record.getMessage()
        except Exception:
            last = str(record.msg)
        lower = last.lower()
        timed_out = timed_out or "deadline_exceeded" in lower or "due to timeout" in lower or "timed out" in lower
        refused = refused or "refused" in lower
        unavailable = unavailable or "statuscode.unavailable" in lower  # gRPC: refused, reset or not listening
    if status is not None:
        return f"the endpoint rejected the data with HTTP status {status} {HTTPStatus(status).phrase}"
    if refused:
        return "the connection was refused"
    if unavailable:
        return "the endpoint was unavailable (gRPC UNAVAILABLE: refused, reset or not listening)"
    if timed_out or not heard:
        return f"no answer within {elapsed_s:.1f} s"
    return last[:200]


class _Runner:
    """Runs the wrapped exporter's calls, one at a time, on a daemon thread of its own, so that the caller can stop
    waiting for one (an endpoint that never answers). The thread is started with the exporter (at `instrument()`),
    never at exit, where Python 3.12 refuses new threads; without it, calls run on the caller's thread."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], list[Any], list[logging.LogRecord], threading.Event]]
        self._jobs = queue.SimpleQueue()
        self._thread: threading.Thread | None = threading.Thread(target=self._loop, name=name, daemon=True)
        try:
            self._thread.start()
        except RuntimeError:
            self._thread = None

    def submit(self, call: Callable[[], Any]) -> tuple[list[Any], list[logging.LogRecord], threading.Event]:
        outcome: list[Any] = []
        heard: list[logging.LogRecord] = []
        done = threading.Event()
        # The caller's context goes along: the processors suppress the instrumentation of the exporter's own
        # HTTP calls through it.
        job = functools.partial(contextvars.copy_context().run, call)
        if self._thread is None:
            self._do(job, outcome, heard, done)
        else:
            self._jobs.put((job, outcome, heard, done))
        return outcome, heard, done

    def _loop(self) -> None:
        while True:
            self._do(*self._jobs.get())

    @staticmethod
    def _do(call: Callable[[], Any], outcome: list[Any], heard: list[logging.LogRecord], done: threading.Event) -> None:
        _inside.depth = getattr(_inside, "depth", 0) + 1
        _inside.heard = heard
        try:
            outcome.append(call())
        except Exception as exc:
            outcome.append(exc)
        finally:
            _inside.depth -= 1
            _inside.heard = None
            done.set()


def _run(guard: _Guard, call: Callable[[], Any], ok: Any) -> bool:
    if _monotonic() >= guard.abandon_at:
        guard.dropped(1)
        return False
    if not guard.allowed() or not guard.reachable():
        return False
    started = _monotonic()
    outcome, heard, done = guard.runner.submit(call)
    while not done.wait(min(_POLL_S, max(guard.abandon_at - _monotonic(), 0.0))):
        if _monotonic() >= guard.abandon_at:  # the call goes on in the runner's thread, unwatched
            reason = failure_reason(list(heard), _monotonic() - started)
            guard.failed(f"{reason}; given up when the exporter was shut down")
            return False
    result = outcome[0] if outcome else None
    if isinstance(result, Exception):
        guard.failed(f"{type(result).__name__}: {result}")
        return False
    if result == ok:
        guard.succeeded()
        return True
    guard.failed(failure_reason(heard, _monotonic() - started))
    return False


class GuardedSpanExporter(SpanExporter):
    """A SpanExporter that never raises and warns once while its wrapped exporter fails."""

    def __init__(self, inner: SpanExporter, where: str = "the OTLP endpoint") -> None:
        self.inner = inner
        self.guard = _Guard(where, "spans", address=_address(_compat.exporter_endpoint(inner)))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = _run(self.guard, lambda: self.inner.export(spans), SpanExportResult.SUCCESS)
        if not ok:  # not sent, or not taken: the guard counts the batch, `tracer.dropped` its spans
            _drops.count(_drops.EXPORTER, _drops.OTLP, len(spans))
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        try:
            return bool(self.inner.force_flush(timeout_millis))
        except Exception:
            log.debug("OTLP span exporter force_flush failed", exc_info=True)
            return False

    def shutdown(self) -> None:
        try:
            self.inner.shutdown()
        except Exception:
            log.debug("OTLP span exporter shutdown failed", exc_info=True)


class GuardedMetricExporter(MetricExporter):
    """A MetricExporter that never raises and warns once while its wrapped exporter fails."""

    def __init__(self, inner: MetricExporter, where: str = "the OTLP endpoint") -> None:
        super().__init__(
            preferred_temporality=_compat.metric_exporter_preferences(inner)[0],
            preferred_aggregation=_compat.metric_exporter_preferences(inner)[1],
        )
        self.inner = inner
        self.guard = _Guard(where, "metrics", address=_address(_compat.exporter_endpoint(inner)))

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        ok = _run(self.guard, lambda: self.inner.export(metrics_data, timeout_millis=timeout_millis, **kwargs), MetricExportResult.SUCCESS)
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        try:
            return bool(self.inner.force_flush(timeout_millis))
        except Exception:
            log.debug("OTLP metric exporter force_flush failed", exc_info=True)
            return False

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        try:
            self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)
        except Exception:
            log.debug("OTLP metric exporter shutdown failed", exc_info=True)
