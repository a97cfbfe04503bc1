"""A call's cost is what Anthropic bills for it: the sum over its billed iterations, each at its own model's rates,
refusal rules applied (docs/cost.md). Each test makes real calls through the SDK to the fake API with
`tracer.instrument()` on, and checks the call span against `cost_of` applied to each billed iteration on its own."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, ClassVar

import anthropic
import pytest
from anthropic.lib.middleware import BetaRefusalFallbackMiddleware

from tests.capture.conftest import API_KEY
from tracer import semconv
from tracer.cost import cost_of

FABLE = "claude-fable-5"
OPUS = "claude-opus-4-8"
SONNET = "claude-sonnet-4-6"
HELLO = [{"role": "user", "content": "Say hello."}]
SSF = "server-side-fallback-2026-07-01"


def call(api: Any, *, stream: bool = False, headers: dict[str, str] | None = None, client: Any = None,
         **params: Any) -> Any:  # fmt: skip
    client = client or anthropic.Anthropic(api_key=API_KEY, base_url=api.base_url)
    kw = {"model": FABLE, "max_tokens": 200, "messages": HELLO, **params, "extra_headers": headers or {}}
    if stream:
        with client.beta.messages.stream(**kw) as s:
            return s.get_final_message()
    return client.beta.messages.create(**kw)


def priced(model: str, usage: Any) -> Decimal:
    value = cost_of(model, usage)
    assert value is not None
    return value


def span_cost(telemetry: Any) -> Decimal:
    return Decimal(telemetry.call().attributes[semconv.COST_USD_EXACT])


def breakdown(telemetry: Any) -> list[dict[str, Any]]:
    return json.loads(telemetry.call().attributes[semconv.COST_ITERATIONS])


class TestServerSideFallback:
    @pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
    def test_a_declined_billed_hop_and_the_serving_model_each_at_its_rates(
        self, fake_api: Any, telemetry: Any, stream: bool
    ) -> None:
        """`bio` is billed since 2026-09-24: the declined Fable hop's input at Fable's rates plus the Opus answer."""
        message = call(fake_api, stream=stream, fallbacks=[{"model": OPUS}],
                       headers={"anthropic-beta": SSF, "x-fake-script": "refuse:bio"})  # fmt: skip
        declined, served = message.usage.iterations
        expected = priced(FABLE, declined) + priced(OPUS, served)
        assert span_cost(telemetry) == expected
        assert priced(OPUS, message.usage) < expected  # the top-level usage alone would under-count
        rows = breakdown(telemetry)
        assert [(r["model"], r["billed"], r.get("refusal")) for r in rows] == [(FABLE, True, "bio"), (OPUS, True, None)]
        attrs = telemetry.call().attributes
        assert (attrs[semconv.REFUSAL_CATEGORY], attrs[semconv.REFUSAL_BILLED]) == ("bio", True)

    @pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
    def test_a_declined_cyber_hop_costs_nothing(self, fake_api: Any, telemetry: Any, stream: bool) -> None:
        message = call(fake_api, stream=stream, fallbacks="default",
                       headers={"anthropic-beta": SSF, "x-fake-script": "refuse:cyber"})  # fmt: skip
        _, served = message.usage.iterations
        assert span_cost(telemetry) == priced(OPUS, served)
        first = breakdown(telemetry)[0]
        assert (first["billed"], first["usd"], first["refusal"]) == (False, "0", "cyber")
        assert telemetry.call().attributes[semconv.REFUSAL_BILLED] is False


class TestClientSideFallback:
    @pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
    def test_each_hop_is_billed_and_the_call_is_their_sum(self, fake_api: Any, telemetry: Any, stream: bool) -> None:
        """The SDK's refusal-fallback middleware sends one request per hop; the refused Fable response is billed
        (bio) though the message returned carries only Opus's usage."""
        client = anthropic.Anthropic(api_key=API_KEY, base_url=fake_api.base_url,
                                     middleware=[BetaRefusalFallbackMiddleware([{"model": OPUS}])])  # fmt: skip
        message = call(fake_api, client=client, stream=stream, headers={"x-fake-script": f"refuse:bio@{FABLE}"})
        assert message.model == OPUS
        (refused,) = [r for r in fake_api.requests if r.model == FABLE]
        hop_usage = [r for r in fake_api._app.ledger.bookings if r.model == FABLE]
        assert refused.outcome.startswith("refuse:bio") and len(hop_usage) == 1
        fable_cost = hop_usage[0].usd
        assert fable_cost > 0
        served = message.usage.iterations[-1] if stream else message.usage
        assert span_cost(telemetry) == fable_cost + priced(OPUS, served)
        assert [r["model"] for r in breakdown(telemetry)] == [FABLE, OPUS]


    def test_each_hops_attempt_span_carries_its_own_cost(self, fake_api: Any, telemetry: Any) -> None:
        """Not streamed: the attempt span of each hop is priced from its own response; the call is their sum."""
        client = anthropic.Anthropic(api_key=API_KEY, base_url=fake_api.base_url,
                                     middleware=[BetaRefusalFallbackMiddleware([{"model": OPUS}])])  # fmt: skip
        call(fake_api, client=client, headers={"x-fake-script": f"refuse:cyber@{FABLE}"})
        attempts = telemetry.attempts(telemetry.call())
        hops = [(a.attributes[semconv.GEN_AI_RESPONSE_MODEL], Decimal(a.attributes[semconv.COST_USD_EXACT]),
                 a.attributes.get(semconv.REFUSAL_BILLED)) for a in attempts]  # fmt: skip
        assert sorted(hops, key=lambda h: h[0]) == [(FABLE, 0, False), (OPUS, span_cost(telemetry), None)]


class TestAdvisorAndCompaction:
    def test_the_advisor_is_billed_at_the_advisor_model(self, fake_api: Any, telemetry: Any) -> None:
        tools = [{"type": "advisor_20260301", "name": "advisor", "model": OPUS}]
        message = call(fake_api, model=SONNET, tools=tools)
        first, advisor, second = message.usage.iterations
        assert span_cost(telemetry) == priced(SONNET, first) + priced(OPUS, advisor) + priced(SONNET, second)
        assert [r["kind"] for r in breakdown(telemetry)] == ["message", "advisor_message", "message"]

    def test_a_compaction_is_billed_on_top_of_the_answer(self, fake_api: Any, telemetry: Any) -> None:
        management = {"edits": [{"type": "compact_20260112", "trigger": {"type": "input_tokens", "value": 2000}}]}
        message = call(fake_api, model=SONNET, messages=[{"role": "user", "content": "word " * 12000}],
                       context_management=management)  # fmt: skip
        compaction, answer = message.usage.iterations
        assert span_cost(telemetry) == priced(SONNET, compaction) + priced(SONNET, answer)
        assert span_cost(telemetry) > priced(SONNET, message.usage)


class TestRefusals:
    @pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
    @pytest.mark.parametrize(("category", "billed"), [("cyber", False), ("general_harms", False), ("null", False),
                                                      ("bio", True), ("frontier_llm", True)])  # fmt: skip
    def test_before_any_output_by_category(
        self, fake_api: Any, telemetry: Any, stream: bool, category: str, billed: bool
    ) -> None:
        message = call(fake_api, stream=stream, headers={"x-fake-script": f"refuse:{category}"})
        assert message.usage.output_tokens == 0 and message.usage.input_tokens > 0
        assert span_cost(telemetry) == (priced(FABLE, message.usage) if billed else 0)
        attrs = telemetry.call().attributes
        assert (attrs[semconv.REFUSAL_CATEGORY], attrs[semconv.REFUSAL_BILLED]) == (category, billed)
        points = telemetry.metric(semconv.METRIC_REFUSALS)
        assert [(p[0][semconv.REFUSAL_CATEGORY], p[0][semconv.REFUSAL_BILLED], p[1].value) for p in points] == [
            (category, billed, 1)
        ]

    @pytest.mark.parametrize("stream", [False, True], ids=["sync", "stream"])
    def test_during_a_stream_the_input_and_the_output_so_far_are_billed(
        self, fake_api: Any, telemetry: Any, stream: bool
    ) -> None:
        """Even an unbilled category: output was produced, so input and output so far are billed."""
        message = call(fake_api, stream=stream, headers={"x-fake-script": "refuse:cyber:12"})
        assert message.usage.output_tokens == 12
        assert span_cost(telemetry) == priced(FABLE, message.usage) > 0
        assert telemetry.call().attributes[semconv.REFUSAL_BILLED] is True


class TestFallbackCredit:
    def test_a_redeemed_credit_is_priced_as_reads_and_shown(self, fake_api: Any, telemetry: Any) -> None:
        system = [{"type": "text", "text": "word " * 6000, "cache_control": {"type": "ephemeral"}}]
        beta = {"anthropic-beta": "fallback-credit-2026-07-01"}
        call(fake_api, system=system)
        refusal = call(fake_api, system=system, headers={**beta, "x-fake-script": "refuse:cyber"})
        telemetry.clear()
        token = {"token": refusal.stop_details.fallback_credit_token, "mode": "best_effort"}
        retry = call(fake_api, model=OPUS, system=system, headers=beta, extra_body={"fallback_credit_token": token})
        assert retry.usage.cache_read_input_tokens > 0 and retry.usage.cache_creation_input_tokens == 0
        assert span_cost(telemetry) == priced(OPUS, retry.usage)
        assert telemetry.call().attributes[semconv.USAGE_FALLBACK_CREDIT] == "redeemed"


class TestStoreKeepsIt:
    def test_refusals_and_the_breakdown_reach_the_calls_table(self, fake_api: Any, telemetry: Any) -> None:
        import tracer
        from tracer.read import Store

        call(fake_api, headers={"x-fake-script": "refuse:cyber"})
        call(fake_api, fallbacks=[{"model": OPUS}], headers={"anthropic-beta": SSF, "x-fake-script": "refuse:bio"})
        assert tracer.flush()
        rows = Store(telemetry.store).rows(
            "SELECT refusal_category, refusal_billed, cost_usd, cost_iterations FROM calls ORDER BY start_time"
        )
        (cyber, cyber_billed, cyber_cost, _), (bio, bio_billed, bio_cost, bio_rows) = rows
        assert (cyber, cyber_billed, cyber_cost) == ("cyber", False, 0)
        assert (bio, bio_billed) == ("bio", True) and bio_cost > 0
        assert [r["model"] for r in json.loads(bio_rows)] == [FABLE, OPUS]


class TestPlatformRegional:
    """The premium is decided from what the client was configured with: a Bedrock client (its span's scope) and a
    model ID that is, or is not, a `global.` inference profile; a Vertex client and its base URL's host (the SDK's
    `server.address`). Pure: `call_attributes` over a span's attributes."""

    ATTRS: ClassVar[dict[str, Any]] = {
        semconv.GEN_AI_OPERATION_NAME: "chat",
        semconv.GEN_AI_USAGE_INPUT_TOKENS: 100_000,
        semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 1_000,
    }

    def cost(self, model: str, scope: str, server: str | None = None) -> tuple[Decimal, Any]:
        from tracer.capture._calls import call_attributes
        from tracer.cost import default_table

        attrs = {**self.ATTRS, semconv.GEN_AI_REQUEST_MODEL: model, semconv.GEN_AI_RESPONSE_MODEL: model}
        if server is not None:
            attrs[semconv.SERVER_ADDRESS] = server
        out = call_attributes(attrs, duration_s=1.0, prices=default_table(), scope=scope)
        return Decimal(out[semconv.COST_USD_EXACT]), out.get(semconv.COST_REGIONAL)

    def test_regional_and_geographic_profiles_cost_ten_percent_more(self) -> None:
        bedrock = "com.anthropic.sdk.python.bedrock"
        base, _ = self.cost("global.anthropic.claude-sonnet-4-5-20250929-v1:0", bedrock)
        assert base == cost_of("claude-sonnet-4-5", {"input_tokens": 100_000, "output_tokens": 1_000})
        for model in ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-sonnet-4-5-20250929-v1:0"):
            assert self.cost(model, bedrock) == (base * Decimal("1.1"), True)

    def test_vertex_regional_and_multi_region_hosts_cost_ten_percent_more(self) -> None:
        """The host is the client's base URL: `aiplatform.googleapis.com` for region "global"."""
        vertex = "com.anthropic.sdk.python.vertex"
        base, flag = self.cost("claude-opus-4-5@20251101", vertex, "aiplatform.googleapis.com")
        assert flag is None
        for host in ("us-east5-aiplatform.googleapis.com", "aiplatform.eu.rep.googleapis.com"):
            assert self.cost("claude-opus-4-5@20251101", vertex, host) == (base * Decimal("1.1"), True)

    def test_not_before_claude_4_5_and_not_on_the_claude_api(self) -> None:
        old = "us.anthropic.claude-sonnet-4-20250514-v1:0"
        assert self.cost(old, "com.anthropic.sdk.python.bedrock")[0] == self.cost(old, "com.anthropic.sdk.python")[0]
        assert self.cost("claude-sonnet-4-5", "com.anthropic.sdk.python")[1] is None
