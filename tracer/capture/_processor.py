"""The base of our span processors that do their work just before a span ends."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor


class BeforeEndProcessor(SpanProcessor):
    """A span processor whose work is done just before a span ends (`before_end`, installed in `on_start`), where
    the span can still change; nothing is left for `on_end`. `shutdown()` turns it off: the SDK's TracerProvider
    cannot remove a processor once added."""

    active = True

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        self.active = False

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
