"""`instrument()` / `uninstrument()` / `flush()` and the OpenTelemetry `BaseInstrumentor` behind them.

Set-up, in order: prices (a malformed override file stops here, before anything is patched); the configure step
(`_configure`: the tracer and meter providers, the application's if it registered SDK ones, else ours, registered
globally; the exporters, the embedded store and OTLP; a Prometheus endpoint), which an application with its own
OpenTelemetry set-up skips with `configure=False`; then the instrument step (`_instrument_sdk`: our processors, the
metric instruments, the SDK patches). `uninstrument()` undoes them in reverse. OpenTelemetry allows one global
provider per process, so a provider we registered stays registered after `uninstrument()`; our processors on it go
inert instead.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from tracer import _compat, _drops, semconv
from tracer._ids import OwnIdGenerator
from tracer.capture import _attempts, _metrics, _worker
from tracer.capture._attempts import AttemptRecorder
from tracer.capture._batches import BatchResultRecorder
from tracer.capture._calls import CallSpanProcessor, set_unsampled_sink
from tracer.capture._patch import Patcher

log = logging.getLogger("tracer.capture")
# Bound at import: flush() and the exit handler time their work on threads of ours, and an application that patches
# `time` (freezegun, time-machine) must not see them call its patch.
_monotonic = time.monotonic

ENV_STORE = "TRACER_STORE"
ENV_PROMETHEUS_PORT = "TRACER_PROMETHEUS_PORT"
ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_SDK_CONTENT_MODE = "ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE"
DEFAULT_MAX_CONTENT_BYTES = 16_384
ENV_EXIT_TIMEOUT = "TRACER_EXIT_TIMEOUT_S"
# What exit and uninstrument() wait at most for the exporters (a silent OTLP endpoint would hold them 10 s a batch).
DEFAULT_EXIT_TIMEOUT_S = 3.0
_TRUE = ("1", "true", "yes", "on")


class _Switch(SpanProcessor):
    """Forwards to `inner` until turned off: the SDK's TracerProvider cannot remove a processor once added."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner
        self.on = True

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        if self.on:
            self.inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            self.inner.on_end(span)

    def shutdown(self) -> None:
        if self.on:
            self.on = False
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis) if self.on else True


@dataclass
class _State:
    """Everything one `instrument()` set up, so that `uninstrument()` can undo exactly that."""

    tracer_provider: Any
    meter_provider: Any
    own_meter_provider: bool
    processors: list[_Switch] = field(default_factory=list)
    patcher: Patcher | None = None
    prometheus_server: Any = None
    otlp_guards: list[Any] = field(default_factory=list)  # of the OTLP exporters this set-up made (`tracer.export`)
    lost_seen: int = 0  # `_lost` when the last flush (or this set-up) ended: a flush that finds more says False


_state: _State | None = None
_lock = threading.RLock()


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


class ClaudeTracerInstrumentor(BaseInstrumentor):
    """The OpenTelemetry instrumentor for the anthropic SDK (entry point `anthropic_tracer`).

    `opentelemetry-instrument python app.py` calls `instrument()` with no arguments: spans and metrics go to the
    providers the distro configured, and the embedded store is written only when `TRACER_STORE` is set.
    `tracer.instrument()` calls it with the embedded store on by default. An application whose own OpenTelemetry
    set-up decides where telemetry goes passes `configure=False`: only the instrument step runs, on its providers.

    >>> ClaudeTracerInstrumentor().instrument(store=".tracer", service_name="search-api")  # doctest: +SKIP
    >>> ClaudeTracerInstrumentor().instrument(configure=False)  # doctest: +SKIP
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("anthropic >= 1.14, < 3",)  # the pyproject range: native tracing and `_attempt_request(call=)`

    def _instrument(self, **kwargs: Any) -> None:
        _setup(**kwargs)
        _register_exit()

    def _uninstrument(self, **kwargs: Any) -> None:
        _teardown()


def _setup(
    *,
    configure: bool = True,
    capture_content: bool | None = None,
    max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES,
    prices: str | os.PathLike[str] | None = None,
    redact: Any = None,
    metric_tags: Any = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    **export_options: Any,
) -> None:
    """`instrument()` in two steps: configure where telemetry goes (skipped with `configure=False`, for an
    application whose own OpenTelemetry set-up decides that), then instrument the SDK."""
    global _state
    from tracer import cost

    if redact is not None and not callable(redact):
        raise TypeError(f"redact= must be a function taking and returning a string, not {type(redact).__name__}")
    # Prices (the argument, else bundled plus $TRACER_PRICES): raises PriceFileError naming the file, the entry and
    # the problem, before anything else changes.
    cost.set_default_table(Path(prices) if prices is not None else None)
    if configure:
        exports = _configure(tracer_provider=tracer_provider, meter_provider=meter_provider, **export_options)
    else:
        exports = _applications(tracer_provider, meter_provider, export_options)
    if capture_content is None:
        capture_content = _env_flag(ENV_CAPTURE_CONTENT)
    _state = _instrument_sdk(exports, capture_content, max_content_bytes, redact, metric_tags)


@dataclass
class _Exports:
    """Where telemetry goes: what the configure step set up (or found), handed to the instrument step."""

    tracer_provider: Any
    meter_provider: Any
    own_meter_provider: bool = False
    store: SpanProcessor | None = None  # the embedded store's processor, also where unsampled calls' rows go
    otlp: SpanProcessor | None = None
    otlp_guards: list[Any] = field(default_factory=list)
    prometheus_server: Any = None


def _configure(
    *,
    store: str | os.PathLike[str] | bool | None = None,
    otlp_endpoint: str | None = None,
    otlp_protocol: str | None = None,
    service_name: str | None = None,
    prometheus_port: int | None = None,
    prometheus_host: str = "127.0.0.1",
    metric_export_interval_s: float | None = None,
    span_queue_size: int | None = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> _Exports:
    """The configure step (what an OpenTelemetry distro does): the providers (the application's SDK ones if it
    registered them, else ours, registered globally), the exporters (the embedded store, OTLP) and a Prometheus
    endpoint. A setting that is wrong raises here, before the SDK is touched."""
    from opentelemetry.sdk.resources import Resource

    from tracer.capture import _batch

    # 1. What to export.
    queue = _batch.span_queue_size(span_queue_size)  # spans waiting per exporter before new ones are dropped (and counted)
    if store is None:
        env_store = os.environ.get(ENV_STORE)
        store_path: Path | None = Path(env_store) if env_store else None
    elif store is False:
        store_path = None
    elif store is True:
        from tracer.store import default_root

        store_path = default_root()
    else:
        store_path = Path(store)
    if otlp_endpoint is None and (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        otlp_endpoint = ""  # the exporters read the standard variables themselves
    if prometheus_port is None and os.environ.get(ENV_PROMETHEUS_PORT):
        try:
            prometheus_port = int(os.environ[ENV_PROMETHEUS_PORT])
        except ValueError:
            raise ValueError(f"{ENV_PROMETHEUS_PORT}={os.environ[ENV_PROMETHEUS_PORT]!r} is not a port number") from None

    span_exporter = metric_exporter = None
    if otlp_endpoint is not None:
        from tracer.export import otlp_exporters

        span_exporter, metric_exporter = otlp_exporters(otlp_endpoint or None, otlp_protocol)

    # 2. Providers: the application's SDK providers if it registered them, else ours.
    resource = Resource.create({semconv.SERVICE_NAME: service_name} if service_name else {})
    tp: Any = tracer_provider or trace.get_tracer_provider()
    if not isinstance(tp, TracerProvider):
        if tracer_provider is not None:
            raise TypeError("tracer_provider must be an opentelemetry.sdk.trace.TracerProvider")
        tp = _own_tracer_provider(resource)
        trace.set_tracer_provider(tp)
        if trace.get_tracer_provider() is not tp:  # someone else won the race to register one
            tp = trace.get_tracer_provider()
    elif service_name and tp.resource.attributes.get(semconv.SERVICE_NAME) != service_name:
        log.info("tracer: the application's TracerProvider names the service; service_name=%r is not applied", service_name)

    readers: list[Any] = []
    if metric_exporter is not None:
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        interval = None if metric_export_interval_s is None else metric_export_interval_s * 1000
        # None: OTEL_METRIC_EXPORT_INTERVAL (ms), else the SDK's 60 s.
        readers.append(PeriodicExportingMetricReader(metric_exporter, export_interval_millis=interval))
    prometheus_server = None
    if prometheus_port is not None:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server

        readers.append(PrometheusMetricReader())
        prometheus_server = start_http_server(prometheus_port, addr=prometheus_host)
    mp: Any = meter_provider or metrics.get_meter_provider()
    own_mp = False
    # The metrics SDK is imported only to make a provider (it is slow to import): an application that registered
    # an SDK MeterProvider has imported it already.
    sdk_metrics = sys.modules.get("opentelemetry.sdk.metrics")
    if sdk_metrics is not None and isinstance(mp, sdk_metrics.MeterProvider):
        if readers and meter_provider is None:
            log.warning(
                "tracer: the application registered its own MeterProvider, so its readers decide where metrics go; "
                "otlp_endpoint/prometheus_port apply to spans only"
            )
    elif readers:
        from opentelemetry.sdk.metrics import MeterProvider

        mp = MeterProvider(metric_readers=readers, resource=tp.resource if isinstance(tp, TracerProvider) else resource)
        metrics.set_meter_provider(mp)
        own_mp = metrics.get_meter_provider() is mp
    # Without a reader there is nowhere for metrics to go: the proxy meter's instruments cost next to nothing and
    # start recording if the application registers a MeterProvider later.

    # 3. The exporters' processors, off the caller's thread; the instrument step adds them after its own.
    exports = _Exports(tp, mp, own_mp, prometheus_server=prometheus_server)
    if store_path is not None:
        from tracer.store import StoreExporter

        exports.store = _batch.CountingBatchSpanProcessor(StoreExporter(store_path, meter_provider=mp), feeds=_drops.STORE, limit=queue)
    if span_exporter is not None:
        from tracer.export import guards_of

        exports.otlp = _batch.CountingBatchSpanProcessor(span_exporter, feeds=_drops.OTLP, limit=queue)
        exports.otlp_guards = guards_of(span_exporter)
    return exports


def _own_tracer_provider(resource: Any) -> TracerProvider:
    """The TracerProvider claude-tracer makes when the application registered none."""
    return TracerProvider(resource=resource, id_generator=OwnIdGenerator())  # never the app's global random


def _applications(tracer_provider: Any, meter_provider: Any, export_options: dict[str, Any]) -> _Exports:
    """What stands in for the configure step when it is skipped: the application's own providers, as they are."""
    unknown = set(export_options) - set(inspect.signature(_configure).parameters)
    if unknown:
        raise TypeError(f"instrument() got unexpected keyword arguments: {', '.join(sorted(unknown))}")
    given = sorted(name for name, value in export_options.items() if value is not None)
    if given:
        raise TypeError(f"configure=False leaves exporting to the application's OpenTelemetry set-up: {', '.join(given)} not taken")
    tp = tracer_provider or trace.get_tracer_provider()
    if not isinstance(tp, TracerProvider):
        raise TypeError("configure=False needs the application's opentelemetry.sdk.trace.TracerProvider (registered, or tracer_provider=)")
    return _Exports(tp, meter_provider or metrics.get_meter_provider())


def _instrument_sdk(
    exports: _Exports, capture_content: bool, max_content_bytes: int, redact: Any, metric_tags: Any
) -> _State:
    """The instrument step: our processors on the tracer provider (call spans completed before they end, content
    redacted, then the exporters'), the metric instruments, the worker thread, and the SDK patches, on the private
    parts `_compat` found (it warns once, naming the SDK version, about any it did not; the features that need them
    are left out, the rest works)."""
    from tracer import cost

    tp, mp = exports.tracer_provider, exports.meter_provider
    state = _State(
        tracer_provider=tp,
        meter_provider=mp,
        own_meter_provider=exports.own_meter_provider,
        prometheus_server=exports.prometheus_server,
        otlp_guards=exports.otlp_guards,
    )

    def add(processor: SpanProcessor) -> _Switch:
        switch = _Switch(processor)
        tp.add_span_processor(switch)
        state.processors.append(switch)
        return switch

    add(CallSpanProcessor(cost.default_table))
    # Content is redacted wherever it can appear: asked for here, by the SDK's own variable, or with a hook given.
    if capture_content or redact is not None or os.environ.get(ENV_SDK_CONTENT_MODE, "").lower() == "content":
        from tracer.capture._redact import ContentRedactionProcessor, Redactor

        add(ContentRedactionProcessor(Redactor(redact)))
    store = add(exports.store) if exports.store is not None else None
    set_unsampled_sink(store)  # cost: sampled-out calls' rows
    if exports.otlp is not None:
        add(exports.otlp)

    _metrics.configure(mp.get_meter(semconv.SCOPE), tags=metric_tags)  # tag keys that label the cost counter
    _worker.start()
    tracer = _compat.use_own_ids(tp.get_tracer(semconv.SCOPE))  # spans started on our worker: our own ids
    content = {"max_content_bytes": max_content_bytes} if capture_content else None
    _compat.warn_missing(_compat.parts())
    patcher = Patcher(AttemptRecorder(tracer), content, BatchResultRecorder(tracer, cost.default_table))
    patcher.apply()
    state.patcher = patcher
    state.lost_seen = _lost(state)
    return state


def _teardown() -> None:
    global _state
    state = _state
    if state is None:
        return
    _state = None
    _forget_exit()
    if state.patcher is not None:
        state.patcher.undo()
    _metrics.reset()
    _finish(state, _monotonic() + _exit_timeout_s())
    if state.prometheus_server is not None:
        try:
            server, _thread = state.prometheus_server
            server.shutdown()
            server.server_close()
        except Exception:
            log.debug("could not stop the Prometheus endpoint", exc_info=True)


# -- the end: uninstrument() and interpreter exit -------------------------------------------------------------------
# Both run on the calling thread and start no thread (Python 3.12 refuses new threads in atexit handlers): the worker
# is stopped and drained, then each processor is flushed and shut down in turn. Only the OTLP exporters can wait on
# something outside the process; `abandon_exports(deadline)` makes them stop waiting at the deadline, so the whole
# sequence ends within about the deadline, whatever the endpoint does.


def _exit_timeout_s() -> float:
    value = os.environ.get(ENV_EXIT_TIMEOUT, "")
    try:
        return max(float(value), 0.0) if value.strip() else DEFAULT_EXIT_TIMEOUT_S
    except ValueError:
        return DEFAULT_EXIT_TIMEOUT_S


def _remaining_ms(deadline: float) -> int:
    return max(int((deadline - _monotonic()) * 1000), 0)


def _finish(state: _State, deadline: float, *, exiting: bool = False) -> bool:
    """Drain, flush and shut down everything `state` set up, ending at about `deadline`. True when nothing was lost
    on the way. Never raises."""
    ok = True
    if state.otlp_guards:
        from tracer.export import abandon_exports

        abandon_exports(deadline, state.otlp_guards)
    _attempts.end_open_bodies()
    if not _worker.stop(deadline):
        ok = False
        log.warning(
            "tracer: the process ended before every attempt span and metric was recorded (%.1f s allowed, %s=%s)",
            _exit_timeout_s(), ENV_EXIT_TIMEOUT, os.environ.get(ENV_EXIT_TIMEOUT, "default"),
        )
    for switch in state.processors:
        try:
            ok = switch.force_flush(_remaining_ms(deadline)) and ok
            switch.shutdown()
        except Exception:
            ok = False
            log.debug("could not shut a processor down", exc_info=True)
    if state.own_meter_provider:
        try:
            if exiting:  # shut down (it unregisters its own exit handler, which would export once more)
                state.meter_provider.shutdown(timeout_millis=_remaining_ms(deadline))
            else:  # it stays the global provider, which a later instrument() uses again
                ok = bool(state.meter_provider.force_flush(_remaining_ms(deadline))) and ok
        except Exception:
            ok = False
            log.debug("could not flush the metrics", exc_info=True)
    return _no_new_loss(state) and ok


def _lost(state: _State) -> int:
    """What was dropped so far, in its own units: whatever the pipeline dropped in this process (`tracer._drops`:
    spans at a full processor queue, deferred items at the worker's, spans the store's exporter could not keep or
    write) and the OTLP batches our exporters lost. A flush that finds it grown did not get everything out, whatever
    the processors' `force_flush` says (OpenTelemetry's says True)."""
    lost = _drops.total()
    if state.otlp_guards:
        from tracer.export import lost_batches

        lost += lost_batches(state.otlp_guards)
    return lost


def _no_new_loss(state: _State) -> bool:
    """Whether nothing was lost since the last flush (or set-up); the loss found now is the next flush's baseline:
    a flush that reports a drop reports it once."""
    lost = _lost(state)
    seen, state.lost_seen = state.lost_seen, lost
    return lost == seen


_exit_registered = False


def _at_exit() -> None:
    """At interpreter exit: what `uninstrument()` does for the exporters, within `TRACER_EXIT_TIMEOUT_S`."""
    global _exit_registered, _state
    _exit_registered = False
    state = _state
    if state is None:
        return
    try:
        _finish(state, _monotonic() + _exit_timeout_s(), exiting=True)
    except Exception:
        log.debug("could not finish at exit", exc_info=True)
    # Done: a flush() or uninstrument() from an exit handler that runs after this one has nothing left to do.
    _state = None


def _register_exit() -> None:
    # Registered after the providers and exporters of this set-up (atexit runs the last registered first), so it
    # drains the worker before they shut down, and leaves them nothing to wait for.
    global _exit_registered
    if not _exit_registered:
        atexit.register(_at_exit)
        _exit_registered = True


def _forget_exit() -> None:
    global _exit_registered
    if _exit_registered:
        atexit.unregister(_at_exit)
        _exit_registered = False


def instrument(**kwargs: Any) -> None:
    """See `tracer.instrument`. The store defaults to `$TRACER_STORE`, else `./.tracer`; calling again is harmless."""
    with _lock:
        instrumentor = ClaudeTracerInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            log.debug("tracer.instrument(): already instrumented; call uninstrument() first to change settings")
            return
        if kwargs.get("store") is None and kwargs.get("configure", True):
            from tracer.store import default_root

            kwargs["store"] = default_root()
        instrumentor.instrument(skip_dep_check=True, **kwargs)


def uninstrument() -> None:
    """See `tracer.uninstrument`."""
    with _lock:
        instrumentor = ClaudeTracerInstrumentor()
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()


def flush(timeout_s: float = 10.0) -> bool:
    """See `tracer.flush`. Returns within about `timeout_s`; True only when everything recorded so far went out and
    nothing was dropped since the previous flush (a drop makes one flush say False). Never raises.

    The work runs on helper threads that the caller stops waiting for at the deadline: an exporter stuck on an
    endpoint that does not answer keeps its thread, and the next flush waits for that one again rather than
    starting another behind it.
    """
    state = _state
    if state is None:
        return True
    try:
        deadline = _monotonic() + max(timeout_s, 0.0)
        if not _in_background("drain", lambda: _worker.drain(deadline=deadline)).wait(deadline):
            _no_new_loss(state)
            return False

        def flush_one(target: Any) -> bool:
            return bool(target.force_flush(_remaining_ms(deadline)))

        targets: list[Any] = [*state.processors, state.meter_provider] if state.own_meter_provider else [*state.processors]
        jobs = [_in_background(target, functools.partial(flush_one, target)) for target in targets]
        done = [job.wait(deadline) for job in jobs]  # a list: every job gets its wait
        return _no_new_loss(state) and all(done)
    except Exception:
        log.debug("flush failed", exc_info=True)
        return False


class _Job:
    """One piece of `flush()` on a daemon thread; `ok` is what it returned (False when it raised)."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.done = threading.Event()
        self.ok = False
        try:
            threading.Thread(target=self._run, args=(fn,), name="claude-tracer-flush", daemon=True).start()
        except RuntimeError:  # no new threads (Python 3.12 at exit): run it here, bounded by the exporters' guards
            self._run(fn)

    def _run(self, fn: Callable[[], object]) -> None:
        try:
            self.ok = fn() is not False
        except Exception:
            log.debug("flush failed", exc_info=True)
        finally:
            self.done.set()

    def wait(self, deadline: float) -> bool:
        return self.done.wait(max(deadline - _monotonic(), 0.0)) and self.ok


_jobs: dict[int, tuple[object, _Job]] = {}
_jobs_lock = threading.Lock()


def _in_background(key: object, fn: Callable[[], object]) -> _Job:
    """The job still running for `key` from an earlier flush, else a new one running `fn`."""
    with _jobs_lock:
        held = _jobs.get(id(key))
        if held is not None and held[0] is key and not held[1].done.is_set():
            return held[1]
        job = _Job(fn)
        _jobs[id(key)] = (key, job)
        return job
