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
(d) A burst (`burst`): 50 threads sharing one client make 20,000 calls, store on, each its own child process: with
    OpenTelemetry's default queue (2,048 spans) and with ours (`SERVER=fast`: against a canned answer from an asyncio
    server in a process of its own, several times the fake API's rate); calls and attempts stored, drops counted by stage,
    what flush() said, peak RSS growth, the deepest the store's queue got (sampled every 5 ms). `NICE=19` runs the
    child at the lowest priority (what a busy host does to it, without loading the host). `TREE=/path/to/checkout` runs the child on another checkout's code (main
    before the drops were counted, say; the queue argument is then not passed).
(e) Memory per queued span (`queue_memory`): a child makes 5,000 calls while the store's exporter is held (every
    span waits in the queue) and again with it free; the RSS difference over the spans that waited.
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


BURST_APP = """
import json, resource, sys, threading, time
import anthropic
import tracer
base_url, store, queue, threads, calls = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
options = {} if queue == "default" else {"span_queue_size": int(queue)}
tracer.instrument(store=store, **options)
client = anthropic.Anthropic(api_key="k", base_url=base_url)
client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
tracer.flush()
start_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
deepest, sampling = [0], threading.Event()
def sample():  # the store processor's queue depth every 5 ms (a benchmark may read OpenTelemetry's privates)
    from tracer.capture import _instrumentor
    queue = _instrumentor._state.processors[-1].inner._batch_processor._queue
    while not sampling.wait(0.005):
        deepest[0] = max(deepest[0], len(queue))
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
barrier = threading.Barrier(threads)
def work():
    barrier.wait()
    for _ in range(calls // threads):
        client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
workers = [threading.Thread(target=work) for _ in range(threads)]
started = time.monotonic()
for w in workers: w.start()
for w in workers: w.join()
burst_s = time.monotonic() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - start_peak
sampling.set()
flushed = tracer.flush(timeout_s=120)
try:
    from tracer import _drops
    dropped = {f"{stage}/{feeds}": n for (stage, feeds), n in _drops.snapshot().items()}
except ImportError:
    dropped = "not counted"
tracer.uninstrument()
print(json.dumps({"flushed": flushed, "dropped": dropped, "peak_rss_growth_mb": peak, "deepest": deepest[0], "burst_s": burst_s}), flush=True)
"""


# A canned Messages API answer from an asyncio server in a process of its own: several times the fake API's rate
# (which does the API's work per call), like the small server of the fault-injection pass that first saw drops.
FAST_SERVER = """
import asyncio, json, sys
BODY = json.dumps({"id": "msg_fast", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
                   "content": [{"type": "text", "text": "hello"}], "stop_reason": "end_turn", "stop_sequence": None,
                   "usage": {"input_tokens": 10, "output_tokens": 5}}).encode()
HEAD = (b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\nrequest-id: req_fast\\r\\ncontent-length: "
        + str(len(BODY)).encode() + b"\\r\\n\\r\\n")
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            writer.write(HEAD + BODY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


class _FastServer:
    def __enter__(self) -> _FastServer:
        self.process = subprocess.Popen([sys.executable, "-c", FAST_SERVER], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.base_url = f"http://127.0.0.1:{int(self.process.stdout.readline())}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(10)


def burst(threads: int = 50, calls: int = 20_000) -> dict[str, object]:
    from tracer.fakeapi import FakeAPI
    from tracer.read import Store

    out: dict[str, object] = {}
    tree = os.environ.get("TREE")
    env = {**os.environ, "PYTHONPATH": tree} if tree else None
    with _FastServer() if os.environ.get("SERVER") == "fast" else FakeAPI(seed=0, latency_scale=0.0) as api:
        for queue in (["default"] if tree else os.environ.get("QUEUES", "2048,default").split(",")):
            with tempfile.TemporaryDirectory() as store:
                nice = ["nice", "-n", os.environ["NICE"]] if os.environ.get("NICE") else []  # starved, as on a loaded host
                done = subprocess.run([*nice, sys.executable, "-c", BURST_APP, api.base_url, store, queue, str(threads), str(calls)],
                                      capture_output=True, text=True, timeout=1800, check=True, env=env)
                got = json.loads(done.stdout.splitlines()[-1])
                stored = Store(store).rows("SELECT (SELECT count(*) FROM calls), (SELECT count(*) FROM attempts)")[0]
                name = f"queue_{queue}" + ("_" + Path(tree).name if tree else "")
                out[f"{name}_calls_stored"] = stored[0] - 1  # less the warm-up call
                out[f"{name}_attempts_stored"] = stored[1] - 1
                out[f"{name}_dropped"] = got["dropped"]
                out[f"{name}_flush"] = got["flushed"]
                out[f"{name}_queue_full_logged"] = "Queue full" in done.stderr
                out[f"{name}_peak_rss_growth_mb"] = got["peak_rss_growth_mb"]
                out[f"{name}_deepest_queue"] = got["deepest"]
                out[f"{name}_spans_per_s"] = round(2 * calls / got["burst_s"])
    return out


QUEUE_MEMORY_APP = """
import gc, json, resource, sys, threading
import anthropic
import tracer
import tracer.store
base_url, store, hold, calls = sys.argv[1], sys.argv[2], sys.argv[3] == "hold", int(sys.argv[4])
gate = threading.Event()
class Held(tracer.store.StoreExporter):
    def export(self, spans):
        gate.wait()
        return super().export(spans)
tracer.store.StoreExporter = Held
tracer.instrument(store=store)
client = anthropic.Anthropic(api_key="k", base_url=base_url)
message = [{"role": "user", "content": "hi"}]
gate.set()
for _ in range(200):
    client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=message)
tracer.flush()
gc.collect()
def rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()
if hold:
    gate.clear()
before = rss()
for _ in range(calls):
    client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=message)
from tracer.capture import _worker
_worker.drain()
gc.collect()
grown = rss() - before
gate.set()
print(json.dumps({"grown_bytes": grown, "flushed": tracer.flush(timeout_s=120)}), flush=True)
"""


def queue_memory(calls: int = 5_000) -> dict[str, float]:
    from tracer.fakeapi import FakeAPI

    grown = {}
    with FakeAPI(seed=0, latency_scale=0.0) as api:
        for mode in ("free", "hold"):
            with tempfile.TemporaryDirectory() as store:
                done = subprocess.run([sys.executable, "-c", QUEUE_MEMORY_APP, api.base_url, store, mode, str(calls)],
                                      capture_output=True, text=True, timeout=1800, check=True)
                grown[mode] = json.loads(done.stdout.splitlines()[-1])["grown_bytes"]
    spans = 2 * calls  # a call span and its attempt's, each call
    return {
        "rss_growth_free_mb": grown["free"] / 2**20,
        "rss_growth_held_mb": grown["hold"] / 2**20,
        "bytes_per_queued_span": (grown["hold"] - grown["free"]) / spans,
    }


def main() -> None:
    print("load average:", os.getloadavg())
    parts = sys.argv[1:] or ["tags", "huge", "silent", "burst", "queue_memory"]
    measured = {
        **(tags_per_call() if "tags" in parts else {}),
        **(huge_values() if "huge" in parts else {}),
        **(silent_endpoint() if "silent" in parts else {}),
        **(burst() if "burst" in parts else {}),
        **(queue_memory() if "queue_memory" in parts else {}),
    }
    for name, value in measured.items():
        print(f"{name}: {value:.2f}" if isinstance(value, float) else f"{name}: {value}")
    print("load average:", os.getloadavg())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--huge-child":
        _huge_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        main()
