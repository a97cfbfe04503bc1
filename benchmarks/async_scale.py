"""Throughput at saturation: many concurrent streams on one event loop, claude-tracer against the SDK and a peer.

    .venv/bin/python benchmarks/async_scale.py [--streams 2000] [--concurrency 200] [--rounds 2]

The per-call benchmark (`overhead.py`) times one call at a time; an `AsyncAnthropic` service with hundreds of
streams in flight on one loop pays for instrumentation differently: every microsecond spent on the loop's thread
delays every other stream. Each configuration runs in a fresh child process: `--streams` streamed calls,
`--concurrency` at a time (a semaphore), against the fake API at `--latency-scale` (0.05: a few tens of
milliseconds per answer, streamed in chunks) served from this process. Printed per configuration: the wall time
of the whole workload (median over rounds, the rounds interleaving the configurations), the time added over the
bare SDK and its ratio, the child's CPU time per stream (all its threads, export included: steadier than wall
time on a busy machine) and the loop thread's own share of it, and the event loop's lag (how late a 10 ms ticker woke, p99 and max), which shows work
that blocks the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CONFIGS: dict[str, dict[str, str]] = {
    "bare SDK (native off)": {"native": "false", "inst": "none"},
    "SDK native spans": {"native": "true", "inst": "provider"},
    "OpenLLMetry (native off)": {"native": "false", "inst": "openllmetry"},
    "claude-tracer, no store": {"native": "true", "inst": "tracer"},
    "claude-tracer + store (default)": {"native": "true", "inst": "tracer-store"},
}
BARE = "bare SDK (native off)"
GOAL = ("claude-tracer's added wall time (with and without the store) no more than the lowest peer's; its CPU per "
        "stream no more than the SDK's native spans alone")  # fmt: skip
MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "Write a short paragraph about tracing."}]


def _discarding_provider() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)


def child(base_url: str, inst: str, streams: int, concurrency: int, store: str) -> dict[str, float]:
    import anthropic

    if inst in ("provider", "openllmetry"):
        _discarding_provider()
    if inst == "openllmetry":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument()
    elif inst.startswith("tracer"):
        import tracer

        _discarding_provider()
        tracer.instrument(store=store if inst == "tracer-store" else False)

    async def workload() -> dict[str, float]:
        client = anthropic.AsyncAnthropic(api_key="bench-key", base_url=base_url, max_retries=0)
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                stream = await client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True)
                async for _ in stream:
                    pass

        await asyncio.gather(*(one() for _ in range(min(100, streams))))  # warm-up: connections, imports
        if inst.startswith("tracer"):
            import tracer

            tracer.flush()
        lags: list[float] = []
        done = False

        async def ticker() -> None:
            while not done:
                t0 = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append((time.perf_counter() - t0 - 0.01) * 1000)

        tick = asyncio.create_task(ticker())
        t0, c0, l0 = time.perf_counter(), time.process_time(), time.thread_time()
        await asyncio.gather(*(one() for _ in range(streams)))
        wall = time.perf_counter() - t0
        loop_cpu = time.thread_time() - l0
        done = True
        await tick
        if inst.startswith("tracer"):
            import tracer

            tracer.flush()  # what was deferred to export threads is part of the workload's cost
        cpu = time.process_time() - c0
        lags.sort()
        return {"wall_s": wall, "cpu_ms_per_stream": cpu * 1000 / streams, "loop_ms_per_stream": loop_cpu * 1000 / streams,
                "lag_p99_ms": lags[int(len(lags) * 0.99)] if lags else 0.0, "lag_max_ms": lags[-1] if lags else 0.0}

    return asyncio.run(workload())


def _available(inst: str) -> bool:
    import importlib.util

    return inst != "openllmetry" or importlib.util.find_spec("opentelemetry.instrumentation.anthropic") is not None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency-scale", type=float, default=0.05)
    parser.add_argument("--only", action="append", help="configuration names to run besides the bare SDK (substring)")
    parser.add_argument("--child", nargs=4, metavar=("URL", "INST", "STREAMS", "CONCURRENCY"), help=argparse.SUPPRESS)
    parser.add_argument("--store", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, inst, streams, concurrency = args.child
        print(json.dumps(child(url, inst, int(streams), int(concurrency), args.store)))
        return 0

    from tracer.fakeapi import FakeAPI

    configs = {n: c for n, c in CONFIGS.items() if _available(c["inst"])}
    if args.only:
        configs = {n: c for n, c in configs.items() if n == BARE or any(o in n for o in args.only)}
    skipped = sorted(set(CONFIGS) - set(configs))
    results: dict[str, list[dict[str, float]]] = {n: [] for n in configs}
    load_start = os.getloadavg()
    with FakeAPI(seed=0, latency_scale=args.latency_scale) as api, tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for n, (name, cfg) in enumerate(configs.items()):
                env = {**os.environ, "ANTHROPIC_OPEN_TELEMETRY": cfg["native"]}
                store = str(Path(tmp) / f"store-{round_}-{n}")
                cmd = [sys.executable, __file__, "--child", api.base_url, cfg["inst"], str(args.streams),
                       str(args.concurrency), "--store", store]  # fmt: skip
                out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
                if out.returncode != 0:
                    print(f"{name}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                    return 1
                results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"  round {round_ + 1} {name}: {results[name][-1]['wall_s']:.2f} s", file=sys.stderr, flush=True)
    load_end = os.getloadavg()
    print(f"\n{args.streams} streams, {args.concurrency} at a time, latency scale {args.latency_scale}, "
          f"{args.rounds} rounds (load average at start {' '.join(f'{x:.2f}' for x in load_start)}, "
          f"at end {' '.join(f'{x:.2f}' for x in load_end)}, {os.cpu_count()} cores)")  # fmt: skip
    print(f"goal (docs/performance.md): {GOAL}")
    bare = statistics.median(r["wall_s"] for r in results[BARE])
    print(f"{'configuration':34} {'wall s (rounds)':>24} {'added':>8} {'ratio':>6} {'cpu ms/stream':>14} {'loop ms':>8} {'lag p99':>8} {'lag max':>8}")
    for name, runs in results.items():
        wall = statistics.median(r["wall_s"] for r in runs)
        rounds = " ".join(f"{r['wall_s']:.2f}" for r in runs)
        lag99 = statistics.median(r["lag_p99_ms"] for r in runs)
        lagmax = max(r["lag_max_ms"] for r in runs)
        cpu = statistics.median(r["cpu_ms_per_stream"] for r in runs)
        loop = statistics.median(r["loop_ms_per_stream"] for r in runs)
        spread = max(r["wall_s"] for r in runs) - min(r["wall_s"] for r in runs)
        print(f"{name:34} {wall:7.2f} ({rounds:>14}) {wall - bare:+7.2f}s {wall / bare:6.2f} {cpu:14.3f} {loop:8.3f} {lag99:6.1f}ms {lagmax:6.1f}ms  spread {spread:.2f}s")
    if skipped:
        print(f"not installed, skipped: {', '.join(skipped)} (pip install -e '.[bench]')")
    return 0


if __name__ == "__main__":
    sys.exit(main())
