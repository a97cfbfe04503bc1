"""`tracer.flush()` says truthfully whether everything went out (issue 19, item 5): a processor's own `force_flush`
says True even when its exporter dropped the batch, so the exporters' drop counts decide."""

from __future__ import annotations

import tracer
from tests.faults.conftest import HELLO, MODEL, sync_client


def test_flush_is_false_when_the_store_could_not_write(tmp_path, fake_api, spans, caplog):
    blocked = tmp_path / "a-file"
    blocked.write_text("")  # the store's directory cannot be made under a file
    tracer.instrument(store=blocked / "store")
    try:
        sync_client(fake_api).messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        assert tracer.flush(timeout_s=10) is False
    finally:
        tracer.uninstrument()


def test_flush_is_true_when_everything_was_written(tmp_path, fake_api, spans):
    tracer.instrument(store=tmp_path / "store")
    try:
        sync_client(fake_api).messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        assert tracer.flush(timeout_s=10) is True
    finally:
        tracer.uninstrument()


def test_uninstrument_leaves_the_applications_own_otlp_exporters_alone(tmp_path, monkeypatch):
    """`uninstrument()` gives up on its own exporters at its deadline; an exporter the application made with
    `tracer.export.otlp_exporters` for its own pipeline goes on exporting."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from tests.export.receivers import RECEIVERS
    from tracer.export import otlp_exporters

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("app").start_span("work").end()
    with RECEIVERS["http/protobuf"]() as receiver:
        own, _ = otlp_exporters(receiver.endpoint, "http/protobuf")
        monkeypatch.setenv("TRACER_EXIT_TIMEOUT_S", "0")  # uninstrument() gives up on its exporters at once
        tracer.instrument(store=tmp_path / "store")
        tracer.uninstrument()
        assert own.export(memory.get_finished_spans()).name == "SUCCESS"
        assert receiver.wait_for(lambda: receiver.spans())
