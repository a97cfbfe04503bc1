"""Message content, only when asked for, and redacted in the application's process before any exporter sees it.

With `capture_content=True` the SDK's own spans carry the prompts, answers, system instructions and tool inputs
and results (`CONTENT_ATTRIBUTES`). Every such value goes through `Redactor` just before its span ends, so the
embedded store, OTLP and any exporter of the application's see only the redacted text:

1. built-in scrubbing replaces what looks like a secret (`tracer._secrets.SECRET_PATTERNS`: Anthropic and other API keys, bearer
   tokens, AWS access key ids, GitHub and Slack tokens) with `[REDACTED]`;
2. then the application's hook, `instrument(redact=fn)`, `fn(text) -> text`, may change anything else (names,
   emails, account numbers). A hook that raises, or returns something other than a string, drops that content
   (the attribute keeps a marker saying so): never the span, never the call. One warning says it happened.

>>> scrub("my key is sk-ant-api03-abcdefghijklmnop and token Bearer abc.def-123456")
'my key is [REDACTED] and token Bearer [REDACTED]'
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from opentelemetry.context import Context

from tracer import semconv
from tracer._secrets import REDACTED as REDACTED  # re-exported: what scrubbing writes
from tracer._secrets import SECRET_PATTERNS as SECRET_PATTERNS
from tracer._secrets import scrub
from tracer._spans import add_attributes, before_end, ours_or_sdks, raw_attributes
from tracer.capture._processor import BeforeEndProcessor

log = logging.getLogger("tracer.capture")

DROPPED = "[content dropped: the redaction hook failed]"

CONTENT_ATTRIBUTES = semconv.CONTENT_ATTRIBUTES  # on the SDK's call, tool and agent spans

Hook = Callable[[str], str]


class Redactor:
    """Scrubbing, then the application's hook. Calling it never raises."""

    def __init__(self, hook: Hook | None = None) -> None:
        if hook is not None and not callable(hook):
            raise TypeError(f"redact= must be a function taking and returning a string, not {type(hook).__name__}")
        self.hook = hook
        self._warned = False

    def __call__(self, text: str) -> str:
        text = scrub(text)
        if self.hook is None:
            return text
        try:
            out = self.hook(text)
            if not isinstance(out, str):
                raise TypeError(f"the redaction hook returned {type(out).__name__}, not str")
        except Exception as exc:
            if not self._warned:
                self._warned = True
                log.warning("tracer: the redaction hook failed (%s: %s); that content is dropped, the spans are kept",
                            type(exc).__name__, exc)  # fmt: skip
            return DROPPED
        return out


class ContentRedactionProcessor(BeforeEndProcessor):
    """Redacts the content attributes of every span of the SDK's (and ours) just before it ends."""

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        if not self.active:
            return
        try:
            if ours_or_sdks(span):
                self._wrap_end(span)
        except Exception:
            log.debug("could not watch a span's content", exc_info=True)

    def _wrap_end(self, span: Any) -> None:
        redactor = self.redactor

        def redact(end_time: int | None) -> None:
            try:
                attrs = raw_attributes(span)
                found = {key: value for key in CONTENT_ATTRIBUTES if isinstance(value := attrs.get(key), str)}
                if found and span.is_recording():
                    add_attributes(span, attrs, {key: redactor(value) for key, value in found.items()})
            except Exception:
                log.debug("could not redact a span's content", exc_info=True)

        before_end(span, redact)

