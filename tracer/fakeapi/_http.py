"""A small HTTP/1.1 server: one thread per connection, keep-alive, TCP_NODELAY, Content-Length or chunked bodies.

Hand-written rather than `http.server` because the fake API sits under benchmarks that measure microseconds: a
request is read with a few `recv` calls and answered with one `sendall`. The SDK keeps connections alive, so a
thread per connection is a thread per client connection, not per request. TCP_NODELAY matters: without it Nagle's
algorithm holds back small writes (the first SSE events) for about 45 ms.

The handler returns a `Reply` that says what to send and how the exchange ends: answered (and kept alive), a stream
of events with pauses that ends, stalls or breaks off, a dropped connection, or silence.

Malformed requests never reach the handler and never go unanswered: a bad request line, header or chunk size, or a
`content-length` that is not a non-negative integer is a 400; a head over 64 KiB or a body over `max_body_bytes` (or
announcing one) is a 413; a handler that raises is a 500. Each is answered through `error_reply` (the fake API
shapes them like the API's errors) and the connection is then closed, since what follows on it cannot be trusted.
A connection idle for `idle_timeout_s` (waiting for a request, or in the middle of sending one) is closed.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

log = logging.getLogger(__name__)

_MAX_HEAD = 64 * 1024
_REASONS = {s.value: s.phrase for s in HTTPStatus} | {529: "Overloaded"}


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes


@dataclass(slots=True)
class Reply:
    """What to do with one request.

    mode "full" sends status, headers and body (after `delay_s`); "stream" sends status and headers, then `items`
    (bytes are body data, floats are pauses in seconds) as a chunked body, and then ends it (`then` = "end"), goes
    silent until the client leaves ("stall") or closes the connection mid-body ("drop"); "drop" closes the
    connection without answering; "stall" never answers.
    """

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    mode: str = "full"
    delay_s: float = 0.0
    items: list[bytes | float] = field(default_factory=list)
    then: str = "end"
    close: bool = False  # close the connection after answering


Handler = Callable[[HttpRequest], Reply]
ErrorReply = Callable[[int, str], Reply]  # (status, message) -> the reply for a request that cannot be served

DEFAULT_IDLE_TIMEOUT_S = 60.0  # well past the SDK's keep-alive expiry (httpx2: 5 s), so the client lets go first
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024  # the API's limit for its standard endpoints


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def plain_error(status: int, message: str) -> Reply:
    """A plain-text error reply that closes the connection (the default `error_reply`)."""
    return Reply(status, [("content-type", "text/plain")], message.encode(), close=True)


class HttpServer:
    """Serves `handler` on host:port (0 picks a free port) from background threads until `stop()`."""

    def __init__(
        self,
        handler: Handler,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        error_reply: ErrorReply = plain_error,
        idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S,
        max_body_bytes: Callable[[str], int] = lambda path: DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._handler = handler
        self._error_reply = error_reply
        self._idle_timeout_s = idle_timeout_s
        self._max_body_bytes = max_body_bytes
        self._listener = socket.create_server((host, port), backlog=1024)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._accept_loop, name=f"fakeapi-accept-{self.port}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, wake every connection thread (stalled or idle) and close its socket."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(self._idle_timeout_s)  # every wait on this client; a stall sets its own
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=self._serve, args=(conn,), name="fakeapi-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = bytearray()
        try:
            while not self._stopping.is_set():
                try:
                    request = self._read(conn, buffer)
                except _BadRequest as exc:
                    self._send_error(conn, exc.status, exc.message)
                    return
                if request is None:
                    return
                try:
                    reply = self._handler(request)
                except Exception:  # a bug in the fake must show up as a 500, not a hung client
                    log.exception("fake API handler failed for %s %s", request.method, request.path)
                    self._send_error(conn, 500, "The fake API failed to handle this request.")
                    return
                if (
                    not self._send(conn, reply)
                    or reply.close
                    or request.headers.get("connection", "").lower() == "close"
                ):
                    return
        except OSError:
            return  # the client went away
        finally:
            with self._lock:
                self._connections.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _read(self, conn: socket.socket, buffer: bytearray) -> HttpRequest | None:
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end >= 0:
                if end > _MAX_HEAD:
                    raise _BadRequest(413, f"The request's head exceeds {_MAX_HEAD} bytes.")
                break
            if len(buffer) > _MAX_HEAD:
                raise _BadRequest(413, f"The request's head exceeds {_MAX_HEAD} bytes.")
            data = conn.recv(65536)
            if not data:
                return None
            buffer += data
        head = bytes(buffer[:end]).decode("latin-1")
        del buffer[: end + 4]
        lines = head.split("\r\n")
        try:
            method, target, _version = lines[0].split(" ", 2)
        except ValueError:
            raise _BadRequest(400, f"Malformed request line {lines[0][:100]!r}.") from None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name.strip():
                raise _BadRequest(400, f"Malformed header line {line[:100]!r}.")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        path, _, query = target.partition("?")
        limit = self._max_body_bytes(path)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._continue(conn, headers)
            body = self._read_chunked(conn, buffer, limit)
        else:
            raw = headers.get("content-length", "0")
            if not (raw.isascii() and raw.isdigit()):  # not int(): it takes "-5", " 5", "1_000"
                raise _BadRequest(400, f"content-length: {raw[:40]!r} is not a non-negative integer.")
            length = int(raw)
            if length > limit:
                raise _BadRequest(413, f"Request exceeds the maximum allowed number of bytes ({limit}).")
            self._continue(conn, headers)
            while len(buffer) < length:
                data = conn.recv(min(max(65536, length - len(buffer)), 1 << 20))
                if not data:
                    return None
                buffer += data
            body = bytes(buffer[:length])
            del buffer[:length]
        return HttpRequest(method.upper(), path, query, headers, body)

    @staticmethod
    def _continue(conn: socket.socket, headers: dict[str, str]) -> None:
        if headers.get("expect", "").lower() == "100-continue":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _read_chunked(self, conn: socket.socket, buffer: bytearray, limit: int) -> bytes:
        body = bytearray()
        while True:
            while (line_end := buffer.find(b"\r\n")) < 0:
                if len(buffer) > 1024:
                    raise _BadRequest(400, "Malformed chunk size line.")
                data = conn.recv(65536)
                if not data:
                    raise _BadRequest(400, "The chunked body ended early.")
                buffer += data
            digits = bytes(buffer[:line_end]).split(b";")[0].strip()
            if not digits or len(digits) > 16 or digits.strip(b"0123456789abcdefABCDEF"):
                raise _BadRequest(400, "Malformed chunk size.")
            size = int(digits, 16)
            if len(body) + size > limit:
                raise _BadRequest(413, f"Request exceeds the maximum allowed number of bytes ({limit}).")
            needed = line_end + 2 + size + 2
            while len(buffer) < needed:
                data = conn.recv(65536)
                if not data:
                    raise _BadRequest(400, "The chunked body ended early.")
                buffer += data
            body += buffer[line_end + 2 : line_end + 2 + size]
            del buffer[:needed]
            if size == 0:  # trailers are not used by any client of the fake; the blank line was consumed
                return bytes(body)

    @staticmethod
    def _head(status: int, headers: list[tuple[str, str]], extra: str) -> bytes:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        lines.extend(f"{k}: {v}" for k, v in headers)
        lines.append(extra)
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send_error(self, conn: socket.socket, status: int, message: str) -> None:
        """Answer a request that cannot be served; the caller closes the connection. Never raises."""
        try:
            reply = self._error_reply(status, message)
        except Exception:
            log.exception("fake API error reply failed")
            reply = plain_error(status, message)
        headers = [*reply.headers, ("connection", "close")]
        with contextlib.suppress(OSError):
            conn.sendall(self._head(reply.status, headers, f"content-length: {len(reply.body)}") + reply.body)

    def _send(self, conn: socket.socket, reply: Reply) -> bool:
        """Send a reply; True if the connection can serve another request."""
        if reply.delay_s > 0 and self._stopping.wait(reply.delay_s):
            return False
        if reply.mode == "full":
            conn.sendall(self._head(reply.status, reply.headers, f"content-length: {len(reply.body)}") + reply.body)
            return True
        if reply.mode == "drop":
            return False
        if reply.mode == "stall":
            self._wait_until_gone(conn)
            return False
        pending: list[bytes] = [self._head(reply.status, reply.headers, "transfer-encoding: chunked")]
        chunk: list[bytes] = []

        def flush() -> None:
            if chunk:
                data = b"".join(chunk)
                pending.append(b"%x\r\n%s\r\n" % (len(data), data))
                chunk.clear()
            if pending:
                conn.sendall(b"".join(pending))
                pending.clear()

        for item in reply.items:
            if isinstance(item, float):
                flush()
                if self._stopping.wait(item):
                    return False
            else:
                chunk.append(item)
        flush()
        if reply.then == "end":
            conn.sendall(b"0\r\n\r\n")
            return True
        if reply.then == "stall":
            self._wait_until_gone(conn)
        return False

    def _wait_until_gone(self, conn: socket.socket) -> None:
        """Say nothing until the client closes the connection (its read timeout) or the server stops."""
        conn.settimeout(None)  # a stall lasts as long as the client waits, not the idle timeout
        while not self._stopping.is_set() and conn.recv(65536):
            pass
