"""The bounds of docs/faults.md, measured: what huge or many tags cost, and how long flush and exit take against
an OTLP endpoint that accepts connections and never answers.

    .venv/bin/python benchmarks/faults.py            # every measurement (a few minutes on 2 busy cores)
    .venv/bin/python benchmarks/faults.py huge       # one part: tags, huge or silent

(a) Tags, per call (median of paired rounds of 50 calls, the real SDK against the fake API, store on): one tag,
    against 5,000 keys (bounded to 64).
(b) Memory: the peak RSS growth of a process making N calls under a tag value of 1 MB or 3 MB, each its own child
    process (a new value each call, as an application building it from a request would).
(c) A silent OTLP endpoint: how long `tracer.flush(timeout_s=1)` takes, and the process's exit after its last
    line, with the default exit deadline.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MESSAGE = [{"role": "user", "content": "Say hello"}]


def tags_per_call(rounds: int = 5, calls: int = 50) -> dict[str, float]:
    import anthropic

    import tracer
    from tracer.fakeapi import FakeAPI

    with FakeAPI(seed=0, latency_scale=0.0) as api, tempfile.TemporaryDirectory() as store:
        tracer.instrument(store=store)
        client = anthropic.Anthropic(api_key="k", base_url=api.base_url)
        many = {f"k{i}": str(i) for i in range(5000)}

        def timed(tags: dict[str, str]) -> float:
            with tracer.tags(**tags):
                started = time.perf_counter()
                for _ in range(calls):
                    client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=MESSAGE)
                return (time.perf_counter() - started) / calls

        timed({"warm": "up"})
        few, lots = [], []
        for _ in range(rounds):
            few.append(timed({"feature": "search"}))
            lots.append(timed(many))
        tracer.uninstrument()
    return {"one_tag_ms": statistics.median(few) * 1e3, "5000_keys_ms": statistics.median(lots) * 1e3}


def _huge_child(base_url: str, store: str, calls: int, value_mb: int) -> None:
    import anthropic

    import tracer

    tracer.instrument(store=store)
    client = anthropic.Anthropic(api_key="k", base_url=base_url)
    for _ in range(50):
        client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=MESSAGE)
    tracer.flush()
    peak, now = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, _rss_mb()
    for i in range(calls):
        with tracer.tags(doc="v" * (value_mb * 1_000_000) + str(i)):
            client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=MESSAGE)
    tracer.flush()
    print(json.dumps({"peak_growth_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - peak,
                      "rss_growth_mb": _rss_mb() - now}))


def _rss_mb() -> float:
    """The resident set now (Linux), in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def huge_values(calls: int = 1000) -> dict[str, float]:
    from tracer.fakeapi import FakeAPI

    out = {}
    with FakeAPI(seed=0, latency_scale=0.0) as api:
        for mb in (1, 3):
            with tempfile.TemporaryDirectory() as store:
                done = subprocess.run([sys.executable, __file__, "--huge-child", api.base_url, store, str(calls), str(mb)],
                                      capture_output=True, text=True, timeout=600, check=True)
                grown = json.loads(done.stdout.splitlines()[-1])
                out[f"{mb}MB_values_{calls}_calls_peak_rss_growth_mb"] = grown["peak_growth_mb"]
                out[f"{mb}MB_values_{calls}_calls_rss_growth_mb"] = grown["rss_growth_mb"]
    return out


SILENT_APP = """
import json, sys, time
import anthropic
import tracer
tracer.instrument(store=sys.argv[2], otlp_endpoint=sys.argv[3], otlp_protocol=sys.argv[4])
client = anthropic.Anthropic(api_key="k", base_url=sys.argv[1])
for _ in range(20):
    client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
started = time.monotonic()
flushed = tracer.flush(timeout_s=1)
print(json.dumps({"flushed": flushed, "flush_s": time.monotonic() - started, "ended_at": time.time()}), flush=True)
"""


def silent_endpoint() -> dict[str, float]:
    from tracer.fakeapi import FakeAPI

    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    out: dict[str, float] = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACER_"))}
    with FakeAPI(seed=0, latency_scale=0.0) as api, tempfile.TemporaryDirectory() as store:
        for protocol in ("http/protobuf", "grpc"):
            done = subprocess.run([sys.executable, "-c", SILENT_APP, api.base_url, store,
                                   f"http://127.0.0.1:{listener.getsockname()[1]}", protocol],
                                  capture_output=True, text=True, timeout=120, env=env, check=True)
            exited = time.time()
            result = json.loads(done.stdout.splitlines()[-1])
            out[f"{protocol}_flush_1s_took_s"] = result["flush_s"]
            out[f"{protocol}_flush_returned"] = result["flushed"]
            out[f"{protocol}_exit_after_last_line_s"] = exited - result["ended_at"]
    listener.close()
    return out


def main() -> None:
    print("load average:", os.getloadavg())
    parts = sys.argv[1:] or ["tags", "huge", "silent"]
    measured = {
        **(tags_per_call() if "tags" in parts else {}),
        **(huge_values() if "huge" in parts else {}),
        **(silent_endpoint() if "silent" in parts else {}),
    }
    for name, value in measured.items():
        print(f"{name}: {value:.2f}" if isinstance(value, float) else f"{name}: {value}")
    print("load average:", os.getloadavg())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--huge-child":
        _huge_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
