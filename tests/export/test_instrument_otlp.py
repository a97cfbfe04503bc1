"""End to end: `tracer.instrument(otlp_endpoint=...)` in an application process, the real anthropic SDK calling the
fake API over HTTP, and a real OTLP receiver (gRPC and HTTP) in the test process reading what went over the wire.

The application runs in a subprocess because `instrument()` registers global OpenTelemetry providers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.export.receivers import RECEIVERS
from tracer import semconv
from tracer.fakeapi import roles

pytest.importorskip("tracer.capture")
pytest.importorskip("tracer.fakeapi")

MODEL = roles().workhorse

APP = textwrap.dedent(
    """
    import sys

    import anthropic

    import tracer
    from tracer.fakeapi import FakeAPI

    endpoint, store = sys.argv[1], sys.argv[2]
    with FakeAPI(seed=0, latency_scale=0.0) as api:
        tracer.instrument(store=store, otlp_endpoint=endpoint, service_name="otlp-e2e")
        client = anthropic.Anthropic(api_key="k", base_url=api.base_url)
        message = {"role": "user", "content": "Say hello"}
        # One 429 (retry-after 10 ms), then the SDK's retry succeeds: one call, two attempts.
        client.messages.create(model=MODEL, max_tokens=64, messages=[message], extra_headers={"x-fake-script": "429:10,ok"})
        with client.messages.stream(model=MODEL, max_tokens=64, messages=[message]) as stream:
            stream.get_final_message()
        flushed = tracer.flush()
        tracer.uninstrument()
    print("flushed" if flushed else "not flushed")
    """
).replace("MODEL", repr(MODEL))


@pytest.mark.parametrize("protocol", list(RECEIVERS))
def test_an_instrumented_app_sends_call_and_attempt_spans_and_metrics_over_otlp(protocol, tmp_path):
    script = tmp_path / "app.py"
    script.write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACER_"))}
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = protocol
    with RECEIVERS[protocol]() as receiver:
        done = subprocess.run(
            [sys.executable, str(script), receiver.endpoint, str(tmp_path / "store")],
            env=env, capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "flushed", done.stderr
        assert "cannot export" not in done.stderr
        spans = receiver.wait_for(lambda: len(s := receiver.spans()) >= 5 and s)
        duration = receiver.wait_for_metric(semconv.METRIC_OPERATION_DURATION)
        attempts_metric = receiver.wait_for_metric(semconv.METRIC_ATTEMPTS)

    calls = [s for s in spans if s.name == semconv.SPAN_MESSAGES_CREATE]
    assert len(calls) == 2  # exactly one call span per API call
    for call in calls:
        assert call.attributes[semconv.SPAN_TYPE] == semconv.SPAN_TYPE_CALL
        assert call.attributes[semconv.GEN_AI_REQUEST_MODEL] == MODEL
        assert call.resource[semconv.SERVICE_NAME] == "otlp-e2e"
    attempts = {c.span_id: [s for s in spans if s.parent_span_id == c.span_id and s.name == semconv.SPAN_ATTEMPT] for c in calls}
    assert sorted(len(a) for a in attempts.values()) == [1, 2]
    retried = next(a for a in attempts.values() if len(a) == 2)
    retried.sort(key=lambda s: s.start_ns)
    assert [s.attributes[semconv.SPAN_TYPE] for s in retried] == [semconv.SPAN_TYPE_ATTEMPT] * 2
    assert [s.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] for s in retried] == [429, 200]
    assert {s.trace_id for a in attempts.values() for s in a} == {c.trace_id for c in calls}

    points = [p for m in duration for p in m.points]
    assert points and all(p.attributes[semconv.GEN_AI_REQUEST_MODEL] == MODEL for p in points)
    assert max(p.count for p in points) == 2
    counted = {}
    for point in attempts_metric[-1].points:
        status = point.attributes.get(semconv.HTTP_RESPONSE_STATUS_CODE)
        counted[status] = counted.get(status, 0) + point.value
    assert counted == {429: 1, 200: 2}

    # The store, written at the same time, holds the very spans that went over the wire.
    from tracer.read import Store

    with Store(tmp_path / "store") as store:
        stored = set(store.rows("SELECT span_id FROM calls"))
    assert stored == {(c.span_id,) for c in calls}
