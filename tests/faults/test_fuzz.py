"""Hypothesis fuzzers for hostile responses (issue 24, item 7): generated usage, headers and SSE event sequences.

Two levels. The writer's core takes any attribute values and writes rows that every reader decodes whole (many
examples, no I/O beyond one segment each). End to end, generated responses go from `tests.faults.hostile`'s server
through the real SDK, bare and instrumented: the application sees the same, and the store holds the call, readable,
priced right or unpriced (few examples: each one starts and stops `instrument()`).
"""

from __future__ import annotations

import json
import math
from typing import Any

import anthropic
import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracer
from tests import _telemetry
from tests.faults.hostile import Answer, HostileServer, message, sse, stream_events
from tracer import semconv
from tracer.read import Store, store_info
from tracer.read._segments import decode, read_info
from tracer.store._rows import row_tuple_from_span_data
from tracer.store.segments import write_rows

pytestmark = pytest.mark.world  # hundreds of generated responses, each over real HTTP, bare and instrumented

# Numbers a broken or hostile server (or a bug upstream) could put where a count goes.
WILD = st.one_of(
    st.none(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 2**31 - 1, 2**31, 2**63 - 1, 2**63, -1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.booleans(),
)
CALL_NUMBERS = (
    semconv.GEN_AI_USAGE_INPUT_TOKENS, semconv.GEN_AI_USAGE_OUTPUT_TOKENS, semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS, semconv.ANTHROPIC_CACHE_WRITE_1H_TOKENS, semconv.CALL_ATTEMPTS,
    semconv.HTTP_RESPONSE_STATUS_CODE, semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, semconv.USAGE_WEB_SEARCH_REQUESTS,
    semconv.TOOL_USE_COUNT, semconv.HTTP_REQUEST_RESEND_COUNT,
)  # fmt: skip
ATTEMPT_NUMBERS = (
    semconv.ratelimit_attribute("requests", "remaining"), semconv.ratelimit_attribute("input_tokens", "remaining"),
    semconv.ratelimit_attribute("tokens", "limit"), semconv.ATTEMPT_RETRY_AFTER_S, semconv.HTTP_REQUEST_RESEND_COUNT,
)  # fmt: skip
NOW_NS = 1_765_000_000 * 10**9


def spans(kind: str, names: tuple[str, ...]) -> st.SearchStrategy[list[dict[str, Any]]]:
    one = st.fixed_dictionaries({}, optional=dict.fromkeys(names, WILD)).map(lambda a: {semconv.SPAN_TYPE: kind, **a})
    return st.lists(one, min_size=1, max_size=20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=spans(semconv.SPAN_TYPE_CALL, CALL_NUMBERS), attempts=spans(semconv.SPAN_TYPE_ATTEMPT, ATTEMPT_NUMBERS),
       start=st.one_of(st.just(NOW_NS), st.integers(min_value=-(2**80), max_value=2**80)))  # fmt: skip
def test_any_values_make_rows_every_reader_decodes_whole(tmp_path_factory, calls, attempts, start):
    root = tmp_path_factory.mktemp("fuzz")
    con = duckdb.connect()
    for table, attrs_list in (("calls", calls), ("attempts", attempts)):
        rows = []
        for i, attrs in enumerate(attrs_list):
            found = row_tuple_from_span_data(
                attrs, name=semconv.SPAN_MESSAGES_CREATE, trace_id=1, span_id=i + 1, parent_span_id=None,
                start_ns=start, end_ns=start + 10**9,
            )  # fmt: skip
            assert found is not None and found[0] == table
            rows.append(found[1])
        path = write_rows(root, table, rows, "2026-12-06")
        decoded = decode(read_info(path, table), con)
        # Whole: no row left out, nothing read row by row. A value that did not fit was caught by the writer.
        assert (decoded.kept, decoded.salvaged) == (len(rows), False)
        for row in rows:
            for value in row:
                assert not (isinstance(value, float) and not math.isfinite(value))


def _usage_value() -> st.SearchStrategy[Any]:
    return st.one_of(st.integers(min_value=-5, max_value=50), st.sampled_from([10**30, -(10**20), 2**63]),
                     st.floats(allow_nan=True, allow_infinity=True), st.none(), st.text(max_size=3))  # fmt: skip


USAGE = st.fixed_dictionaries(
    {}, optional={"input_tokens": _usage_value(), "output_tokens": _usage_value(), "cache_read_input_tokens": _usage_value()}
)
HEADER = st.one_of(st.integers(min_value=-(10**25), max_value=10**25).map(str), st.sampled_from(["abc", "nan", "inf", "-5", "", "1e400"]))
HEADERS = st.lists(
    st.tuples(st.sampled_from(["anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-input-tokens-remaining",
                               "anthropic-ratelimit-tokens-limit", "retry-after"]), HEADER),
    max_size=4, unique_by=lambda h: h[0],
)  # fmt: skip
EVENTS = st.lists(st.sampled_from(["message_start", "content_block_delta", "message_delta", "message_stop", "ping", "error", "junk"]), max_size=8)


def _events(kinds: list[str], usage: dict[str, Any]) -> list[bytes]:
    start, *_ = stream_events(usage_start=usage)
    out = []
    for kind in kinds:
        if kind == "message_start":
            out.append(start)
        elif kind == "content_block_delta":
            out.append(sse(kind, {"type": kind, "index": 0, "delta": {"type": "text_delta", "text": "x"}}))
        elif kind == "message_delta":
            out.append(sse(kind, {"type": kind, "delta": {"stop_reason": "end_turn"}, "usage": usage}))
        elif kind == "error":
            out.append(sse(kind, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}))
        elif kind == "junk":
            out.append(b"event: message_delta\ndata: {not json\n\n")
        else:
            out.append(sse(kind, {"type": kind}))
    return out


def _outcome(client: anthropic.Anthropic, stream: bool) -> tuple[str, Any]:
    try:
        if stream:
            return "events", [e.to_dict() for e in client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "x"}], stream=True)]
        return "message", client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "x"}]).to_dict()
    except Exception as exc:
        return type(exc).__name__, str(exc)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(usage=USAGE, headers=HEADERS, stream=st.booleans(), kinds=EVENTS)
def test_generated_responses_bare_and_instrumented(tmp_path_factory, usage, headers, stream, kinds):
    if stream:
        answer = Answer(headers=headers, events=_events(kinds, usage))
    else:
        answer = Answer(headers=headers, body=json.dumps(message(usage)).encode(), content_type="application/json")
    store = tmp_path_factory.mktemp("store")
    with HostileServer() as server:
        client = anthropic.Anthropic(api_key="sk-ant-fuzz", base_url=server.base_url, max_retries=0)
        server.script(answer)
        bare = _outcome(client, stream)
        with _telemetry.instrumented(store, metrics=False):
            server.script(answer)
            seen = _outcome(client, stream)
            assert tracer.flush(timeout_s=10) is True
    assert seen == bare
    info = store_info(store)
    assert all(table["unreadable"] == 0 and not table["salvaged"] for table in info.values())
    with Store(store) as db:
        rows = db.rows("SELECT cost_usd, unpriced, unpriced_reason, input_tokens, output_tokens FROM calls")
        assert db.rows("SELECT count(*) FROM attempts") == [(1,)]
    assert len(rows) == 1
    cost, unpriced, reason, input_tokens, output_tokens = rows[0]
    # Cost is right or the call is unpriced: never a cost from a count that is not a whole, non-negative number.
    if cost is not None:
        assert not unpriced and input_tokens is not None and input_tokens >= 0
        assert output_tokens is None or output_tokens >= 0
    if unpriced:
        assert cost is None and reason in ("malformed_usage", "no_usage", "no_price")
