"""claude-tracer: observability and cost tracking for the anthropic SDK.

>>> import tracer
>>> tracer.instrument()                      # spans + metrics for every Claude call, to ./.tracer
>>> with tracer.tags(feature="search"):      # attribution on every call inside
...     ...
>>> with tracer.conversation("chat-42"):     # the turns of one conversation, for a shared client
...     ...
>>> tracer.flush()                           # before a short script exits (also done at exit)

`tracer dashboard` then shows cost, latency, 429 rates and retries per model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tracer._tags import conversation, current_conversation, current_tags, tags

if TYPE_CHECKING:
    from os import PathLike

__all__ = ["conversation", "current_conversation", "current_tags", "flush", "instrument", "tags", "uninstrument"]
__version__ = "0.1.0"


def instrument(
    store: str | PathLike[str] | bool | None = None,
    otlp_endpoint: str | None = None,
    service_name: str | None = None,
    capture_content: bool | None = None,
    prices: str | PathLike[str] | None = None,
    **options: Any,
) -> None:
    """Instrument the anthropic SDK in this process: a span per API call and per HTTP attempt, tokens, cost, metrics.

    Every argument is optional and falls back to an environment variable (`TRACER_STORE`, `TRACER_PRICES`,
    `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`).
    `store=False` turns the embedded store off (OTLP only). Calling it again is harmless. With
    `capture_content=True`, prompts and answers are recorded after built-in scrubbing of secrets and the
    optional `redact=fn` hook (`fn(text) -> text`), both applied before anything is exported or stored.

    >>> import tracer
    >>> tracer.instrument(service_name="search-api", otlp_endpoint="http://localhost:4317")
    """
    from tracer.capture import instrument as _instrument

    _instrument(
        store=store,
        otlp_endpoint=otlp_endpoint,
        service_name=service_name,
        capture_content=capture_content,
        prices=prices,
        **options,
    )


def uninstrument() -> None:
    """Undo `instrument()`: every patched method and client goes back to what it was. Flushes first."""
    from tracer.capture import uninstrument as _uninstrument

    _uninstrument()


def flush(timeout_s: float = 10.0) -> bool:
    """Export everything recorded so far (store and OTLP); True when it all went out within `timeout_s` and nothing
    was dropped since the previous flush (a full queue, a store that could not write: see docs/faults.md).

    >>> import tracer
    >>> if not tracer.flush(timeout_s=5):
    ...     print("some telemetry was dropped; the tracer.dropped metric and `tracer store info` say where")
    """
    from tracer.capture import flush as _flush

    return _flush(timeout_s)
