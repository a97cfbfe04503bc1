"""Per-call overhead of claude-tracer against the bare SDK, the SDK's native tracing, and two peers.

    .venv/bin/python benchmarks/overhead.py [--calls 3000] [--rounds 3]     (peers: pip install -e '.[bench]')

One run: the fake API (latency scale 0) serves on loopback from this process; every configuration runs in a
fresh child process (instrumentation is process-global), in rounds that interleave the configurations so that
drift of the machine hits all of them alike. Each child makes warm-up calls, then `--calls` timed calls, and
reports the median wall time per call (what the caller waits) and the process CPU time per call (the caller's
thread plus export threads: every span is exported, to a processor that discards it, so export cost counts).

Printed per configuration and call kind: median wall and CPU microseconds per call, the microseconds added over
the bare SDK, and the ratio to it; then claude-tracer's own increment over the call span it builds on, and what
the SDK's middleware path costs by itself (the floor for any attempt timing through middleware).

On a busy machine separate processes drift by tens of microseconds. `--paired` measures claude-tracer's own
increment the steadier way: one process, the SDK's native spans on throughout, `tracer.instrument()` and
`tracer.uninstrument()` alternating in blocks of calls; the median of the per-block differences is printed, in wall
time and in the caller thread's CPU time (`time.thread_time_ns`: what the application's own thread spends, which
other processes on the machine disturb far less than wall time), with the spread of the blocks (quartiles).

Every figure is printed beside its goal (GOALS; docs/performance.md), and the machine's load average at the start
and the end of the run: a figure read on a loaded machine says so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONFIGS: dict[str, dict[str, str]] = {
    # name: (native tracing, what instruments)
    "bare SDK (native off)": {"native": "false", "inst": "none"},
    "SDK native spans": {"native": "true", "inst": "provider"},
    # What timing attempts through the SDK's client middleware would cost at the least (native spans plus one
    # middleware that only calls the next): claude-tracer no longer does, as a middleware chain changes the SDK's
    # behaviour (docs/instrumentation.md), but the row shows what that seam costs.
    "SDK native + pass-through middleware": {"native": "true", "inst": "provider-middleware"},
    "claude-tracer (native on, default)": {"native": "true", "inst": "tracer"},
    # A client that opted out of the SDK's traces is not traced by claude-tracer either, so there is no
    # "claude-tracer (native off)" row: it would measure an untraced client.
    "claude-tracer + store": {"native": "true", "inst": "tracer-store"},
    "OpenLLMetry (native off)": {"native": "false", "inst": "openllmetry"},
    "OpenInference (native off)": {"native": "false", "inst": "openinference"},
    "OpenLLMetry (native on)": {"native": "true", "inst": "openllmetry"},
    "OpenInference (native on)": {"native": "true", "inst": "openinference"},
}
# The goals the figures are printed against (issue 27; docs/performance.md).
GOALS = {
    "non-stream": "claude-tracer's own increment <= +50 us (wall and caller CPU); below both peers in every round",
    "stream": "claude-tracer's own increment <= 0 us (wall and caller CPU); below both peers in every round",
}
PAIRED_GOAL_US = {"non-stream": 50.0, "stream": 0.0}
BARE = "bare SDK (native off)"
FLOOR = "SDK native + pass-through middleware"
MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "Say hello."}]


# ---------------------------------------------------------------------------------------------------------------
# child: one configuration
# ---------------------------------------------------------------------------------------------------------------


def _discarding_provider():  # type: ignore[no-untyped-def]
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)
    return provider, Discard


def _caller(client: Any, kind: str) -> Callable[[], None]:
    """One API call of the benchmark's kind: a non-streamed message, or a stream read to its end."""

    def one() -> None:
        if kind == "stream":
            for _ in client.messages.create(model=MODEL, max_tokens=32, messages=MESSAGES, stream=True):
                pass
        else:
            client.messages.create(model=MODEL, max_tokens=32, messages=MESSAGES)

    return one


def child(base_url: str, inst: str, kind: str, calls: int, warmup: int, store: str) -> dict[str, float]:
    import anthropic

    middleware: list[Any] = []
    if inst in ("provider", "provider-middleware", "openllmetry", "openinference"):
        _discarding_provider()
    if inst == "provider-middleware":
        from anthropic._middleware import Middleware

        class PassThrough(Middleware):
            def handle(self, request: Any, call_next: Any) -> Any:
                return call_next(request)

        middleware.append(PassThrough())
    if inst == "openllmetry":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument()
    elif inst == "openinference":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor as OIInstrumentor

        OIInstrumentor().instrument()
    elif inst.startswith("tracer"):
        import tracer

        _discarding_provider()  # the same discarding export as the others, plus ours
        tracer.instrument(store=store if inst == "tracer-store" else False)

    one = _caller(anthropic.Anthropic(api_key="bench-key", base_url=base_url, max_retries=0, middleware=middleware), kind)

    for _ in range(warmup):
        one()
    if inst.startswith("tracer"):
        import tracer

        # Steady state: the first write of the store imports what pyarrow converts with (pandas, once installed:
        # about 0.13 s, once per process), and the worker starts empty.
        tracer.flush()
    walls: list[int] = []
    cpu0 = time.process_time_ns()
    perf = time.perf_counter_ns
    for _ in range(calls):
        t0 = perf()
        one()
        walls.append(perf() - t0)
    if inst.startswith("tracer"):
        import tracer

        tracer.flush()
    cpu = (time.process_time_ns() - cpu0) / calls
    return {"wall_us": statistics.median(walls) / 1000, "cpu_us": cpu / 1000}


# ---------------------------------------------------------------------------------------------------------------
# parent: the server, the rounds, the table
# ---------------------------------------------------------------------------------------------------------------


def paired(base_url: str, kind: str, blocks: int, per_block: int) -> dict[str, Any]:
    """Native spans on throughout; blocks alternate between instrumented and not (order flipped every block)."""
    import anthropic

    import tracer

    _discarding_provider()
    one = _caller(anthropic.Anthropic(api_key="bench-key", base_url=base_url, max_retries=0), kind)

    for _ in range(300):
        one()
    medians: dict[bool, list[float]] = {False: [], True: []}
    cpus: dict[bool, list[float]] = {False: [], True: []}
    perf, cpu = time.perf_counter_ns, time.thread_time_ns
    for block in range(blocks):
        for on in (False, True) if block % 2 else (True, False):
            if on:
                tracer.instrument(store=False)
            walls = []
            c0 = cpu()
            for _ in range(per_block):
                t0 = perf()
                one()
                walls.append(perf() - t0)
            cpus[on].append((cpu() - c0) / per_block / 1000)
            if on:
                tracer.uninstrument()
            medians[on].append(statistics.median(walls) / 1000)
    diff = [b - a for a, b in zip(medians[False], medians[True], strict=True)]
    cpu_diff = [b - a for a, b in zip(cpus[False], cpus[True], strict=True)]
    return {"native_us": statistics.median(medians[False]), "tracer_us": statistics.median(medians[True]),
            "native_cpu_us": statistics.median(cpus[False]), "tracer_cpu_us": statistics.median(cpus[True]),
            "diff_us": statistics.median(diff), "caller_cpu_diff_us": statistics.median(cpu_diff),
            "diff_q": _quartiles(diff), "cpu_diff_q": _quartiles(cpu_diff)}  # fmt: skip


def _quartiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def load_average() -> str:
    """The machine's load average (1, 5, 15 minutes) and its core count, for every printed figure."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average unknown"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def _available(inst: str) -> bool:
    import importlib.util

    module = {"openllmetry": "opentelemetry.instrumentation.anthropic", "openinference": "openinference.instrumentation.anthropic"}.get(inst)
    return module is None or importlib.util.find_spec(module) is not None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="timed calls per configuration and round")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", action="append", help="configuration names to run (substring match)")
    parser.add_argument("--paired", action="store_true", help="only claude-tracer's own increment, paired A/B in one process")
    parser.add_argument("--blocks", type=int, default=60, help="with --paired: alternating blocks (of --calls / 10 calls)")
    parser.add_argument("--child", nargs=5, metavar=("URL", "INST", "KIND", "CALLS", "WARMUP"), help=argparse.SUPPRESS)
    parser.add_argument("--store", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, inst, kind, calls, warmup = args.child
        if inst == "paired":
            print(json.dumps(paired(url, kind, int(warmup), int(calls))))
        else:
            print(json.dumps(child(url, inst, kind, int(calls), int(warmup), args.store)))
        return 0
    if args.paired:
        return _run_paired(args.blocks, max(args.calls // 10, 50))

    from tracer.fakeapi import FakeAPI

    configs = {n: c for n, c in CONFIGS.items() if _available(c["inst"])}
    if args.only:
        configs = {n: c for n, c in configs.items() if n in (BARE, "SDK native spans", FLOOR) or any(o in n for o in args.only)}
    skipped = sorted(set(CONFIGS) - set(configs))
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    load_start = load_average()
    print(f"start: {load_start}", file=sys.stderr)
    with FakeAPI(seed=0, latency_scale=0.0) as api, tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for kind in ("non-stream", "stream"):
                for name, cfg in configs.items():
                    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACER_"))}
                    env["ANTHROPIC_OPEN_TELEMETRY"] = cfg["native"]
                    env["OTEL_SDK_DISABLED"] = "false"
                    store = str(Path(tmp) / f"store-{r}")
                    out = subprocess.run(
                        [sys.executable, __file__, "--store", store, "--child", api.base_url, cfg["inst"],
                         "stream" if kind == "stream" else "plain", str(args.calls), str(args.warmup)],
                        capture_output=True, text=True, env=env, check=False,
                    )  # fmt: skip
                    if out.returncode != 0:
                        print(f"{name} / {kind} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
                        return 1
                    results.setdefault((name, kind), []).append(json.loads(out.stdout.strip().splitlines()[-1]))
                    print(f"round {r + 1}/{args.rounds} {kind:10} {name}: {results[(name, kind)][-1]}", file=sys.stderr)

    def med(name: str, kind: str, key: str) -> float:
        return statistics.median(x[key] for x in results[(name, kind)])

    print(f"\nPer-call overhead, anthropic SDK against the fake API on loopback ({args.rounds} rounds x {args.calls} calls, median)")
    print(f"  start: {load_start}; end: {load_average()}")
    for kind in ("non-stream", "stream"):
        bare_wall, bare_cpu = med(BARE, kind, "wall_us"), med(BARE, kind, "cpu_us")
        print(f"\n{kind}   (goal: {GOALS[kind]})")
        print(f"  {'configuration':38} {'wall us':>9} {'added':>8} {'ratio':>7}   {'cpu us':>9} {'added':>8} {'ratio':>7}")
        for name in configs:
            wall, cpu = med(name, kind, "wall_us"), med(name, kind, "cpu_us")
            print(f"  {name:38} {wall:9.1f} {wall - bare_wall:+8.1f} {wall / bare_wall:7.3f}   {cpu:9.1f} {cpu - bare_cpu:+8.1f} {cpu / bare_cpu:7.3f}")
        ours = "claude-tracer (native on, default)"
        if ours in configs and "SDK native spans" in configs:
            native = med("SDK native spans", kind, "wall_us")
            native_cpu = med("SDK native spans", kind, "cpu_us")
            inc = med(ours, kind, "wall_us") - native
            inc_cpu = med(ours, kind, "cpu_us") - native_cpu
            print(f"  claude-tracer's own increment over the SDK's native span: {inc:+.1f} us wall "
                  f"({inc / bare_wall:+.1%} of a bare call), {inc_cpu:+.1f} us CPU ({inc_cpu / bare_cpu:+.1%})")  # fmt: skip
        peers = [n for n in configs if n.startswith(("OpenLLMetry", "OpenInference"))]
        if ours in configs and peers:
            # Round by round (the configurations of a round run back to back), so drift of the machine cancels.
            print("  claude-tracer (native on) minus each peer, median of per-round differences (negative: we cost less;"
                  " goal: every round negative):")  # fmt: skip
            for peer in peers:
                for key, label in (("wall_us", "wall"), ("cpu_us", "CPU ")):
                    diffs = [a[key] - b[key] for a, b in zip(results[(ours, kind)], results[(peer, kind)], strict=True)]
                    below = sum(d < 0 for d in diffs)
                    print(f"    {peer:36} {label} {statistics.median(diffs):+8.1f} us   below in {below}/{len(diffs)} rounds:"
                          f" {' '.join(f'{d:+.0f}' for d in diffs)}")  # fmt: skip
        if FLOOR in configs and "SDK native spans" in configs:
            floor = med(FLOOR, kind, "wall_us") - med("SDK native spans", kind, "wall_us")
            print(f"  the SDK's middleware path alone (one pass-through middleware): {floor:+.1f} us wall "
                  f"({floor / bare_wall:+.1%} of a bare call)")  # fmt: skip
    span_us, span_attrs_us = span_floor()
    print(f"\nOne OpenTelemetry span (start, end, batch processor, discarding exporter), the least an attempt span costs: "
          f"{span_us:.1f} us empty, {span_attrs_us:.1f} us with 20 attributes")  # fmt: skip
    if skipped:
        print(f"\nnot measured (pip install -e '.[bench]'): {', '.join(skipped)}")
    return 0


def span_floor() -> tuple[float, float]:
    """Microseconds to start and end one child span on an SDK provider with a batch processor: best of 5 x 20,000."""
    import timeit

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    tracer = provider.get_tracer("floor")
    context = trace.set_span_in_context(tracer.start_span("call"))
    attrs = {f"attribute.{i}": i for i in range(20)}

    def empty() -> None:
        tracer.start_span("attempt", context=context).end()

    def with_attributes() -> None:
        span = tracer.start_span("attempt", context=context)
        span.set_attributes(attrs)
        span.end()

    try:
        return tuple(min(timeit.repeat(f, number=20_000, repeat=5)) / 20_000 * 1e6 for f in (empty, with_attributes))  # type: ignore[return-value]
    finally:
        provider.shutdown()


def _run_paired(blocks: int, per_block: int) -> int:
    from tracer.fakeapi import FakeAPI

    print(f"claude-tracer's own increment over the SDK's native span, paired in one process "
          f"({blocks} blocks x {per_block} calls each way, median of per-block differences [quartiles])")  # fmt: skip
    print(f"  start: {load_average()}")
    with FakeAPI(seed=0, latency_scale=0.0) as api:
        for kind in ("non-stream", "stream"):
            env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACER_"))}
            env["ANTHROPIC_OPEN_TELEMETRY"] = "true"
            out = subprocess.run(
                [sys.executable, __file__, "--child", api.base_url, "paired", "stream" if kind == "stream" else "plain",
                 str(per_block), str(blocks)],
                capture_output=True, text=True, env=env, check=False,
            )  # fmt: skip
            if out.returncode != 0:
                print(out.stderr[-2000:], file=sys.stderr)
                return 1
            r = json.loads(out.stdout.strip().splitlines()[-1])
            goal = PAIRED_GOAL_US[kind]
            verdict = " ".join(
                f"{label} {'met' if r[key] <= goal else 'NOT met'}" for key, label in (("diff_us", "wall"), ("caller_cpu_diff_us", "CPU"))
            )
            print(f"  {kind:10} native {r['native_us']:7.1f} us wall, {r['native_cpu_us']:7.1f} us caller CPU; "
                  f"instrumented {r['tracer_us']:7.1f} / {r['tracer_cpu_us']:7.1f}\n"
                  f"  {'':10} increment {r['diff_us']:+7.1f} us wall [{r['diff_q'][0]:+.0f}, {r['diff_q'][1]:+.0f}], "
                  f"{r['caller_cpu_diff_us']:+7.1f} us caller CPU [{r['cpu_diff_q'][0]:+.0f}, {r['cpu_diff_q'][1]:+.0f}]"
                  f"   goal <= {goal:+.0f} us: {verdict}   ({load_average()})")  # fmt: skip
    print(f"  end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
