"""The fake API answers every malformed request with the API's error shape and the right status, and closes idle
connections (issue 19, item 7). Requests are written on raw sockets: no client would send most of them."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from typing import Any

import anthropic
import pytest

from tracer.fakeapi import FakeAPI

HEAD = "POST /v1/messages HTTP/1.1\r\nhost: x\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"


def exchange(api: FakeAPI, raw: bytes, timeout_s: float = 10.0) -> tuple[int, dict[str, str], bytes, bool]:
    """(status, headers, body, whether the server then closed the connection) for `raw` sent on a new connection."""
    with socket.create_connection((api.host, api.port), timeout=timeout_s) as sock:
        # The server may answer and close before it has read everything (a body it refuses).
        with contextlib.suppress(OSError):
            sock.sendall(raw)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed without an answer after {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        while len(body) < int(headers.get("content-length", "0")):
            body += sock.recv(65536)
        sock.settimeout(0.5)  # a connection the server keeps stays open past this; one it closes is closed by now
        try:
            closed = sock.recv(1) == b""
        except (TimeoutError, ConnectionResetError):
            closed = False
        return status, headers, body, closed


def post(body: bytes, **extra: str) -> bytes:
    headers = {"content-length": str(len(body)), **extra}
    return (HEAD + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() + body


def assert_api_error(answer: tuple[int, dict[str, str], bytes, bool], status: int, error_type: str) -> dict[str, Any]:
    got_status, headers, body, _closed = answer
    assert got_status == status, body
    assert headers["content-type"] == "application/json"
    assert headers["request-id"].startswith("req_")
    doc = json.loads(body)
    assert doc["type"] == "error" and doc["error"]["type"] == error_type and doc["error"]["message"]
    assert doc["request_id"] == headers["request-id"]
    return dict(doc)


@pytest.fixture
def api() -> Any:
    with FakeAPI(seed=0, latency_scale=0.0) as api:
        yield api


class TestMalformedBodies:
    def test_deeply_nested_json_is_a_400_not_a_traceback(self, api):
        answer = exchange(api, post(b"[" * 200_000 + b"]" * 200_000))
        assert_api_error(answer, 400, "invalid_request_error")

    @pytest.mark.parametrize("body", [b"{not json", b'{"model": "\xff\xfe claude"}', b"\x00\x01\x02"], ids=["bad-json", "not-utf8", "binary"])
    def test_a_body_that_is_not_json_is_a_400(self, api, body):
        assert_api_error(exchange(api, post(body)), 400, "invalid_request_error")

    def test_the_connection_serves_the_next_request_after_a_bad_body(self, api):
        # A body the server read whole leaves the connection in a known state: it is kept.
        status, _, _, closed = exchange(api, post(b"{not json"))
        assert status == 400 and not closed


class TestMalformedFraming:
    @pytest.mark.parametrize("length", ["-5", "abc", "1_000", " 12x"])
    def test_a_content_length_that_is_not_a_count_is_a_400_and_closes(self, api, length):
        raw = (HEAD + f"content-length: {length}\r\n\r\n").encode() + b"{}"
        answer = exchange(api, raw)
        assert_api_error(answer, 400, "invalid_request_error")
        assert answer[3]  # closed: the body's end is unknown

    @pytest.mark.parametrize("length", ["99999999999999999999999", str(32 * 1024 * 1024 + 1)])
    def test_an_absurd_content_length_is_a_413_before_any_body_is_read(self, api, length):
        raw = (HEAD + f"content-length: {length}\r\n\r\n").encode()
        started = time.monotonic()
        answer = exchange(api, raw)
        assert_api_error(answer, 413, "request_too_large")
        assert answer[3] and time.monotonic() - started < 5

    def test_a_bad_request_line_a_bad_header_and_a_bad_chunk_are_400s(self, api):
        assert_api_error(exchange(api, b"GARBAGE\r\n\r\n"), 400, "invalid_request_error")
        assert_api_error(exchange(api, (HEAD + "no colon here\r\n\r\n").encode()), 400, "invalid_request_error")
        chunked = (HEAD + "transfer-encoding: chunked\r\n\r\n").encode() + b"zz\r\n{}\r\n0\r\n\r\n"
        assert_api_error(exchange(api, chunked), 400, "invalid_request_error")

    def test_a_head_over_64_kib_is_a_413(self, api):
        raw = (HEAD + "x-big: " + "a" * 70_000 + "\r\n\r\n").encode()
        assert_api_error(exchange(api, raw), 413, "request_too_large")

    def test_a_failing_handler_is_an_api_error_500(self):
        api = FakeAPI(seed=0, latency_scale=0.0)

        def broken(request: Any) -> Any:
            raise RuntimeError("a bug in the fake")

        api._app.handle = broken  # type: ignore[method-assign]
        with api:
            assert_api_error(exchange(api, post(b"{}")), 500, "api_error")


class TestIdleConnections:
    def test_an_idle_connection_is_closed_after_the_timeout(self):
        with FakeAPI(seed=0, latency_scale=0.0, idle_timeout_s=0.3) as api, \
                socket.create_connection((api.host, api.port), timeout=10) as sock:
            started = time.monotonic()
            assert sock.recv(1) == b""  # closed by the server, without a request ever coming
            assert time.monotonic() - started < 5

    def test_a_kept_alive_connection_is_closed_once_idle_and_the_sdk_carries_on(self):
        with FakeAPI(seed=0, latency_scale=0.0, idle_timeout_s=0.3) as api:
            client = anthropic.Anthropic(api_key="k", base_url=api.base_url)
            message = [{"role": "user", "content": "hi"}]
            client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=message)
            time.sleep(0.8)  # the server closes the connection the SDK keeps (its own expiry is 5 s)
            client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=message)
            assert [r.attempt for r in api.requests] == [0, 0]  # no retry: the SDK saw the close and reconnected

    def test_a_stalled_stream_outlasts_the_idle_timeout(self):
        # A stall is the fake's scripted silence; it lasts until the client gives up, not until the idle timeout.
        with FakeAPI(seed=0, latency_scale=0.0, idle_timeout_s=0.2) as api:
            client = anthropic.Anthropic(api_key="k", base_url=api.base_url, max_retries=0, timeout=1.0)
            started = time.monotonic()
            with pytest.raises(anthropic.APITimeoutError):
                client.messages.create(model="claude-haiku-4-5", max_tokens=8, messages=[{"role": "user", "content": "hi"}],
                                       extra_headers={"x-fake-script": "stall:1"})  # not streamed: no answer
            assert time.monotonic() - started >= 0.9
