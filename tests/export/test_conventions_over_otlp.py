"""The conventions' attributes survive the wire: an instrumented application (a subprocess: `instrument()` registers
global providers) calls the fake API through the real SDK, and a real OTLP receiver decodes what the Collector would
receive with the OTLP protobufs. Array values (`gen_ai.response.finish_reasons`), the HTTP client attributes of
attempts and the GenAI metric attributes arrive as sent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.export.receivers import RECEIVERS
from tracer import semconv

pytest.importorskip("tracer.capture")
pytest.importorskip("tracer.fakeapi")

MODEL = "claude-haiku-4-5"

APP = textwrap.dedent(
    """
    import sys

    import anthropic

    import tracer
    from tracer.fakeapi import FakeAPI

    with FakeAPI(seed=0, latency_scale=0.0) as api:
        tracer.instrument(store=False, otlp_endpoint=sys.argv[1], service_name="conventions")
        client = anthropic.Anthropic(api_key="k", base_url=api.base_url)
        message = client.messages.create(model=MODEL, max_tokens=32, messages=[{"role": "user", "content": "hi"}],
                                         extra_headers={"x-fake-script": "429:1,ok"})
        print(api.base_url, message.stop_reason)
        tracer.flush()
        tracer.uninstrument()
    """
).replace("MODEL", repr(MODEL))


def test_conventions_attributes_decode_from_otlp(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACER_"))}
    env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc"
    with RECEIVERS["grpc"]() as receiver:
        done = subprocess.run([sys.executable, str(script), receiver.endpoint], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        base_url, stop_reason = done.stdout.split()
        base_url = base_url.rstrip("/")
        spans = receiver.wait_for(lambda: len(s := receiver.spans()) >= 3 and s)
        duration = receiver.wait_for_metric(semconv.METRIC_OPERATION_DURATION)
        billed = receiver.wait_for_metric(semconv.METRIC_TOKENS)

    (call,) = [s for s in spans if s.attributes.get(semconv.SPAN_TYPE) == semconv.SPAN_TYPE_CALL]
    assert call.attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == (stop_reason,)
    first, retry = sorted((s for s in spans if s.name == semconv.SPAN_ATTEMPT), key=lambda s: s.start_ns)
    for attempt in (first, retry):
        assert attempt.attributes[semconv.HTTP_REQUEST_METHOD] == "POST"
        assert attempt.attributes[semconv.URL_FULL] == base_url + "/v1/messages"
        assert isinstance(attempt.attributes[semconv.SERVER_PORT], int)
    assert semconv.HTTP_REQUEST_RESEND_COUNT not in first.attributes
    assert retry.attributes[semconv.HTTP_REQUEST_RESEND_COUNT] == 1

    (point,) = [p for m in duration[-1:] for p in m.points]
    assert point.attributes[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert point.attributes[semconv.GEN_AI_REQUEST_MODEL] == MODEL
    assert point.attributes[semconv.SERVER_ADDRESS] == "127.0.0.1"
    kinds = {p.attributes[semconv.TOKEN_KIND] for m in billed[-1:] for p in m.points}
    assert {"input", "output"} <= kinds <= set(semconv.TOKEN_KINDS)
