"""Tags are bounded (issue 19, items 1-3): whatever the application passes to `tracer.tags()`, the call keeps its
own attributes, `tags()` never raises, what is cut is counted on the span and said once, and the process stays
small and alive."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from typing import Any

import tracer
from tests.faults.conftest import HELLO, MODEL, sync_client
from tracer import semconv
from tracer._tags import MAX_KEY_CHARS, MAX_TAGS, MAX_VALUE_CHARS

OWN = (  # what a call span must keep, however many tags there are
    semconv.GEN_AI_REQUEST_MODEL, semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS,
    semconv.COST_USD, semconv.HTTP_RESPONSE_STATUS_CODE, semconv.CALL_ATTEMPTS,
)


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")


def tag_warnings(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tracer" and "tag" in r.getMessage()]


class TestManyTags:
    def test_5000_keys_leave_the_call_its_model_tokens_and_cost_and_warn_once(self, fake_api, instrumented, caplog):
        caplog.set_level(logging.WARNING, logger="tracer")
        client = sync_client(fake_api)
        with tracer.tags(**{f"k{i}": str(i) for i in range(5000)}):
            for _ in range(3):
                client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        calls = instrumented.calls()
        assert len(calls) == 3
        for call in calls:
            attrs = call.attributes
            assert all(name in attrs for name in OWN), [n for n in OWN if n not in attrs]
            assert attrs[semconv.COST_USD] > 0
            kept = [k for k in attrs if k.startswith(semconv.TAG_PREFIX)]
            assert 0 < len(kept) <= MAX_TAGS
            assert len(kept) + attrs[semconv.TAGS_DROPPED] == 5000  # every tag left out is counted
            assert list(kept)[:3] == ["tracer.tag.k0", "tracer.tag.k1", "tracer.tag.k2"]  # the first ones stay
        assert len(tag_warnings(caplog)) <= 2  # one per kind (too many; no room on the span), not one per tag or call

    def test_when_the_span_limit_is_smaller_the_tags_yield_to_the_call(self, fake_api, instrumented, monkeypatch):
        # The call's own attributes fill most of a span whose limit is 48: the tags get what is left.
        from tracer.capture import _calls

        real = _calls.attribute_room
        monkeypatch.setattr(_calls, "attribute_room", lambda span, attrs, extra: min(real(span, attrs, extra) or 0, 48 - len(attrs) - len(extra)))
        with tracer.tags(**{f"k{i}": "v" for i in range(MAX_TAGS)}):
            sync_client(fake_api).messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        attrs = instrumented.call().attributes
        assert all(name in attrs for name in OWN)
        kept = [k for k in attrs if k.startswith(semconv.TAG_PREFIX)]
        assert len(attrs) <= 48
        assert len(kept) + attrs[semconv.TAGS_DROPPED] == MAX_TAGS

    def test_5000_keys_cost_a_call_about_what_a_few_do(self, fake_api, instrumented):
        client = sync_client(fake_api)

        def per_call(tags: dict[str, str]) -> float:
            with tracer.tags(**tags):
                started = time.perf_counter()
                for _ in range(20):
                    client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)
                return (time.perf_counter() - started) / 20

        per_call({"warm": "up"})
        few, many = [], []
        for _ in range(3):  # paired rounds: the machine's load changes between them, not within one
            few.append(per_call({"feature": "search"}))
            many.append(per_call({f"k{i}": str(i) for i in range(5000)}))
        # Before the bound: 44 ms against 4 ms (11x), with thousands of warnings a call. Now the 64 tags kept cost
        # what 64 tags cost (about 2x one tag, most of it storing them), whatever the number of keys passed.
        assert min(many) < 4 * min(few), (few, many)


class TestOddTags:
    def test_a_value_whose_str_raises_never_reaches_the_application(self, fake_api, instrumented, caplog):
        caplog.set_level(logging.WARNING, logger="tracer")
        with tracer.tags(bad=Unprintable(), feature="search"):
            sync_client(fake_api).messages.create(model=MODEL, max_tokens=16, messages=HELLO)
            assert dict(tracer.current_tags()) == {"feature": "search"}
        attrs = instrumented.call().attributes
        assert attrs["tracer.tag.feature"] == "search"
        assert attrs[semconv.TAGS_DROPPED] == 1
        assert "tracer.tag.bad" not in attrs
        assert len(tag_warnings(caplog)) == 1

    def test_long_keys_and_values_are_cut_and_counted(self, fake_api, instrumented):
        with tracer.tags(**{"k" * 1000: "v" * 100_000, "doc": "d" * 5000}):
            sync_client(fake_api).messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        attrs = instrumented.call().attributes
        assert attrs["tracer.tag." + "k" * MAX_KEY_CHARS] == "v" * MAX_VALUE_CHARS
        assert attrs["tracer.tag.doc"] == "d" * MAX_VALUE_CHARS
        assert attrs[semconv.TAGS_TRUNCATED] == 3  # a key and two values
        assert semconv.TAGS_DROPPED not in attrs

    def test_nested_blocks_stay_within_the_count_and_keep_the_outer_tags(self):
        with tracer.tags(**{f"outer{i}": "o" for i in range(MAX_TAGS - 1)}), tracer.tags(outer0="x", a="1", b="2"):
            tags = tracer.current_tags()
            assert len(tags) == MAX_TAGS
            assert tags["outer0"] == "x" and tags["a"] == "1" and "b" not in tags


HUGE = textwrap.dedent(
    """
    import json, resource, sys

    import anthropic

    import tracer

    base_url, store, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    tracer.instrument(store=store)
    client = anthropic.Anthropic(api_key="sk-test", base_url=base_url)
    message = [{"role": "user", "content": "Summarise"}]
    for _ in range(50):
        client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=message)
    tracer.flush()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i in range(calls):
        with tracer.tags(doc=("v" * 3_000_000) + str(i)):  # a new 3 MB value each call
            client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=message)
    tracer.flush()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_growth_mb": (after - before) / 1024}))
    """
)


class TestHugeValues:
    def test_3_mb_values_leave_the_process_alive_and_small(self, tmp_path, fake_api):
        """Before the bound the columnar writer aborted the process (exit 134) after about 1,000 such calls, and 1 MB
        values grew it to 1.4-2.6 GB. The bound: each value is cut to MAX_VALUE_CHARS, so the process grows by the
        store's buffers only."""
        from tracer.read import Store

        script = tmp_path / "app.py"
        script.write_text(HUGE)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACER_"))}
        calls = 100  # enough: 100 values of 3 MB kept would be 300 MB, three times the bound asserted
        done = subprocess.run([sys.executable, str(script), fake_api.base_url, str(tmp_path / "store"), str(calls)],
                              env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr
        growth = json.loads(done.stdout.strip().splitlines()[-1])["peak_growth_mb"]
        assert growth < 100, growth  # 100 values of 3 MB kept would be 300 MB (the old code grew 4.8 GB in 600 calls)
        rows = Store(tmp_path / "store").sql("SELECT tags['doc'] AS doc FROM calls WHERE tags['doc'] IS NOT NULL")
        assert len(rows) == calls
        assert set(rows["doc"].str.len()) == {MAX_VALUE_CHARS}
