"""FakeAPI: the fake Claude API as an object a test, benchmark or the demo starts and stops in-process."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, MutableSequence
from types import TracebackType
from typing import Self

from tracer.fakeapi._app import App, RecordedRequest
from tracer.fakeapi._errors import ApiError
from tracer.fakeapi._faults import FaultRates
from tracer.fakeapi._http import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_BODY_BYTES, HttpServer, Reply

_MAX_BATCH_BODY_BYTES = 256 * 1024 * 1024  # the API's limit for creating a batch (32 MB elsewhere)


class FakeAPI:
    """A fake Claude API on a local port, speaking enough of the Messages API for the real `anthropic` SDK.

    It serves from background threads, so sync and async clients, in any number of threads, can use it at once.
    With `latency_scale=0` it answers at once (tests, benchmarks); at 1 it takes about as long as the real API.

    >>> import anthropic
    >>> with FakeAPI(seed=0, latency_scale=0.0) as api:
    ...     client = anthropic.Anthropic(api_key="test-key", base_url=api.base_url)
    ...     message = client.messages.create(
    ...         model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "Hi"}],
    ...         extra_headers={"x-fake-script": "429:10,ok"})  # one 429, then the SDK's retry succeeds
    ...     [r.attempt for r in api.requests]
    [0, 1]

    Args:
        seed: makes answers, faults, latency and IDs reproducible.
        latency_scale: multiplies the simulated per-model latency; 0 removes it.
        faults: server-wide fault rates for POST /v1/messages, `"429=0.05,529=0.02"` or `{"429": 0.05}`.
        api_key: when set, requests must carry it in `x-api-key` (else 401).
        rate_limits: per-minute limits by kind (`requests`, `tokens`, `input_tokens`, `output_tokens`);
            None gives defaults far above any test's traffic. Kinds left out are not limited.
        host, port: where to listen; port 0 picks a free one.
        clock: monotonic seconds for the rate limiter, prompt cache TTLs and batch processing (tests can pass a
            manual one to make rate limits refill without waiting).
        keep_requests: record only the latest N requests (a long-running server); None records them all.
        idle_timeout_s: close a connection idle that long (between requests, or in the middle of one); None never.

    A request the server cannot parse (bad JSON, a nested body too deep, a bad or absurd `content-length`, a
    malformed head or chunk) is answered with the API's error shape and status, never a traceback or silence.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        latency_scale: float = 1.0,
        faults: str | Mapping[str, float] | None = None,
        api_key: str | None = None,
        rate_limits: Mapping[str, int] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        keep_requests: int | None = None,
        idle_timeout_s: float | None = DEFAULT_IDLE_TIMEOUT_S,
    ) -> None:
        if latency_scale < 0:
            raise ValueError(f"latency_scale must be >= 0, got {latency_scale}")
        self.host = host
        self._requested_port = port
        self._app = App(
            seed=seed,
            latency_scale=latency_scale,
            faults=FaultRates.parse(faults),
            api_key=api_key,
            rate_limits=rate_limits,
            clock=clock,
            keep_requests=keep_requests,
        )
        self._idle_timeout_s = idle_timeout_s
        self._server: HttpServer | None = None

    @property
    def requests(self) -> MutableSequence[RecordedRequest]:
        """Every request received so far, in arrival order (appended from the server's threads): a list, or with
        `keep_requests=N` a deque of the latest N."""
        return self._app.requests

    @property
    def seed(self) -> int:
        return self._app.seed

    @property
    def latency_scale(self) -> float:
        return self._app.latency_scale

    @property
    def faults(self) -> FaultRates:
        return self._app.faults

    @property
    def rate_limits(self) -> dict[str, int]:
        return dict(self._app.limiter.limits)

    def start(self) -> Self:
        """Listen and serve in background threads; returns self. Starting a started server does nothing."""
        if self._server is None:
            server = HttpServer(
                self._app.handle,
                self.host,
                self._requested_port,
                error_reply=self._protocol_error,
                idle_timeout_s=self._idle_timeout_s,
                max_body_bytes=_max_body_bytes,
            )
            server.start()
            self._server = server
        return self

    def stop(self) -> None:
        """Stop serving and close every connection (stalled streams included). Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def _protocol_error(self, status: int, message: str) -> Reply:
        """A request the HTTP layer could not serve, answered as the API answers errors."""
        request_id = self._app._request_id()
        headers = [("content-type", "application/json"), ("request-id", request_id)]
        return Reply(status, headers, ApiError(status, message).body(request_id), close=True)

    def reset(self) -> None:
        """Forget recorded requests, cached prompts, batches and rate-limit usage, keeping the server running."""
        self._app.reset()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeAPI is not started: call start() or use it as a context manager")
        return self._server.port

    @property
    def base_url(self) -> str:
        """What to pass as `base_url=` (or ANTHROPIC_BASE_URL), e.g. `http://127.0.0.1:40123`."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "stopped"
        return f"FakeAPI({where}, seed={self.seed}, latency_scale={self.latency_scale}, faults={str(self.faults)!r})"


def _max_body_bytes(path: str) -> int:
    return _MAX_BATCH_BODY_BYTES if path.startswith("/v1/messages/batches") else DEFAULT_MAX_BODY_BYTES
