"""A loopback server that answers the SDK the way a broken or hostile API could: whatever the test scripts.

Not the project's fake API on purpose: the fake API always speaks the Messages API correctly, and this server's job
is to say things the API never should (bodies that are not JSON, usage that is negative or 1e30, junk headers,
streams cut short or made of 100,000 tiny events). Each request takes the next scripted answer; when the script
runs out, the last answer repeats.

    with HostileServer() as server:
        server.script(Answer(body=b"[]"))
        anthropic.Anthropic(api_key="k", base_url=server.base_url, max_retries=0).messages.create(...)
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: a status, headers, and either a body (bytes) or SSE events (already-encoded chunks)."""

    status: int = 200
    headers: Sequence[tuple[str, str]] = ()
    body: bytes | None = None
    events: Sequence[bytes] | None = None  # each sent and flushed as it is, in order
    content_type: str | None = None
    delay_s: float = 0.0  # wait this long before answering (a slow server; a call the application cancels)


def message(usage: Any = None, *, model: str = "claude-haiku-4-5", **extra: Any) -> dict[str, Any]:
    """A Messages API body with `usage` as given (anything: the point is to send what the API would not)."""
    body: dict[str, Any] = {
        "id": "msg_hostile",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "hello"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5} if usage is None else usage,
    }
    body.update(extra)
    return body


def json_answer(body: Any, *, status: int = 200, headers: Sequence[tuple[str, str]] = ()) -> Answer:
    text = json.dumps(body, allow_nan=True).encode() if not isinstance(body, bytes) else body
    return Answer(status=status, headers=headers, body=text, content_type="application/json")


def sse(kind: str, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, allow_nan=True)
    return f"event: {kind}\ndata: {payload}\n\n".encode()


def stream_events(
    usage_start: Any = None,
    usage_end: Any = None,
    *,
    text: Iterable[str] = ("hel", "lo"),
    model: str = "claude-haiku-4-5",
    stop: bool = True,
    delta: bool = True,
) -> list[bytes]:
    """The SSE events of a streamed Message; `stop=False` leaves out `message_stop`, `delta=False` the final
    `message_delta` too (a body that ends early but cleanly)."""
    start = message({"input_tokens": 10, "output_tokens": 1} if usage_start is None else usage_start, model=model)
    start["content"] = []
    start["stop_reason"] = None
    events = [
        sse("message_start", {"type": "message_start", "message": start}),
        sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ]
    events += [
        sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}})
        for t in text
    ]
    events.append(sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    if delta:
        events.append(sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                            "usage": {"output_tokens": 5} if usage_end is None else usage_end}))  # fmt: skip
    if stop:
        events.append(sse("message_stop", {"type": "message_stop"}))
    return events


@dataclass
class _Script:
    answers: list[Answer] = field(default_factory=list)
    served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next(self) -> Answer:
        with self.lock:
            answer = self.answers[min(self.served, len(self.answers) - 1)] if self.answers else json_answer(message())
            self.served += 1
            return answer


class HostileServer:
    """Serves scripted answers on 127.0.0.1 (TCP_NODELAY: no Nagle delay before an event)."""

    def __init__(self) -> None:
        script = self._script = _Script()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with contextlib.suppress(OSError):
                    self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                answer = script.next()
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("request-id", "req_hostile")  # the same in every run: errors compare equal
                if answer.events is not None:
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("connection", "close")
                    self.end_headers()
                    with contextlib.suppress(OSError):
                        for chunk in answer.events:
                            self.wfile.write(chunk)
                        self.wfile.flush()
                    self.close_connection = True
                    return
                body = answer.body or b""
                self.send_header("content-type", answer.content_type or "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="hostile-server", daemon=True)

    def script(self, *answers: Answer) -> None:
        """Answer the next requests with `answers`, in order; the last one repeats."""
        with self._script.lock:
            self._script.answers = list(answers)
            self._script.served = 0

    @property
    def served(self) -> int:
        return self._script.served

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
