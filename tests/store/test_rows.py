"""The pure mapping from span attributes (tracer/semconv.py) to store rows: no I/O, no SDK."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import ClassVar

import pytest

from tracer import semconv
from tracer.store import classify, row_from_span_data

IDS = {"trace_id": 0xABC, "span_id": 0x12, "parent_span_id": None, "start_ns": 1_764_000_000_000_000_000, "end_ns": 1_764_000_001_500_000_000}


def call(attrs: dict, **kw) -> dict:
    result = row_from_span_data({semconv.SPAN_TYPE: semconv.SPAN_TYPE_CALL, **attrs}, name=semconv.SPAN_MESSAGES_CREATE, **{**IDS, **kw})
    assert result is not None and result[0] == "calls"
    return result[1]


class TestClassify:
    def test_the_span_type_attribute_decides(self):
        assert classify({semconv.SPAN_TYPE: "call"}) == "calls"
        assert classify({semconv.SPAN_TYPE: "attempt"}) == "attempts"
        assert classify({semconv.SPAN_TYPE: "event"}) == "events"

    def test_an_unclassified_span_is_a_call_only_when_it_is_the_sdks_call_span(self):
        assert classify({}, semconv.SPAN_MESSAGES_CREATE) == "calls"
        assert classify({semconv.HTTP_REQUEST_METHOD: "POST"}, "anthropic.models.list", semconv.ANTHROPIC_SCOPE) == "calls"
        # The SDK's tool-runner and tool spans are not calls: they go to the `spans` table with their trace.
        assert classify({"gen_ai.operation.name": "invoke_agent"}, "anthropic.messages.tool_runner", semconv.ANTHROPIC_SCOPE) is None
        assert classify({}, "GET /health") is None
        assert classify({semconv.SPAN_TYPE: "something-new"}, semconv.SPAN_MESSAGES_CREATE) is None


class TestCallRow:
    def test_ids_are_hex_and_times_are_microseconds_and_milliseconds(self):
        row = call({})
        assert row["trace_id"] == "00000000000000000000000000000abc"
        assert row["span_id"] == "0000000000000012"
        assert row["start_time"] == 1_764_000_000_000_000
        assert row["duration_ms"] == pytest.approx(1500.0)

    def test_input_tokens_are_the_uncached_ones(self):
        semconv_total = {semconv.GEN_AI_USAGE_INPUT_TOKENS: 1300, semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 200, semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 100}
        assert call(semconv_total)["input_tokens"] == 1000
        assert call({**semconv_total, semconv.USAGE_UNCACHED_INPUT_TOKENS: 999})["input_tokens"] == 999
        assert call({})["input_tokens"] is None

    def test_attempts_come_from_the_call_attribute_else_the_resend_count(self):
        assert call({semconv.CALL_ATTEMPTS: 4, semconv.HTTP_REQUEST_RESEND_COUNT: 1})["attempts"] == 4
        assert call({semconv.HTTP_REQUEST_RESEND_COUNT: 2})["attempts"] == 3
        assert call({})["attempts"] == 1

    def test_cost_is_the_exact_decimal_and_null_when_unpriced(self):
        assert call({semconv.COST_USD_EXACT: "0.000123456789012345", semconv.COST_USD: 0.0001})["cost_usd"] == Decimal("0.000123456789")
        assert call({semconv.COST_USD_EXACT: "0", semconv.COST_UNPRICED: True})["cost_usd"] is None
        assert call({semconv.COST_UNPRICED: True})["unpriced"] is True
        assert call({semconv.COST_USD: 0.5})["cost_usd"] == Decimal("0.5")
        assert call({})["cost_usd"] is None

    def test_status_is_error_when_the_span_failed_or_names_an_error_type(self):
        assert call({})["status"] == "ok"
        assert call({}, error=True)["status"] == "error"
        row = call({semconv.ERROR_TYPE: "timeout"})
        assert (row["status"], row["error_type"]) == ("error", "timeout")

    def test_time_to_first_token_in_ms_from_either_attribute(self):
        assert call({semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: 0.25})["ttft_ms"] == pytest.approx(250.0)
        assert call({semconv.CALL_TTFT_S: 0.5})["ttft_ms"] == pytest.approx(500.0)
        assert call({})["ttft_ms"] is None

    def test_tags_service_model_and_streaming(self):
        row = call(
            {semconv.TAG_PREFIX + "feature": "search", semconv.TAG_PREFIX + "customer": "acme", semconv.GEN_AI_REQUEST_MODEL: "claude-haiku-4-5", semconv.GEN_AI_REQUEST_STREAM: True},
            service_name="api",
        )
        assert dict(row["tags"]) == {"feature": "search", "customer": "acme"}
        assert (row["service_name"], row["model"], row["streaming"]) == ("api", "claude-haiku-4-5", True)
        assert call({})["tags"] is None

    def test_odd_attribute_values_do_not_raise(self):
        """A value of the wrong type is stored as NULL and named in `damaged_fields` (issue 24)."""
        row = call({semconv.GEN_AI_USAGE_OUTPUT_TOKENS: "many", semconv.COST_USD_EXACT: "n/a", semconv.CALL_ATTEMPTS: True})
        assert (row["output_tokens"], row["cost_usd"], row["attempts"]) == (None, None, None)
        assert row["damaged_fields"] == "attempts,output_tokens"


class TestAttemptAndEventRows:
    def test_attempt_row_points_at_its_call(self):
        table, row = row_from_span_data(
            {
                semconv.SPAN_TYPE: semconv.SPAN_TYPE_ATTEMPT,
                semconv.HTTP_REQUEST_RESEND_COUNT: 2,
                semconv.HTTP_RESPONSE_STATUS_CODE: 429,
                semconv.ERROR_TYPE: "429",
                semconv.ATTEMPT_RETRY_AFTER_S: 1.5,
                semconv.ratelimit_attribute("requests", "remaining"): 0,
                semconv.ratelimit_attribute("tokens", "remaining"): 12000,
                semconv.ANTHROPIC_REQUEST_ID: "req_1",
            },
            name=semconv.SPAN_ATTEMPT,
            **{**IDS, "parent_span_id": 0x99},
        )
        assert table == "attempts"
        assert row["call_span_id"] == "0000000000000099"
        assert (row["attempt"], row["http_status"], row["error_type"], row["retry_after_s"]) == (2, 429, "429", 1.5)
        assert (row["ratelimit_requests_remaining"], row["ratelimit_tokens_remaining"], row["request_id"]) == (0, 12000, "req_1")

    def test_event_row(self):
        table, row = row_from_span_data(
            {
                semconv.SPAN_TYPE: semconv.SPAN_TYPE_EVENT,
                semconv.EVENT_KIND: semconv.EVENT_KIND_BREAKER_TRANSITION,
                semconv.EVENT_NAME: "claude-opus-4-5",
                semconv.EVENT_FROM_STATE: "closed",
                semconv.EVENT_TO_STATE: "open",
                semconv.EVENT_REASON: "5 failures",
                semconv.EVENT_ATTRIBUTE_PREFIX + "failures": 5,
            },
            name="tracer.event.breaker_transition",
            **IDS,
        )
        assert table == "events"
        assert (row["kind"], row["name"], row["from_state"], row["to_state"], row["reason"]) == ("breaker_transition", "claude-opus-4-5", "closed", "open", "5 failures")
        assert row["attributes"] == (("failures", "5"),)
        assert row["time"] == IDS["start_ns"] // 1000


class TestRowSegmentEncoding:
    """The row segment's two encoders (msgspec's, the standard library's) behind `encode_rows(encoder=...)`."""

    ROWS: ClassVar[list[tuple[object, ...]]] = [
        ("0" * 32, 1, 2.5, -0.0, 1e-300, True, None, Decimal("0.010500000000"), (("k", "v"), ("é", 'q"\n\\')), "ünï ✓"),
        ("b", 10**18, 0.1, 0.0, 1.5e300, False, None, Decimal("1E-12"), (), ""),
    ]

    @staticmethod
    def values(body: bytes) -> list[list[object]]:
        return [json.loads(line) for line in body.decode("utf-8").splitlines()]

    def test_both_encoders_write_the_same_values(self):
        """Every kind of value a checked row holds: ids, ints, finite floats, booleans, None, an exact Decimal cost
        (as its string), tags as tuples of pairs, and text that JSON must escape."""
        from tracer.store.segments import ENCODERS, encode_rows

        bodies = {name: encode_rows(self.ROWS, encoder=name) for name in ENCODERS}
        first, *rest = (self.values(b) for b in bodies.values())
        for other in rest:
            assert other == first
        assert first[0][7] == "0.010500000000" and first[0][8] == [["k", "v"], ["é", 'q"\n\\']]
        assert all(b.count(b"\n") == 2 and b.endswith(b"\n") for b in bodies.values())

    def test_a_string_msgspec_cannot_encode_goes_through_the_standard_library(self):
        """A lone surrogate has no UTF-8: the body is still written, escaped, never lost."""
        from tracer.store.segments import encode_rows

        body = encode_rows([("a\ud800b", 1)])
        assert json.loads(body) == ["a\ud800b", 1]


class TestEveryValueAgainstItsColumn:
    """Issue 24: a value its column cannot hold is stored as NULL and named in `damaged_fields`; the row is kept."""

    def test_an_ordinary_row_is_not_damaged(self):
        row = call({semconv.GEN_AI_USAGE_INPUT_TOKENS: 10, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 5, semconv.COST_USD_EXACT: "0.000035"})
        assert (row["input_tokens"], row["output_tokens"], row["damaged_fields"], row["unpriced_reason"]) == (10, 5, None, None)

    @pytest.mark.parametrize("value", [10**30, 2**63, -10, 10.5, "ten", float("nan"), float("inf"), True])
    def test_a_count_that_does_not_fit_is_null_and_named(self, value):
        row = call({semconv.GEN_AI_USAGE_INPUT_TOKENS: 10, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: value, semconv.COST_USD_EXACT: "0.1"})
        assert row["output_tokens"] is None
        assert row["damaged_fields"] == "output_tokens"
        assert row["input_tokens"] == 10  # the rest of the row is kept
        # Damaged usage cannot be priced: unpriced, never a cost from what is left.
        assert (row["cost_usd"], row["unpriced"], row["unpriced_reason"]) == (None, True, "malformed_usage")

    def test_a_negative_total_input_is_damaged_not_clamped_to_zero(self):
        row = call({semconv.GEN_AI_USAGE_INPUT_TOKENS: -10, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 5})
        assert (row["input_tokens"], row["damaged_fields"], row["unpriced_reason"]) == (None, "input_tokens", "malformed_usage")

    def test_an_integer_column_holds_at_most_2_to_the_31(self):
        row = call({semconv.CALL_ATTEMPTS: 2**31})
        assert (row["attempts"], row["damaged_fields"]) == (None, "attempts")

    def test_doubles_must_be_finite_and_only_a_duration_may_be_negative(self):
        row = call({semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: -0.5}, end_ns=IDS["start_ns"] - 1_000_000)
        assert (row["ttft_ms"], row["duration_ms"], row["damaged_fields"]) == (None, -1.0, "ttft_ms")
        assert call({semconv.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: float("nan")})["damaged_fields"] == "ttft_ms"

    def test_a_time_outside_years_1_to_9999_is_null(self):
        row = call({}, start_ns=10**25, end_ns=10**25 + 1)
        assert (row["start_time"], row["damaged_fields"]) == (None, "start_time")

    def test_attempt_headers_out_of_range(self):
        table, row = row_from_span_data(
            {
                semconv.SPAN_TYPE: semconv.SPAN_TYPE_ATTEMPT,
                semconv.ratelimit_attribute("input_tokens", "remaining"): 99999999999999999999999,
                semconv.ATTEMPT_RETRY_AFTER_S: float("inf"),
                semconv.ratelimit_attribute("requests", "remaining"): 41,
            },
            name=semconv.SPAN_ATTEMPT, **IDS,
        )  # fmt: skip
        assert table == "attempts"
        assert (row["ratelimit_input_tokens_remaining"], row["retry_after_s"], row["ratelimit_requests_remaining"]) == (None, None, 41)
        assert row["damaged_fields"] == "retry_after_s,ratelimit_input_tokens_remaining"


class TestUnpricedReason:
    def test_no_price(self):
        row = call({semconv.GEN_AI_USAGE_INPUT_TOKENS: 10, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 5, semconv.COST_UNPRICED: True})
        assert (row["unpriced"], row["unpriced_reason"]) == (True, "no_price")

    def test_an_ok_chat_call_with_no_usage_is_unpriced_not_free(self):
        assert (call({})["unpriced"], call({})["unpriced_reason"]) == (True, "no_usage")

    def test_output_without_input_is_malformed(self):
        row = call({semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 5})
        assert (row["unpriced"], row["unpriced_reason"]) == (True, "malformed_usage")

    def test_a_stream_closed_early_has_no_output_and_keeps_its_cost(self):
        row = call({semconv.GEN_AI_USAGE_INPUT_TOKENS: 10, semconv.CALL_STREAMING: True, semconv.COST_USD_EXACT: "0.00001"})
        assert (row["cost_usd"], row["unpriced"], row["unpriced_reason"]) == (Decimal("0.00001"), False, None)

    def test_failed_calls_and_token_counts_are_not_billed_so_not_unpriced(self):
        assert call({}, error=True)["unpriced"] is False
        row = call({semconv.GEN_AI_OPERATION_NAME: "count_tokens", semconv.GEN_AI_USAGE_INPUT_TOKENS: 10})
        assert (row["unpriced"], row["unpriced_reason"]) == (False, None)


class TestFromFinishedSpans:
    def test_a_trace_with_a_call_keeps_its_other_spans_as_rows(self):
        """Finished SDK spans through `row_tuples_from_spans`: the call's row, and the application's span around
        it as a `spans` row (its trace has a call), each checked with nothing damaged."""
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        from tracer.store._rows import COLUMNS, DAMAGED_AT, TraceKeeper, row_tuples_from_spans

        memory = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(memory))
        tracer = provider.get_tracer("app")
        with (
            tracer.start_as_current_span("handler", attributes={"http.route": "/ask"}),
            tracer.start_as_current_span(semconv.SPAN_MESSAGES_CREATE, attributes={semconv.SPAN_TYPE: semconv.SPAN_TYPE_CALL}),
        ):
            pass
        damaged: dict[str, int] = {}
        rows = row_tuples_from_spans(memory.get_finished_spans(), TraceKeeper(), damaged)
        assert (len(rows["calls"]), len(rows["spans"]), damaged) == (1, 1, {})
        span = dict(zip(COLUMNS["spans"], rows["spans"][0], strict=True))
        assert (span["name"], span["attributes"], rows["spans"][0][DAMAGED_AT["spans"]]) == ("handler", (("http.route", "/ask"),), None)
