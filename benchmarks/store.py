"""The embedded store's two numbers: how fast one process ingests spans, and how fast the dashboard's queries run
over a big store.

    .venv/bin/python benchmarks/store.py                    # 10,000,000 calls (generated once, then cached)
    .venv/bin/python benchmarks/store.py --calls 1000000    # a quicker run

(a) Ingest: realistic finished call and attempt spans are built once with the OpenTelemetry SDK, then timed through
    `StoreExporter.export` in the BatchSpanProcessor's batch size, plus the final flush (segments on disk).
    Goal: >= 100,000 spans/s from one process.
(a2) Ingest of whole traces: an agent workload, runs of four calls with five application spans per call around
    them (step, retrieval, reranking, a tool execution, parsing) and, per call, an unrelated three-span request
    without a call (a web app's health checks), which the store must let go. Same measure as (a).
(b) Queries: every named query of `tracer.read` (the dashboard's panels, default filters = all time) over
    the synthetic store, each timed after the store is open, and their total; and, for reference, one plain
    DuckDB aggregate over the same rows. Goal: all together <= 1.5 s on a 2-core machine. Also the time to open
    the store three ways (b0): cold (the reader cache deleted, every segment loaded; `--no-cold` skips it),
    unchanged, and after 1% new data (in the last hour; and, labelled apart, spread over the whole week). Goals over
    10,000,000 calls: cold <= 10 s, after 1% new in the last hour <= 1 s.

(c) Agent runs and conversations (`tracer.read.runs`) over the same store: one run's roll-up and tree, one
    conversation's turns, and the run, conversation and tool lists, each the median of `--runs`. Goal: each <= 0.5 s
    over 10,000,000 calls.

The synthetic store is written by `tracer.read.synthetic` into `--cache` (default
`~/.cache/claude-tracer/bench-store-<calls>`) and reused by later runs.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run from a checkout without installing: the repository root is one level up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5", "claude-sonnet-4-6")


def build_spans(n_calls: int) -> list[Any]:
    """Finished spans shaped like capture's: per call, one call span with the SDK's gen_ai.* attributes, cost,
    tags and ours, and its attempt spans (one in ten calls retried after a 429)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tracer import semconv

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({semconv.SERVICE_NAME: "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer(semconv.ANTHROPIC_SCOPE)
    for i in range(n_calls):
        model = MODELS[i % len(MODELS)]
        attempts = 2 if i % 10 == 0 else 1
        call_attrs: dict[str, Any] = {
            semconv.SPAN_TYPE: semconv.SPAN_TYPE_CALL,
            semconv.GEN_AI_OPERATION_NAME: "chat",
            semconv.GEN_AI_PROVIDER_NAME: "anthropic",
            semconv.GEN_AI_REQUEST_MODEL: model,
            semconv.GEN_AI_RESPONSE_MODEL: model + "-20250929",
            semconv.GEN_AI_RESPONSE_ID: f"msg_{i:024d}",
            semconv.GEN_AI_USAGE_INPUT_TOKENS: 1300 + i % 500,
            semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 200,
            semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 100,
            semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 250 + i % 300,
            semconv.HTTP_REQUEST_RESEND_COUNT: attempts - 1,
            semconv.HTTP_RESPONSE_STATUS_CODE: 200,
            semconv.ANTHROPIC_REQUEST_ID: f"req_{i:024d}",
            semconv.ANTHROPIC_STOP_REASON: "end_turn",
            semconv.COST_USD_EXACT: "0.010500",
            semconv.COST_USD: 0.0105,
            semconv.TAG_PREFIX + "feature": "search",
            semconv.TAG_PREFIX + "customer": "acme",
        }
        with tracer.start_as_current_span(semconv.SPAN_MESSAGES_CREATE, attributes=call_attrs):
            for attempt in range(attempts):
                status = 429 if attempt < attempts - 1 else 200
                attempt_attrs: dict[str, Any] = {
                    semconv.SPAN_TYPE: semconv.SPAN_TYPE_ATTEMPT,
                    semconv.HTTP_REQUEST_RESEND_COUNT: attempt,
                    semconv.HTTP_RESPONSE_STATUS_CODE: status,
                    semconv.GEN_AI_REQUEST_MODEL: model,
                    semconv.ANTHROPIC_REQUEST_ID: f"req_{i:020d}_{attempt}",
                    semconv.ratelimit_attribute("requests", "limit"): 4000,
                    semconv.ratelimit_attribute("requests", "remaining"): 3999 - i % 4000,
                    semconv.ratelimit_attribute("tokens", "limit"): 400000,
                    semconv.ratelimit_attribute("tokens", "remaining"): 390000,
                }
                if status == 429:
                    attempt_attrs[semconv.ERROR_TYPE] = "429"
                    attempt_attrs[semconv.ATTEMPT_RETRY_AFTER_S] = 1.0
                with tracer.start_as_current_span(semconv.SPAN_ATTEMPT, attributes=attempt_attrs):
                    pass
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    return spans


def export_rates(batches: list[list[Any]], runs: int, *, expected_rows: int, encoder: str | None = None) -> list[tuple[float, float]]:
    """(spans per second of wall time, CPU microseconds per span) through a fresh `StoreExporter` (export every
    batch, then flush), once per run; each run checks that `expected_rows` rows were written and nothing dropped.
    CPU time is the process's (every thread: the exporter's writer thread too), so it reads the same on a loaded
    machine, where wall time does not. `encoder` picks the row segments' encoder (`segments.ENCODERS`)."""
    from tracer.store import StoreExporter, segments

    spans = sum(len(part) for part in batches)
    chosen = segments.encoder
    if encoder is not None:
        segments.encoder = encoder
    results = []
    try:
        for _ in range(runs):
            root = Path(tempfile.mkdtemp(prefix="tracer-bench-ingest-"))
            try:
                exporter = StoreExporter(root)
                cpu = time.process_time()
                started = time.perf_counter()
                for part in batches:
                    exporter.export(part)
                exporter.force_flush()
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu
                exporter.shutdown()
                assert exporter.written == expected_rows and exporter.dropped == 0, (exporter.written, expected_rows, exporter.dropped)
                results.append((spans / elapsed, cpu / spans * 1e6))
            finally:
                shutil.rmtree(root, ignore_errors=True)
    finally:
        segments.encoder = chosen
    return results


def report(results: list[tuple[float, float]], runs: int, indent: str = "    ") -> None:
    """The wall-time rate (best and median of the runs) against the goal, and CPU per span (least and median)."""
    rates, cpus = [r for r, _ in results], [c for _, c in results]
    best = max(rates)
    verdict = "meets" if best >= GOAL_SPANS_S else "MISSES"
    print(f"{indent}export + flush: {best:,.0f} spans/s (best of {runs}; median {statistics.median(rates):,.0f})"
          f" -> {verdict} the goal of >= {GOAL_SPANS_S:,} spans/s")  # fmt: skip
    print(f"{indent}CPU per span: {min(cpus):.2f} us (least of {runs}; median {statistics.median(cpus):.2f});"
          f" the goal is <= {1e6 / GOAL_SPANS_S:.0f} us of CPU")  # fmt: skip


GOAL_SPANS_S = 100_000


def bench_ingest(n_calls: int, runs: int) -> None:
    from tracer.store import segments
    from tracer.store._rows import row_tuples_from_spans

    spans = build_spans(n_calls)
    # An application holds at most the processor's queue (2,048 spans), not 100,000 prebuilt ones: keep the
    # prebuilt spans out of the garbage collector's full passes, which would otherwise dominate the timing.
    gc.collect()
    gc.freeze()
    batch = 512  # the BatchSpanProcessor's max_export_batch_size
    batches = [spans[i : i + batch] for i in range(0, len(spans), batch)]
    print(f"(a) ingest: {len(spans):,} spans ({n_calls:,} calls with their attempts) in batches of {batch}, one process")
    report(export_rates(batches, runs, expected_rows=len(spans)), runs)
    for encoder in segments.ENCODERS[1:]:
        print(f"    with the {encoder} encoder instead:")
        report(export_rates(batches, runs, expected_rows=len(spans), encoder=encoder), runs, indent="      ")
    started = time.perf_counter()
    cpu = time.process_time()
    for part in batches:
        row_tuples_from_spans(part)
    convert = len(spans) / (time.perf_counter() - started)
    cpu = (time.process_time() - cpu) / len(spans) * 1e6
    print(f"    of which spans -> rows alone: {convert:,.0f} spans/s, {cpu:.2f} us of CPU per span")


def build_agent_spans(n_calls: int) -> tuple[list[Any], int]:
    """Finished spans of an agent workload: runs of four calls under `agent.run`, each call inside five spans of the
    application's, plus one unrelated three-span request per call. The spans, and how many of them a store keeps."""
    from opentelemetry import trace as otel
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tracer import semconv

    calls = build_spans(n_calls)  # the call and attempt spans, each its own trace: re-parented below
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({semconv.SERVICE_NAME: "bench"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    app = provider.get_tracer("bench-app")
    sdk = provider.get_tracer(semconv.ANTHROPIC_SCOPE)
    by_call: dict[int, list[Any]] = {}
    for span in calls:
        by_call.setdefault(span.context.trace_id, []).append(span)
    groups = list(by_call.values())
    out: list[Any] = []
    for run_start in range(0, len(groups), 4):
        with app.start_as_current_span("agent.run") as root:
            run_context = root.get_span_context()
            for group in groups[run_start : run_start + 4]:
                with app.start_as_current_span("step"), app.start_as_current_span("retrieve"):
                    with app.start_as_current_span("rerank"):
                        pass
                    parent = otel.get_current_span().get_span_context()
                    out.extend(_reparent(span, run_context.trace_id, parent.span_id) for span in group)
                    with sdk.start_as_current_span("anthropic.custom_tool_use search", attributes={
                        semconv.GEN_AI_OPERATION_NAME: "execute_tool", semconv.GEN_AI_TOOL_NAME: "search"}):  # fmt: skip
                        pass
                    with app.start_as_current_span("parse"):
                        pass
    for _ in range(n_calls):
        with app.start_as_current_span("GET /health"), app.start_as_current_span("db.query"), app.start_as_current_span("cache.get"):
            pass
    kept = len(out) + sum(1 for s in memory.get_finished_spans() if s.name != "GET /health" and s.name not in ("db.query", "cache.get"))
    spans = sorted([*out, *memory.get_finished_spans()], key=lambda s: s.end_time)  # the order spans end in
    provider.shutdown()
    return spans, kept


def _reparent(span: Any, trace_id: int, parent_span_id: int) -> Any:
    """`span` (a call or attempt) moved into the run's trace; a call under `parent_span_id`."""
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.trace import SpanContext, TraceFlags

    context = SpanContext(trace_id, span.context.span_id, False, TraceFlags(TraceFlags.SAMPLED))
    parent = span.parent if span.name != "anthropic.messages.create" else None
    parent = SpanContext(trace_id, parent.span_id if parent is not None else parent_span_id, False)
    return ReadableSpan(name=span.name, context=context, parent=parent, resource=span.resource, attributes=span.attributes,
                        kind=span.kind, start_time=span.start_time, end_time=span.end_time,
                        instrumentation_scope=span.instrumentation_scope)  # fmt: skip


def bench_agent_ingest(n_calls: int, runs: int) -> None:
    spans, kept = build_agent_spans(n_calls)
    gc.collect()
    gc.freeze()
    batch = 512
    batches = [spans[i : i + batch] for i in range(0, len(spans), batch)]
    print(f"(a2) ingest of whole traces: {len(spans):,} spans ({n_calls:,} calls in agent runs, 5 application spans per call,")
    print(f"     and a 3-span request without a call per call) in batches of {batch}; {kept:,} of them kept")
    report(export_rates(batches, runs, expected_rows=kept), runs, indent="     ")


def bench_runs(store: Any, runs: int) -> None:
    """(c): the run and conversation queries over the open store."""
    import datetime as dt

    from tracer.read import Filters
    from tracer.read import runs as run_queries

    ids = store.rows("SELECT trace_id FROM spans WHERE name = 'agent.run' USING SAMPLE 5 ROWS")
    conversation_ids = store.rows("SELECT DISTINCT conversation_id FROM spans WHERE conversation_id IS NOT NULL LIMIT 5")
    last = store.rows("SELECT max(start_time) FROM calls")[0][0]
    day = Filters(start=last - dt.timedelta(hours=24))
    cases: dict[str, Any] = {
        "trace_summary (one run)": lambda i: run_queries.trace_summary(store, ids[i % len(ids)][0]),
        "trace_tree (one run)": lambda i: run_queries.trace_tree(store, ids[i % len(ids)][0]),
        "conversation_turns (one)": lambda i: run_queries.conversation_turns(store, conversation_ids[i % len(conversation_ids)][0]),
        "traces recent, all time": lambda i: run_queries.traces(store, Filters(), "recent"),
        "traces slowest, last 24 h": lambda i: run_queries.traces(store, day, "slowest"),
        "traces costliest, last 24 h": lambda i: run_queries.traces(store, day, "costliest"),
        "traces costliest, all time": lambda i: run_queries.traces(store, Filters(), "costliest"),
        "conversations, all time": lambda i: run_queries.conversations(store, Filters()),
        "tool_executions, all time": lambda i: run_queries.tool_executions(store, Filters()),
    }
    rows = store.rows("SELECT (SELECT count(*) FROM spans), (SELECT count(DISTINCT conversation_id) FROM calls)")[0]
    print(f"(c) agent runs and conversations: {rows[0]:,} other spans, {rows[1]:,} conversations")
    width = max(len(name) for name in cases)
    worst = 0.0
    for name, case in cases.items():
        case(0)  # first: loads what the query reads
        times = []
        for i in range(runs):
            started = time.perf_counter()
            case(i + 1)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        worst = max(worst, median)
        print(f"    {name:<{width}}  {median * 1000:7.1f} ms")
    verdict = "meets" if worst <= 0.5 else "MISSES"
    print(f"    slowest: {worst * 1000:.1f} ms -> {verdict} the goal of 500 ms each")


def ensure_store(n_calls: int, cache: Path | None) -> Path:
    from tracer.read.synthetic import write_synthetic
    from tracer.store import SCHEMA_VERSION

    root = cache or Path.home() / ".cache" / "claude-tracer" / f"bench-store-{n_calls}-v{SCHEMA_VERSION}"
    marker = root / ".complete"
    if marker.exists():
        print(f"    synthetic store: {root} (cached)")
        return root
    shutil.rmtree(root, ignore_errors=True)
    started = time.perf_counter()
    written = write_synthetic(root, n_calls, seed=1)
    elapsed = time.perf_counter() - started
    marker.write_text(f"{written}\n")
    print(f"    synthetic store: {root} written in {elapsed:.1f} s ({n_calls / elapsed:,.0f} calls/s): {written}")
    return root


def _open_s(root: Path) -> float:
    """Seconds from `Store(root)` to the answer of a first query: what a fresh dashboard process waits for. The CPU
    seconds it took are kept in `_last_cpu_s`."""
    from tracer.read import Store

    global _last_cpu_s
    started, cpu = time.perf_counter(), time.process_time()
    with Store(root) as store:
        store.rows("SELECT count(*) FROM calls")
        _last_cpu_s = time.process_time() - cpu
        return time.perf_counter() - started


_last_cpu_s = 0.0


def _cpu() -> str:
    return f"(CPU {_last_cpu_s:.2f} s, load {os.getloadavg()[0]:.2f})"


def bench_open(root: Path, n_calls: int, *, cold: bool) -> str:
    """(b0) Opening the store, three ways: cold (no reader cache: every segment loaded; skipped without `cold`),
    unchanged (the cache is current), and after 1% new data (new segments since the cache was written; they are
    deleted again afterwards, and the cache follows): in the last hour, as a live service writes it, and spread over
    the whole week (late arrival: every minute's totals change). Wall time, and the process's CPU time beside it (the
    machine may be shared). Goals: cold <= 10 s and after 1% new in the last hour <= 1 s over 10M calls."""
    from tracer.read._reader import CACHE_DIR

    print("(b0) opening the store (Store(root) to a first answer)")
    figures = []
    if cold:
        shutil.rmtree(root / CACHE_DIR, ignore_errors=True)
        took = _open_s(root)
        goal = " -> " + ("meets" if took <= 10 else "MISSES") + " the goal of 10 s over 10M calls" if n_calls >= 10_000_000 else ""
        print(f"    cold (every segment loaded into the cache file): {took:.2f} s {_cpu()}{goal}")
        figures.append(f"cold {took:.1f} s")
    else:
        _open_s(root)  # whatever the cache lacks, loaded now, so that "unchanged" is what it says
    took = _open_s(root)
    print(f"    unchanged (the cache is current): {took:.2f} s {_cpu()}")
    figures.append(f"unchanged {took:.2f} s")
    # New data as a live service writes it, in the last hour (the goal), and, apart, as late as it can come:
    # spread over the whole week, so that every minute's totals take some.
    for days, label, goal_s in ((1 / 24, "in the last hour", 1.0), (7.0, "spread over the week (late arrival)", None)):
        took, segments, cpu = _open_after_new(root, n_calls, days)
        goal = ""
        if goal_s is not None and n_calls >= 10_000_000:
            goal = " -> " + ("meets" if took <= goal_s else "MISSES") + f" the goal of {goal_s:g} s"
        print(f"    after 1% new data {label} ({segments} new segments, {max(n_calls // 100, 1):,} calls): {took:.2f} s {cpu}{goal}")
        figures.append(f"after 1% new {label} {took:.2f} s")
    return ", ".join(figures)


def _open_after_new(root: Path, n_calls: int, days: float) -> tuple[float, int, str]:
    """Seconds to open the store after 1% new calls over the `days` before now were written, how many segments they
    made, and the CPU time it took; they are deleted again afterwards, and the cache follows."""
    import datetime as dt

    from tracer.read._reader import CACHE_DIR
    from tracer.read.synthetic import write_synthetic

    before = {p for p in root.rglob("*") if p.is_file()}
    end = dt.datetime.now(dt.UTC)
    write_synthetic(root, max(n_calls // 100, 1), seed=4242, end=end, days=days, chunk_calls=max(n_calls // 400, 1))
    new = [p for p in root.rglob("*") if p.is_file() and p not in before and CACHE_DIR not in p.parts]
    try:
        took = _open_s(root)
        return took, len(new), _cpu()
    finally:
        for path in new:
            path.unlink(missing_ok=True)
        _open_s(root)  # the cache forgets them again


def bench_queries(n_calls: int, cache: Path | None, runs: int, cold: bool = True) -> None:
    from tracer.read import NAMED, Filters, Store, compact

    print(f"(b) the dashboard's {len(NAMED)} named queries over {n_calls:,} synthetic calls (all time, no filters)")
    root = ensure_store(n_calls, cache)
    started = time.perf_counter()
    result = compact(root)
    if result.merged:
        print(f"    compacted {result.merged} segments into {result.written} in {time.perf_counter() - started:.1f} s")
    opened = bench_open(root, n_calls, cold=cold)
    store = Store(root)
    rows = store.rows("SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM attempts), (SELECT count(*) FROM events)")[0]
    print(f"    store: {rows[0]:,} calls, {rows[1]:,} attempts, {rows[2]:,} events; opened {opened}")
    filters = Filters()
    first: dict[str, float] = {}
    times: dict[str, list[float]] = {name: [] for name in NAMED}
    for run in range(runs + 1):
        for name, query in NAMED.items():
            started = time.perf_counter()
            query(store, filters)
            elapsed = time.perf_counter() - started
            if run == 0:
                first[name] = elapsed  # includes one-off work (price lookups for cache_savings)
            else:
                times[name].append(elapsed)
    medians = {name: statistics.median(values) for name, values in times.items()}
    width = max(len(name) for name in NAMED)
    print(f"    {'query':<{width}}  {'first':>9}  {'median':>9}")
    for name in NAMED:
        print(f"    {name:<{width}}  {first[name] * 1000:7.1f} ms  {medians[name] * 1000:7.1f} ms")
    total = sum(medians.values())
    verdict = "meets" if total <= 1.5 else "MISSES"
    print(f"    {'total':<{width}}  {sum(first.values()) * 1000:7.1f} ms  {total * 1000:7.1f} ms -> {verdict} the goal of 1,500 ms")
    plain = "SELECT model, count(*), avg(duration_ms), sum(output_tokens) FROM calls GROUP BY model"
    reference = []
    for _ in range(runs):
        started = time.perf_counter()
        store.rows(plain)
        reference.append(time.perf_counter() - started)
    print(f"    reference, one plain DuckDB aggregate ({plain}): {statistics.median(reference) * 1000:.1f} ms")
    bench_runs(store, runs)
    store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000_000, help="synthetic calls for the query benchmark (default 10,000,000)")
    parser.add_argument("--ingest-calls", type=int, default=50_000, help="calls (with their attempts) for the ingest benchmark")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each measurement (default 3)")
    parser.add_argument("--cache", type=Path, help="where the synthetic store is kept between runs")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-queries", action="store_true")
    parser.add_argument("--no-cold", dest="cold", action="store_false", help="keep the store's reader cache: skip timing a first open (which rebuilds it)")
    args = parser.parse_args(argv)
    print(f"claude-tracer store benchmark; {os.cpu_count()} CPUs; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if not args.skip_ingest:
        bench_ingest(args.ingest_calls, args.runs)
        bench_agent_ingest(args.ingest_calls // 5, args.runs)
    if not args.skip_queries:
        bench_queries(args.calls, args.cache, args.runs, args.cold)
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
