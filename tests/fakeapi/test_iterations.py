"""The fake API speaks 2026: refusals with categories, server-side fallback, fallback credit, advisor and compaction
iterations, each parsed by the real SDK's beta types over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakeapi._sdk import HELLO, sdk
from tracer.fakeapi import FakeAPI, FaultSpecError, parse_outcome

FABLE = "claude-fable-5"
OPUS = "claude-opus-4-8"
SSF = {"anthropic-beta": "server-side-fallback-2026-07-01"}


def create(api: FakeAPI, *, headers: dict[str, str] | None = None, stream: bool = False, **kw: Any) -> Any:
    params = {"model": FABLE, "max_tokens": 256, "messages": HELLO, **kw}
    beta = sdk(api).beta.messages
    if stream:
        with beta.stream(**params, extra_headers=headers or {}) as s:
            return s.get_final_message()
    return beta.create(**params, extra_headers=headers or {})


class TestRefusalScript:
    def test_refuse_parses_category_tokens_and_model(self) -> None:
        """`refuse:CAT[:TOKENS][@MODEL]` is one outcome; an unknown category is refused with the reason."""
        outcome = parse_outcome("refuse:null:3@claude-fable-5")
        assert (outcome.kind, outcome.category, outcome.events, outcome.model) == ("refuse", "null", 3, FABLE)
        assert str(outcome) == "refuse:null:3@claude-fable-5"
        with pytest.raises(FaultSpecError, match="CATEGORY one of"):
            parse_outcome("refuse:weather")


class TestRefusal:
    @pytest.mark.parametrize("stream", [False, True])
    def test_refusal_before_output_has_its_category_and_no_output(self, api: FakeAPI, stream: bool) -> None:
        """Before any output: empty content, stop_reason refusal, stop_details with the category, 0 output tokens."""
        message = create(api, stream=stream, headers={"x-fake-script": "refuse:cyber"})
        assert message.stop_reason == "refusal"
        assert message.content == []
        assert message.stop_details.category == "cyber"
        assert message.usage.output_tokens == 0
        assert message.usage.input_tokens > 0

    @pytest.mark.parametrize("stream", [False, True])
    def test_refusal_mid_stream_keeps_the_output_already_produced(self, api: FakeAPI, stream: bool) -> None:
        """`refuse:bio:12`: twelve tokens of text, then the refusal; usage counts those twelve."""
        message = create(api, stream=stream, headers={"x-fake-script": "refuse:bio:12"})
        assert message.stop_reason == "refusal"
        assert message.stop_details.category == "bio"
        assert message.usage.output_tokens == 12
        assert message.content[0].text

    def test_a_null_category_is_null(self, api: FakeAPI) -> None:
        message = create(api, headers={"x-fake-script": "refuse:null"})
        assert message.stop_details.category is None

    def test_a_credit_token_only_with_the_beta(self, api: FakeAPI) -> None:
        plain = create(api, headers={"x-fake-script": "refuse:cyber"})
        opted = create(api, headers={"x-fake-script": "refuse:cyber", "anthropic-beta": "fallback-credit-2026-07-01"})
        assert plain.stop_details.fallback_credit_token is None
        assert opted.stop_details.fallback_credit_token

    def test_a_refusal_for_another_model_does_not_apply(self, api: FakeAPI) -> None:
        message = create(api, model=OPUS, headers={"x-fake-script": f"refuse:bio@{FABLE}"})
        assert message.stop_reason != "refusal"


class TestServerSideFallback:
    @pytest.mark.parametrize("stream", [False, True])
    def test_a_declined_hop_and_the_fallback_that_served(self, api: FakeAPI, stream: bool) -> None:
        """The requested model declines; the fallback serves. Content carries a `fallback` block, usage.iterations a
        `message` entry for the declined hop and a `fallback_message` for the serving one, whose usage is the
        top-level usage; the top-level model is the one that served."""
        message = create(
            api, stream=stream, headers={**SSF, "x-fake-script": "refuse:bio"}, fallbacks=[{"model": OPUS}]
        )
        assert message.model == OPUS
        assert message.stop_reason != "refusal"
        seam = message.content[0]
        assert (seam.type, seam.from_.model, seam.to.model, seam.trigger.category) == ("fallback", FABLE, OPUS, "bio")
        declined, served = message.usage.iterations
        assert (declined.type, declined.model, declined.output_tokens) == ("message", FABLE, 0)
        assert (served.type, served.model) == ("fallback_message", OPUS)
        assert served.output_tokens == message.usage.output_tokens > 0
        assert served.input_tokens == message.usage.input_tokens

    def test_default_uses_the_server_defined_chain(self, api: FakeAPI) -> None:
        message = create(api, headers={**SSF, "x-fake-script": "refuse:cyber"}, fallbacks="default")
        assert message.model == OPUS

    def test_without_the_beta_header_the_refusal_stays(self, api: FakeAPI) -> None:
        message = create(api, headers={"x-fake-script": "refuse:cyber"}, fallbacks=[{"model": OPUS}])
        assert message.stop_reason == "refusal"

    def test_the_fallback_reads_what_the_refused_model_had_cached(self, api: FakeAPI) -> None:
        """Fallback credit, applied automatically: the prefix the refused model read from its cache is a cache read
        on the fallback model too, not a write."""
        long_text = "word " * 6000
        system = [{"type": "text", "text": long_text, "cache_control": {"type": "ephemeral"}}]
        create(api, system=system)  # writes the prefix on Fable
        message = create(api, system=system, headers={**SSF, "x-fake-script": "refuse:cyber"},
                         fallbacks=[{"model": OPUS}])  # fmt: skip
        declined, served = message.usage.iterations
        assert declined.cache_read_input_tokens > 0
        assert served.cache_read_input_tokens == declined.cache_read_input_tokens
        assert served.cache_creation_input_tokens == 0


class TestFallbackCredit:
    def test_a_retry_with_the_token_is_billed_as_reads(self, api: FakeAPI) -> None:
        """Client-side retry with the refusal's token: the writes the new model would pay become reads, and usage
        says the credit was redeemed."""
        long_text = "word " * 6000
        system = [{"type": "text", "text": long_text, "cache_control": {"type": "ephemeral"}}]
        beta = {"anthropic-beta": "fallback-credit-2026-07-01"}
        create(api, system=system)
        refusal = create(api, system=system, headers={**beta, "x-fake-script": "refuse:cyber"})
        token = refusal.stop_details.fallback_credit_token
        retry = create(api, model=OPUS, system=system, headers=beta,
                       extra_body={"fallback_credit_token": {"token": token, "mode": "best_effort"}})  # fmt: skip
        assert retry.usage.fallback_credit.status.type == "redeemed"
        assert retry.usage.cache_read_input_tokens == refusal.usage.cache_read_input_tokens
        assert retry.usage.cache_creation_input_tokens == 0


class TestAdvisorAndCompaction:
    @pytest.mark.parametrize("stream", [False, True])
    def test_an_advisor_call_is_its_own_iteration_at_the_advisor_model(self, api: FakeAPI, stream: bool) -> None:
        tools = [{"type": "advisor_20260301", "name": "advisor", "model": OPUS}]
        message = create(api, model="claude-sonnet-4-6", stream=stream, tools=tools)
        kinds = [(i.type, getattr(i, "model", None)) for i in message.usage.iterations]
        assert kinds == [("message", None), ("advisor_message", OPUS), ("message", None)]
        executor = [i for i in message.usage.iterations if i.type == "message"]
        assert message.usage.output_tokens == sum(i.output_tokens for i in executor)
        assert [b.type for b in message.content[:2]] == ["server_tool_use", "advisor_tool_result"]

    def test_a_compaction_is_billed_but_not_in_the_top_level_usage(self, api: FakeAPI) -> None:
        management = {"edits": [{"type": "compact_20260112", "trigger": {"type": "input_tokens", "value": 2000}}]}
        messages = [{"role": "user", "content": "word " * 12000}]
        message = create(api, model="claude-sonnet-4-6", messages=messages, context_management=management)
        compaction, answer = message.usage.iterations
        assert compaction.type == "compaction" and compaction.input_tokens > 10000
        assert message.usage.input_tokens == answer.input_tokens < compaction.input_tokens
        assert message.content[0].type == "compaction"


class TestUsageFields:
    def test_geo_speed_and_tier_are_reported(self, api: FakeAPI) -> None:
        message = create(api, model=OPUS, extra_body={"inference_geo": "us", "speed": "fast"})
        assert (message.usage.service_tier, message.usage.inference_geo, message.usage.speed) == ("standard", "us",
                                                                                                "fast")  # fmt: skip
