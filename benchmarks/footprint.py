"""What claude-tracer costs a service besides time per call: memory, `instrument()` time and `import tracer` time,
side by side with OpenLLMetry exporting over OTLP, in one run.

    .venv/bin/python benchmarks/footprint.py [--calls 10000] [--repeats 5]     (peer: pip install -e '.[bench]')

The fake API (latency scale 0) and a loopback OTLP/HTTP receiver (answers 200 to every export, keeps nothing)
serve from this process. Every measurement runs in a fresh child process:

- memory: each configuration imports the SDK, builds a client, instruments (or not), makes `--calls` calls
  (every tenth streamed), flushes, collects garbage, and reports its RSS and USS (private memory, from
  /proc/self/smaps_rollup). Printed: each configuration's, and what it adds over the bare SDK process that made
  the same calls. claude-tracer runs with its default store (./.tracer in a temporary directory), the SDK's
  native call spans on (its default once a tracer provider exists); OpenLLMetry with a BatchSpanProcessor and
  the OTLP/HTTP span exporter pointed at the receiver (batches of 64, every 100 ms, so the queue never backs up).
- `instrument()`: the time of `tracer.instrument()` (default store) in a process that has imported anthropic and
  tracer, and of the peer's set-up (provider, OTLP exporter, `AnthropicInstrumentor().instrument()`); median of
  `--repeats` processes.
- `import tracer`: after `import anthropic`; median of `--repeats` processes.

Every module the children load is byte-compiled first, ours and our dependencies' and the peer's, as `pip install`
does: a checkout run with PYTHONDONTWRITEBYTECODE=1 (and a venv that uv filled, which it does not byte-compile by
default) otherwise compiles them from source in every child. That is not what a service pays: it had made
`instrument()` read 167 ms against 385 ms for the peer on 2026-12-08 (OpenTelemetry's SDK, its instrumentation
package and genai-prices compiled each time).

Goals (issue 14): memory added no more than the peer's; `instrument()` <= 150 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CONFIGS = {
    "bare SDK": "bare",
    "claude-tracer (default store)": "tracer",
    "OpenLLMetry + OTLP/HTTP": "openllmetry",
}
MODEL = "claude-haiku-4-5"
INSTRUMENT_GOAL_MS = 150.0


# -- children ---------------------------------------------------------------------------------------------------


def _memory() -> dict[str, float]:
    """RSS and USS of this process in MiB (Linux: smaps_rollup; elsewhere the peak RSS only)."""
    try:
        fields = {}
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                    fields[parts[0][:-1]] = int(parts[1])
        return {"rss": fields["Rss"] / 1024, "uss": (fields["Private_Clean"] + fields["Private_Dirty"]) / 1024}
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {"rss": peak, "uss": float("nan")}


def _peer_setup(otlp: str) -> Any:
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp + "/v1/traces"), max_export_batch_size=64, schedule_delay_millis=100)
    )
    trace.set_tracer_provider(provider)
    AnthropicInstrumentor().instrument()
    return provider


def child_memory(inst: str, base_url: str, otlp: str, calls: int) -> dict[str, float]:
    import gc

    import anthropic

    provider = None
    if inst == "tracer":
        import tracer

        tracer.instrument()
    elif inst == "openllmetry":
        provider = _peer_setup(otlp)
    client = anthropic.Anthropic(api_key="bench-key", base_url=base_url, max_retries=0)
    ask: dict[str, Any] = {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "Say hello."}]}
    for i in range(calls):
        if i % 10 == 9:
            with client.messages.stream(**ask) as stream:
                stream.get_final_message()
        else:
            client.messages.create(**ask)
    if inst == "tracer":
        import tracer

        tracer.flush()
    elif provider is not None:
        provider.force_flush()
    gc.collect()
    modules = sorted(m for m in ("pandas", "pyarrow", "duckdb", "numpy", "grpc") if m in sys.modules)
    return {**_memory(), "heavy": modules}  # type: ignore[dict-item]


def child_instrument(inst: str, otlp: str) -> dict[str, float]:
    import time

    import anthropic  # noqa: F401  (what the service has already imported)

    if inst == "tracer":
        import tracer

        t0 = time.perf_counter()
        tracer.instrument()
    else:
        t0 = time.perf_counter()
        _peer_setup(otlp)
    return {"ms": (time.perf_counter() - t0) * 1000}


def child_modules(otlp: str) -> dict[str, Any]:
    """The source files of every module that the measured children load (both set-ups, so one process has all)."""
    import anthropic  # noqa: F401

    import tracer

    tracer.instrument(store=False)
    _peer_setup(otlp)
    files = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    return {"files": sorted(f for f in files if isinstance(f, str) and f.endswith(".py"))}


def _byte_compile(files: list[str]) -> int:
    """Write each file's bytecode where imports look for it (what a wheel's install does); the number written."""
    import py_compile

    written = 0
    for path in files:
        try:
            py_compile.compile(path, doraise=True)
            written += 1
        except (OSError, py_compile.PyCompileError):
            continue  # a read-only site-packages: that module compiles in each child, as before
    return written


def child_import() -> dict[str, float]:
    import time

    import anthropic  # noqa: F401

    t0 = time.perf_counter()
    import tracer  # noqa: F401

    return {"ms": (time.perf_counter() - t0) * 1000}


# -- parent -----------------------------------------------------------------------------------------------------


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _run(args: list[str], cwd: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACER_", "OTEL_"))}
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5, help="processes per timing (median)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "memory":
            result = child_memory(rest[0], rest[1], rest[2], int(rest[3]))
        elif kind == "instrument":
            result = child_instrument(rest[0], rest[1])
        elif kind == "modules":
            result = child_modules(rest[0])
        else:
            result = child_import()
        print(json.dumps(result))
        return 0

    from tracer.fakeapi import FakeAPI

    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    otlp = f"http://127.0.0.1:{sink.server_address[1]}"
    print(f"claude-tracer footprint; {os.cpu_count()} CPUs; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        files = _run(["modules", otlp], tmp)["files"]
    print(f"byte-compiled {_byte_compile(files)} of the {len(files)} modules the children load")
    with FakeAPI(seed=0, latency_scale=0.0) as api, tempfile.TemporaryDirectory() as tmp:
        memory = {}
        for name, inst in CONFIGS.items():
            cwd = Path(tmp) / inst
            cwd.mkdir()
            memory[name] = _run(["memory", inst, api.base_url, otlp, str(args.calls)], str(cwd))
        timings: dict[str, list[float]] = {"import tracer": [], "instrument() claude-tracer": [], "instrument() OpenLLMetry": []}
        for i in range(args.repeats):  # interleaved, so that the machine's drift hits all alike
            cwd = Path(tmp) / f"t{i}"
            cwd.mkdir()
            timings["import tracer"].append(_run(["import"], str(cwd))["ms"])
            timings["instrument() claude-tracer"].append(_run(["instrument", "tracer", otlp], str(cwd))["ms"])
            timings["instrument() OpenLLMetry"].append(_run(["instrument", "openllmetry", otlp], str(cwd))["ms"])
    sink.shutdown()

    bare = memory["bare SDK"]
    print(f"\nmemory after {args.calls:,} calls (every tenth streamed), MiB; added = over the bare SDK process")
    print(f"  {'configuration':32} {'RSS':>8} {'USS':>8} {'+RSS':>8} {'+USS':>8}  heavy modules loaded")
    for name, m in memory.items():
        added = "" if m is bare else f"{m['rss'] - bare['rss']:8.1f} {m['uss'] - bare['uss']:8.1f}"
        print(f"  {name:32} {m['rss']:8.1f} {m['uss']:8.1f} {added:>17}  {', '.join(m['heavy']) or '-'}")
    ours = memory["claude-tracer (default store)"]
    peer = memory["OpenLLMetry + OTLP/HTTP"]
    verdict = "met" if ours["uss"] - bare["uss"] <= peer["uss"] - bare["uss"] else "MISSED"
    print(f"  goal: added USS no more than the peer's -> {verdict}")
    print(f"\ntimes, ms (median of {args.repeats} fresh processes; all runs)")
    for name, values in timings.items():
        print(f"  {name:28} {statistics.median(values):7.1f}   {', '.join(f'{v:.0f}' for v in values)}")
    ours_ms = statistics.median(timings["instrument() claude-tracer"])
    print(f"  goal: instrument() <= {INSTRUMENT_GOAL_MS:.0f} ms -> {'met' if ours_ms <= INSTRUMENT_GOAL_MS else 'MISSED'}")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
