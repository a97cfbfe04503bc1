"""Failure classification and retry-after parsing: the pure core under retry() and CircuitBreaker."""

from __future__ import annotations

import anthropic
import httpx2
import pytest

from tests.resilience._errors import connection_error, status_error, timeout_error
from tracer.resilience import CircuitOpenError, FailureKind, StreamTimeoutError, classify, parse_retry_after


class TestParseRetryAfter:
    def test_retry_after_ms_wins_over_retry_after(self) -> None:
        """retry-after-ms is more precise, so it wins, as in the SDK."""
        assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5

    def test_retry_after_in_seconds_may_be_a_float(self) -> None:
        assert parse_retry_after({"retry-after": "2.5"}) == 2.5

    def test_retry_after_as_an_http_date_is_relative_to_now(self) -> None:
        assert parse_retry_after({"retry-after": "Thu, 01 Jan 1970 00:00:30 GMT"}, now=10.0) == 20.0

    @pytest.mark.parametrize("headers", [{}, {"retry-after": "0"}, {"retry-after": "soon"}, {"retry-after-ms": "-5"}])
    def test_absent_zero_negative_or_unparsable_is_none(self, headers: dict[str, str]) -> None:
        """The SDK ignores retry-after: 0 too and falls back to its backoff."""
        assert parse_retry_after(headers) is None


class TestClassify:
    @pytest.mark.parametrize(
        ("status", "kind"),
        [
            (429, FailureKind.RATE_LIMITED),
            (529, FailureKind.OVERLOADED),
            (500, FailureKind.SERVER_ERROR),
            (503, FailureKind.SERVER_ERROR),
            (408, FailureKind.TIMEOUT),
            (409, FailureKind.SERVER_ERROR),
            (400, FailureKind.CLIENT_ERROR),
            (401, FailureKind.CLIENT_ERROR),
            (404, FailureKind.CLIENT_ERROR),
            (413, FailureKind.CLIENT_ERROR),
        ],
    )
    def test_status_codes(self, status: int, kind: FailureKind) -> None:
        failure = classify(status_error(status))
        assert failure.kind is kind
        assert failure.status == status

    def test_the_sdk_raises_overloaded_error_for_529(self) -> None:
        assert isinstance(status_error(529), anthropic.OverloadedError)

    def test_retry_after_comes_from_the_exceptions_response(self) -> None:
        assert classify(status_error(429, {"retry-after-ms": "250"})).retry_after_s == 0.25

    def test_x_should_retry_is_read(self) -> None:
        assert classify(status_error(500, {"x-should-retry": "false"})).should_retry is False
        assert classify(status_error(400, {"x-should-retry": "true"})).should_retry is True

    def test_connection_errors_and_timeouts(self) -> None:
        assert classify(connection_error()).kind is FailureKind.CONNECTION
        assert classify(timeout_error()).kind is FailureKind.TIMEOUT

    def test_a_stalled_streams_raw_read_timeout_is_a_timeout(self) -> None:
        """The SDK lets httpx2.ReadTimeout escape from a stalled stream, unwrapped."""
        assert classify(httpx2.ReadTimeout("stalled")).kind is FailureKind.TIMEOUT

    def test_a_wrapped_sdk_error_is_found_through_its_cause(self) -> None:
        try:
            try:
                raise status_error(529)
            except anthropic.APIStatusError as exc:
                raise RuntimeError("wrapped") from exc
        except RuntimeError as outer:
            assert classify(outer).kind is FailureKind.OVERLOADED

    def test_a_mid_stream_error_event_classifies_by_its_error_type(self) -> None:
        """An SSE `error` event raises APIStatusError with the stream's status 200; its body says what it was."""
        response = httpx2.Response(200, request=httpx2.Request("POST", "http://x"))
        exc = anthropic.APIStatusError(
            "overloaded", response=response, body={"type": "error", "error": {"type": "overloaded_error"}}
        )
        assert classify(exc).kind is FailureKind.OVERLOADED

    def test_our_own_errors_and_anything_else(self) -> None:
        assert classify(CircuitOpenError("x", 1.0)).kind is FailureKind.CIRCUIT_OPEN
        assert classify(StreamTimeoutError("idle", limit_s=1, elapsed_s=2)).kind is FailureKind.STREAM_TIMEOUT
        assert classify(ValueError("a bug")).kind is FailureKind.OTHER
