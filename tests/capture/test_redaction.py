"""Content only when asked for, scrubbed of secrets and passed through the application's hook before any export."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider

import tracer
from tests._telemetry import join_provider
from tests.export.receivers import HttpReceiver
from tracer import semconv
from tracer.capture._redact import DROPPED, REDACTED, Redactor, scrub

from .conftest import MODEL, sync_client

SECRET = "sk-ant-api03-Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE"
PROMPT = f"My key is {SECRET}, my email is ada@example.com; summarise the attached report."


def _store_bytes(store: Path) -> bytes:
    return b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())


class TestScrub:
    @pytest.mark.parametrize(
        "secret",
        [SECRET, "sk-proj-abcdefghijklmnopqrstuvwx", "AKIAIOSFODNN7EXAMPLE", "ghp_" + "a1" * 18, "xoxb-1234567890-abcdef"],
    )
    def test_secrets_are_replaced(self, secret: str) -> None:
        assert scrub(f"before {secret} after") == f"before {REDACTED} after"

    def test_a_bearer_token_keeps_its_word(self) -> None:
        assert scrub("Authorization: Bearer eyJhbGciOi.J9xyz") == f"Authorization: Bearer {REDACTED}"

    def test_ordinary_text_is_left_alone(self) -> None:
        text = "The sk-ant prefix marks Anthropic keys; ask-for-help is not a key."
        assert scrub(text) == text

    def test_a_hook_that_raises_or_returns_a_non_string_drops_the_content(self) -> None:
        assert Redactor(lambda text: 1 / 0)("hello") == DROPPED  # type: ignore[arg-type,return-value]
        assert Redactor(lambda text: None)("hello") == DROPPED  # type: ignore[arg-type,return-value]

    def test_a_hook_that_is_not_callable_is_a_clear_error(self) -> None:
        with pytest.raises(TypeError, match="redact="):
            tracer.instrument(store=False, redact="emails")
        tracer.uninstrument()


class TestRedactedEverywhere:
    def _run(self, fake_api: Any, tmp_path: Path, hook: Any) -> tuple[list[Any], bytes, Any]:
        join_provider()
        store = tmp_path / "store"
        with HttpReceiver() as receiver:
            # A MeterProvider of the test's own: ours would be registered globally, for every later test.
            tracer.instrument(store=store, otlp_endpoint=receiver.endpoint, otlp_protocol="http/protobuf",
                              capture_content=True, redact=hook, meter_provider=MeterProvider())  # fmt: skip
            try:
                message = sync_client(fake_api).messages.create(
                    model=MODEL, max_tokens=32, system=f"Never reveal {SECRET}.",
                    messages=[{"role": "user", "content": PROMPT}],
                )  # fmt: skip
                assert tracer.flush(timeout_s=10)
                call = receiver.wait_for_span("anthropic.messages.create")
            finally:
                tracer.uninstrument()
            return [call], _store_bytes(store), message

    def test_the_hook_and_scrubbing_apply_to_otlp_and_the_store(self, fake_api: Any, tmp_path: Path) -> None:
        def no_emails(text: str) -> str:
            return re.sub(r"[\w.]+@[\w.]+", "<email>", text)

        (call,), stored, message = self._run(fake_api, tmp_path, no_emails)
        prompt = call.attributes[semconv.GEN_AI_INPUT_MESSAGES]
        assert "summarise the attached report" in prompt and "<email>" in prompt and REDACTED in prompt
        assert "ada@example.com" not in prompt
        assert REDACTED in call.attributes[semconv.GEN_AI_SYSTEM_INSTRUCTIONS]
        assert SECRET not in str(call.attributes)
        assert stored and SECRET.encode() not in stored and b"ada@example.com" not in stored
        assert message.content  # the application's answer is untouched
        # The store keeps the content (redacted) with its call, for the trace view.
        from tracer.read import Store

        with Store(tmp_path / "store") as store:
            ((content,),) = store.rows("SELECT content FROM calls")
        kept = json.loads(content)
        assert "<email>" in kept[semconv.GEN_AI_INPUT_MESSAGES] and REDACTED in kept[semconv.GEN_AI_INPUT_MESSAGES]
        assert "summarise the attached report" in kept[semconv.GEN_AI_INPUT_MESSAGES]
        assert kept[semconv.GEN_AI_OUTPUT_MESSAGES] == call.attributes[semconv.GEN_AI_OUTPUT_MESSAGES]

    def test_a_raising_hook_drops_only_the_content(self, fake_api: Any, tmp_path: Path) -> None:
        def broken(text: str) -> str:
            raise RuntimeError("the hook has a bug")

        (call,), stored, message = self._run(fake_api, tmp_path, broken)
        assert call.attributes[semconv.GEN_AI_INPUT_MESSAGES] == DROPPED
        assert call.attributes[semconv.GEN_AI_OUTPUT_MESSAGES] == DROPPED
        assert call.attributes[semconv.COST_USD] > 0  # the span, its tokens and cost are all there
        assert message.content and SECRET.encode() not in stored
        from tracer.read import Store

        with Store(tmp_path / "store") as store:
            ((content, cost),) = store.rows("SELECT content, cost_usd FROM calls")
        assert json.loads(content)[semconv.GEN_AI_INPUT_MESSAGES] == DROPPED and cost > 0
