"""A streamed attempt still open when recording stops gets its row (issue 19, item 8: a stalled stream near the end
of a busy run sometimes left no attempt). Two ways it was lost, each reproduced deterministically: the body ended
after the worker thread had stopped (its item waited for a thread that was gone), or it had not ended when the
process exited (nothing recorded it)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import tracer
from tests.faults.conftest import HELLO, MODEL, sync_client
from tracer import semconv
from tracer.read import Store


class TestAStreamOpenWhenRecordingStops:
    def test_uninstrument_records_it_as_unfinished_and_only_once(self, fake_api, spans):
        # `spans` is the application's own processor: it outlives uninstrument(). No drain of the worker here: what
        # is recorded must be recorded without one.
        def attempt_spans() -> list:
            return spans.of_type(semconv.SPAN_TYPE_ATTEMPT, drain=False)

        tracer.instrument(store=False)
        try:
            stream = sync_client(fake_api).messages.create(model=MODEL, max_tokens=16, messages=HELLO, stream=True)
        finally:
            tracer.uninstrument()
        (attempt,) = attempt_spans()  # before the fix: none, its item waiting for the stopped worker forever
        assert attempt.attributes[semconv.ERROR_TYPE] == semconv.ERROR_TYPE_UNFINISHED
        assert attempt.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 200
        for _ in stream:  # the body ends later: not recorded a second time
            pass
        stream.close()
        assert len(attempt_spans()) == 1

    def test_a_body_that_ends_after_the_worker_stopped_is_recorded_at_once(self, fake_api, spans):
        from tracer.capture import _attempts, _worker

        tracer.instrument(store=False)
        try:
            stream = sync_client(fake_api).messages.create(model=MODEL, max_tokens=16, messages=HELLO, stream=True)
            _worker.stop()  # what uninstrument() and exit do first; the body is still open
            open_bodies = dict(_attempts._open_bodies)
            assert len(open_bodies) == 1
            for _ in stream:
                pass
            attempts = spans.of_type(semconv.SPAN_TYPE_ATTEMPT, drain=False)
            assert [s.attributes.get(semconv.ERROR_TYPE) for s in attempts] == [None]  # read to the end
        finally:
            tracer.uninstrument()


EXIT_WITH_A_STALL = textwrap.dedent(
    """
    import sys

    import anthropic

    import tracer

    base_url, store = sys.argv[1], sys.argv[2]
    tracer.instrument(store=store)
    client = anthropic.Anthropic(api_key="sk-test", base_url=base_url, max_retries=0, timeout=60)
    client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    stream = client.messages.create(model="claude-haiku-4-5", max_tokens=16, stream=True,
                                    messages=[{"role": "user", "content": "hi"}],
                                    extra_headers={"x-fake-script": "stall:2"})
    next(iter(stream))  # message_start came; then the server goes silent, and the script ends
    print("exiting", flush=True)
    """
)


def test_a_stream_stalled_at_exit_keeps_its_attempt_row(tmp_path, fake_api):
    script = tmp_path / "app.py"
    script.write_text(EXIT_WITH_A_STALL)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACER_"))}
    done = subprocess.run([sys.executable, str(script), fake_api.base_url, str(tmp_path / "store")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = Store(tmp_path / "store").sql(
        "SELECT http_status, coalesce(error_type, '-') AS error_type FROM attempts ORDER BY start_time")
    assert list(zip(rows["http_status"], rows["error_type"], strict=True)) == [(200, "-"), (200, "unfinished")]
