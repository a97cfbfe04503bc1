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
