"""Nothing of ours touches the application's patchable globals.

An application that seeds `random` for reproducible runs, or fakes time in its tests (time-machine, freezegun, a
patched `time.sleep`), must see the same program with and without `tracer.instrument()`: the same sequence from
its seeded `random`, no call of its patched `time.sleep` from a thread it did not start, no exception in any thread.
Each run is a fresh process (its globals are the point), talking over real HTTP to the fake API in this one.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.export.receivers import closed_port
from tracer.fakeapi import FakeAPI, roles

APP = textwrap.dedent(
    """
    import asyncio, json, random, sys, threading, time
    import anthropic

    url, mode, store, model = sys.argv[1:5]
    if mode == "app-provider":  # the application registered its own provider, with OpenTelemetry's id generator
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        trace.set_tracer_provider(TracerProvider())
    if sys.argv[5] == "on":
        import tracer
        # otlp-down: a collector that refuses every connection, so the exporters retry with their jitter
        tracer.instrument(store=store, otlp_endpoint=sys.argv[6] if mode == "otlp-down" else None)

    main = threading.main_thread()
    foreign = []  # (what, thread) for every use of the app's globals from a thread it did not start

    def watch(name, fn):
        def watched(*args, **kwargs):
            # The clock read by `logging` to stamp a record (a warning about a collector that is down) is the
            # standard library's business, not a look-up of ours: it only timestamps.
            if threading.current_thread() is not main and sys._getframe(1).f_globals.get("__name__") != "logging":
                foreign.append((name, threading.current_thread().name))
            return fn(*args, **kwargs)
        return watched

    for name in ("random", "getrandbits", "randrange", "uniform", "choice", "shuffle"):
        setattr(random, name, watch(name, getattr(random, name)))  # module-level look-ups
    for name in ("random", "getrandbits"):  # what the instance's own methods (randrange, uniform...) call
        setattr(random._inst, name, watch(name, getattr(random._inst, name)))
    real_sleep = time.sleep
    def patched_sleep(seconds):
        if threading.current_thread() is not main:
            foreign.append(("time.sleep", threading.current_thread().name))
            raise RuntimeError("the application's patched time.sleep, called from a thread it did not start")
        real_sleep(seconds)
    time.sleep = watch("time.sleep", patched_sleep)
    time.time = watch("time.time", time.time)
    time.monotonic = watch("time.monotonic", time.monotonic)
    crashed = []
    threading.excepthook = lambda args: crashed.append(f"{args.thread.name}: {args.exc_type.__name__}: {args.exc_value}")

    random.seed(20261207)
    drawn = []
    client = anthropic.Anthropic(api_key="test-key", base_url=url, max_retries=2)
    ask = dict(model=model, max_tokens=32, messages=[{"role": "user", "content": "hi"}])
    for i in range(6):
        drawn.append(random.random())
        client.messages.create(**ask)
        with client.messages.stream(**ask) as stream:
            stream.get_final_text()
        client.messages.create(**ask, extra_headers={"x-fake-script": "429:1,529:1,ok"})
        drawn.append(random.getrandbits(32))
        real_sleep(0.06)  # the worker thread runs meanwhile

    async def run_async():
        aclient = anthropic.AsyncAnthropic(api_key="test-key", base_url=url, max_retries=2)
        for _ in range(3):
            drawn.append(random.random())
            await aclient.messages.create(**ask, extra_headers={"x-fake-script": "429:1,ok"})
            async with aclient.messages.stream(**ask) as stream:
                await stream.get_final_text()
        await aclient.close()
    asyncio.run(run_async())
    real_sleep(0.2)
    drawn.append(random.random())
    if sys.argv[5] == "on":
        import tracer
        tracer.flush(2 if mode == "otlp-down" else 10)
    print(json.dumps({"drawn": drawn, "foreign": sorted(set(map(tuple, foreign))), "crashed": crashed}))
    """
)


def run(api: FakeAPI, tmp_path: Path, mode: str, on: bool) -> dict[str, Any]:
    collector = f"http://127.0.0.1:{closed_port()}"
    done = subprocess.run(
        [sys.executable, "-c", APP, api.base_url, mode, str(tmp_path / f"store-{mode}"), roles().cheap,
         "on" if on else "off", collector],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.timeout(600)
# One mode in make test; the other two (each a pair of fresh processes) in make test-world, which .ci/run runs.
@pytest.mark.parametrize(
    "mode", ["tracer-provider", pytest.param("app-provider", marks=pytest.mark.world), pytest.param("otlp-down", marks=pytest.mark.world)]
)
def test_a_seeded_app_draws_the_same_and_its_patched_sleep_is_never_called_by_us(tmp_path: Path, mode: str) -> None:
    """With claude-tracer's own provider (none registered by the app), with the application's own, and with an
    OTLP collector that is down (the exporters' retries and their jitter run on our threads)."""
    with FakeAPI(seed=7, latency_scale=0.0) as api:
        bare = run(api, tmp_path, mode, on=False)
        traced = run(api, tmp_path, mode, on=True)
    assert traced["crashed"] == [] and bare["crashed"] == []
    assert traced["foreign"] == bare["foreign"] == []
    assert traced["drawn"] == bare["drawn"]
