"""cost_of against hand-computed bills. Every expected value is worked out in the test from the published
per-MTok prices (genai-prices' bundled Anthropic data, plus our extra.toml), so a wrong multiplier, a cache
read billed as input, a 1-hour write at the 5-minute rate or a double-counted token shows up as a number."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from anthropic.types import Usage

from tracer.cost import breakdown, cost_of, load_prices

D = Decimal


def usage(
    input: int = 0,
    output: int = 0,
    *,
    write_5m: int = 0,
    write_1h: int = 0,
    read: int = 0,
    thinking: int | None = None,
    searches: int | None = None,
    **extra: object,
) -> dict[str, object]:
    """A usage dict shaped like the SDK's Usage (input_tokens = UNCACHED input)."""
    result: dict[str, object] = {
        "input_tokens": input,
        "output_tokens": output,
        "cache_creation_input_tokens": write_5m + write_1h,
        "cache_creation": {"ephemeral_5m_input_tokens": write_5m, "ephemeral_1h_input_tokens": write_1h},
        "cache_read_input_tokens": read,
    }
    if thinking is not None:
        result["output_tokens_details"] = {"thinking_tokens": thinking}
    if searches is not None:
        result["server_tool_use"] = {"web_search_requests": searches, "web_fetch_requests": 0}
    result.update(extra)
    return result


class TestEachTokenKind:
    """claude-sonnet-4-5: $3 input, $15 output, $3.75 5m write, $6 1h write, $0.30 cache read per MTok."""

    def test_input_alone(self) -> None:
        # 1,000 input x $3/MTok = $0.003
        assert cost_of("claude-sonnet-4-5", usage(input=1_000)) == D("0.003")

    def test_output_alone(self) -> None:
        # 2,000 output x $15/MTok = $0.03
        assert cost_of("claude-sonnet-4-5", usage(output=2_000)) == D("0.03")

    def test_cache_write_5m_alone(self) -> None:
        # 10,000 5-minute writes x $3.75/MTok = $0.0375
        assert cost_of("claude-sonnet-4-5", usage(write_5m=10_000)) == D("0.0375")

    def test_cache_write_1h_alone_is_not_billed_at_the_5m_rate(self) -> None:
        # 10,000 1-hour writes x $6/MTok = $0.06 (at the 5m rate it would be $0.0375: 37.5% low)
        assert cost_of("claude-sonnet-4-5", usage(write_1h=10_000)) == D("0.06")

    def test_cache_writes_without_a_ttl_breakdown_are_5m_writes(self) -> None:
        # cache_creation_input_tokens only: 10,000 x $3.75/MTok = $0.0375
        bare = {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 10_000}
        assert cost_of("claude-sonnet-4-5", bare) == D("0.0375")

    def test_cache_read_is_not_billed_as_input(self) -> None:
        # 100,000 cache reads x $0.30/MTok = $0.03 (as input it would be $0.30: 10x too high)
        assert cost_of("claude-sonnet-4-5", usage(read=100_000)) == D("0.03")

    def test_every_kind_at_once_is_the_sum_of_the_kinds(self) -> None:
        # claude-haiku-4-5: $1 input, $1.25 5m write, $2 1h write, $0.10 read, $5 output per MTok
        #   2,000 input x $1     = $0.002
        #   4,000 5m    x $1.25  = $0.005
        #   1,000 1h    x $2     = $0.002
        #  50,000 read  x $0.10  = $0.005
        #     800 out   x $5     = $0.004
        #                  total = $0.018
        call = usage(input=2_000, write_5m=4_000, write_1h=1_000, read=50_000, output=800)
        assert cost_of("claude-haiku-4-5", call) == D("0.018")

    def test_sdk_usage_object_costs_the_same_as_its_dict(self) -> None:
        # claude-opus-4-5 ($5 in, $0.50 read, $6.25 5m write, $25 out):
        # 1,200 x $5 + 5,000 x $0.5 + 800 x $6.25 + 350 x $25 = 6,000 + 2,500 + 5,000 + 8,750 = 22,250 / 1e6
        sdk = Usage(
            input_tokens=1_200,
            output_tokens=350,
            cache_read_input_tokens=5_000,
            cache_creation_input_tokens=800,
            cache_creation={"ephemeral_5m_input_tokens": 800, "ephemeral_1h_input_tokens": 0},
        )
        assert cost_of("claude-opus-4-5", sdk) == D("0.02225")
        assert cost_of("claude-opus-4-5", sdk.model_dump()) == D("0.02225")


class TestThinking:
    def test_thinking_tokens_are_billed_as_output_once(self) -> None:
        # claude-sonnet-4-6, $15/MTok output. output_tokens=3,000 already includes 2,500 thinking tokens:
        # 3,000 x $15 = $0.045 (adding thinking again would give 5,500 x $15 = $0.0825)
        assert cost_of("claude-sonnet-4-6", usage(output=3_000, thinking=2_500)) == D("0.045")

    def test_breakdown_shows_the_thinking_inside_the_output_line(self) -> None:
        result = breakdown("claude-sonnet-4-6", usage(output=3_000, thinking=2_500))
        assert result is not None
        assert result.thinking_tokens == 2_500
        assert result.line("output").quantity == 3_000
        assert result.line("output").usd == D("0.045")
        assert result.total == D("0.045")


class TestLongContextTier:
    def test_over_200k_prompt_moves_every_token_to_the_tier_price(self) -> None:
        # claude-sonnet-4-5 over 200k prompt tokens: $6 input, $0.60 cache read, $22.50 output per MTok.
        # Prompt = 150,000 input + 60,000 read = 210,000 > 200,000, so:
        #   150,000 x $6    = $0.90
        #    60,000 x $0.60 = $0.036
        #     1,000 x $22.5 = $0.0225
        #             total = $0.9585
        assert cost_of("claude-sonnet-4-5", usage(input=150_000, read=60_000, output=1_000)) == D("0.9585")

    def test_exactly_200k_is_still_the_base_tier(self) -> None:
        # 200,000 x $3 + 1,000 x $15 = $0.60 + $0.015 = $0.615
        assert cost_of("claude-sonnet-4-5", usage(input=200_000, output=1_000)) == D("0.615")

    def test_haiku_5_5_tier_starts_above_100k(self) -> None:
        # claude-haiku-5-5 over 100k: $0.50 input, $2.50 output (5x its $0.10/$0.50)
        # 100,001 x $0.5 + 1,000 x $2.5 = $0.0500005 + $0.0025 = $0.0525005
        assert cost_of("claude-haiku-5-5", usage(input=100_001, output=1_000)) == D("0.0525005")
        # 100,000 x $0.1 + 1,000 x $0.5 = $0.01 + $0.0005 = $0.0105
        assert cost_of("claude-haiku-5-5", usage(input=100_000, output=1_000)) == D("0.0105")

    def test_breakdown_names_the_tier(self) -> None:
        result = breakdown("claude-sonnet-4-5", usage(input=150_000, read=60_000, output=1_000))
        assert result is not None and result.tier == "prompt 210,000 tokens > 200,000"


class TestDatedPrices:
    def test_sonnet_4_6_dropped_its_long_context_tier_on_2026_03_13(self) -> None:
        # Before: 300,000 > 200k, so 300,000 x $6 = $1.80. From 2026-03-13 flat: 300,000 x $3 = $0.90
        call = usage(input=300_000)
        assert cost_of("claude-sonnet-4-6", call, at=dt.date(2026, 3, 12)) == D("1.8")
        assert cost_of("claude-sonnet-4-6", call, at=dt.date(2026, 3, 13)) == D("0.9")
        assert cost_of("claude-sonnet-4-6", call, at=dt.datetime(2026, 3, 13, 0, 30, tzinfo=dt.UTC)) == D("0.9")


class TestBatch:
    def test_batch_halves_every_token_price(self) -> None:
        # claude-opus-4-5 batch: $2.50 input, $12.50 output, $0.25 cache read per MTok
        # 10,000 x $2.5 + 2,000 x $12.5 + 100,000 x $0.25 = $0.025 + $0.025 + $0.025 = $0.075
        assert cost_of("claude-opus-4-5", usage(input=10_000, output=2_000, read=100_000), batch=True) == D("0.075")

    def test_usage_service_tier_batch_is_batch(self) -> None:
        # Same as above, flagged by the usage: 10,000 x $2.50 = $0.025
        assert cost_of("claude-opus-4-5", usage(input=10_000, service_tier="batch")) == D("0.025")

    def test_batch_on_a_model_without_a_batch_variant_uses_the_50_percent_rule(self) -> None:
        # claude-opus-4-1 ($15/$75): batch $7.50/$37.50
        # 10,000 x $7.5 + 1,000 x $37.5 = $0.075 + $0.0375 = $0.1125
        assert cost_of("claude-opus-4-1", usage(input=10_000, output=1_000), batch=True) == D("0.1125")

    def test_batch_before_the_variants_start_date_is_the_same_50_percent(self) -> None:
        # genai-prices' batch variant starts 2026-10-14; before that our multiplier: 10,000 x $2.50 = $0.025
        assert cost_of("claude-opus-4-5", usage(input=10_000), batch=True, at=dt.date(2026, 6, 1)) == D("0.025")

    def test_batch_halves_the_long_context_tier_too(self) -> None:
        # claude-sonnet-4-5 batch over 200k: $3 input, $11.25 output
        # 250,000 x $3 + 1,000 x $11.25 = $0.75 + $0.01125 = $0.76125
        assert cost_of("claude-sonnet-4-5", usage(input=250_000, output=1_000), batch=True) == D("0.76125")

    def test_web_search_keeps_its_standard_price_in_a_batch(self) -> None:
        # 2 searches x $10/1,000 = $0.02, batch or not
        assert cost_of("claude-sonnet-4-5", usage(searches=2), batch=True) == D("0.02")


class TestUsOnlyInference:
    def test_us_only_is_1_1x_on_every_token_price(self) -> None:
        # claude-opus-4-6 ($5/$25, $0.50 read) x 1.1 = $5.50/$27.50/$0.55
        # 10,000 x $5.5 + 1,000 x $27.5 + 10,000 x $0.55 = $0.055 + $0.0275 + $0.0055 = $0.088
        call = usage(input=10_000, output=1_000, read=10_000)
        assert cost_of("claude-opus-4-6", call, inference_geo="us") == D("0.088")
        assert cost_of("claude-opus-4-6", {**call, "inference_geo": "us"}) == D("0.088")

    def test_other_geographies_and_older_models_pay_the_standard_price(self) -> None:
        # "global" is the default routing: 10,000 x $5 = $0.05
        assert cost_of("claude-opus-4-6", usage(input=10_000), inference_geo="global") == D("0.05")
        # claude-sonnet-4-5 predates US-only pricing: 1,000 x $3 = $0.003
        assert cost_of("claude-sonnet-4-5", usage(input=1_000), inference_geo="us") == D("0.003")

    def test_us_only_stacks_with_batch(self) -> None:
        # claude-sonnet-4-6: $3 x 0.5 x 1.1 = $1.65/MTok; 10,000 x $1.65 = $0.0165
        assert cost_of("claude-sonnet-4-6", usage(input=10_000), batch=True, inference_geo="us") == D("0.0165")


class TestFastMode:
    def test_fast_mode_uses_the_published_fast_price(self) -> None:
        # claude-opus-5 fast: $10 input / $50 output (2x)
        # 1,000 x $10 + 1,000 x $50 = $0.01 + $0.05 = $0.06
        assert cost_of("claude-opus-5", usage(input=1_000, output=1_000, speed="fast")) == D("0.06")

    def test_opus_4_6_fast_mode_is_6x(self) -> None:
        # extra.toml: 6x, i.e. $30 / $150
        # 1,000 x $30 + 1,000 x $150 = $0.03 + $0.15 = $0.18
        assert cost_of("claude-opus-4-6", usage(input=1_000, output=1_000, speed="fast")) == D("0.18")

    def test_fast_mode_on_a_model_without_a_fast_price_is_unpriced_not_standard(self) -> None:
        assert cost_of("claude-sonnet-4-6", usage(input=1_000, speed="fast")) is None


class TestWebSearch:
    def test_web_search_is_10_dollars_per_1000_requests(self) -> None:
        # 3 searches x $10/1,000 = $0.03; plus 1,000 input x $3 = $0.003; total $0.033
        assert cost_of("claude-sonnet-4-6", usage(input=1_000, searches=3)) == D("0.033")


class TestModelNames:
    @pytest.mark.parametrize(
        "name",
        [
            "claude-sonnet-4-5",
            "claude-sonnet-4-5-20250929",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",  # Bedrock
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",  # Bedrock inference profile
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "claude-sonnet-4-5@20250929",  # Vertex
            "projects/p/locations/global/publishers/anthropic/models/claude-sonnet-4-5@20250929",
        ],
    )
    def test_every_spelling_costs_the_same(self, name: str) -> None:
        # 1,000 input x $3 + 100 output x $15 = $0.003 + $0.0015 = $0.0045
        assert cost_of(name, usage(input=1_000, output=100)) == D("0.0045")

    def test_bedrock_opus_profile(self) -> None:
        # us.anthropic.claude-opus-4-6-v1:0 is claude-opus-4-6: 1,000 x $5 = $0.005
        assert cost_of("us.anthropic.claude-opus-4-6-v1:0", usage(input=1_000)) == D("0.005")

    def test_vertex_opus_4_1(self) -> None:
        # claude-opus-4-1@20250805: 1,000 output x $75 = $0.075
        assert cost_of("claude-opus-4-1@20250805", usage(output=1_000)) == D("0.075")

    def test_models_genai_prices_lacks_come_from_extra_toml(self) -> None:
        # Mythos 5 is priced as Fable 5 ($10 input): 1,000 x $10 = $0.01; dated ID too
        assert cost_of("claude-mythos-5", usage(input=1_000)) == D("0.01")
        assert cost_of("claude-mythos-5-20260609", usage(input=1_000)) == D("0.01")
        # Mythos Preview: $25/$125: 1,000 x $125 = $0.125
        assert cost_of("claude-mythos-preview", usage(output=1_000)) == D("0.125")

    def test_every_model_the_sdk_names_has_a_price(self) -> None:
        from typing import get_args

        from anthropic.types import Model

        names = [name for arg in get_args(Model) for name in get_args(arg)]
        assert names, "anthropic.types.Model lists no model IDs"
        table = load_prices()
        assert {name: table.resolve_model(name) for name in names if table.resolve_model(name) is None} == {}


class TestUnknownAndUnpriced:
    def test_unknown_model_costs_none_never_zero(self) -> None:
        assert cost_of("gpt-4o", usage(input=1_000, output=1_000)) is None
        assert cost_of("claude-nonexistent-9", usage(input=1_000)) is None
        assert breakdown("gpt-4o", usage(input=1_000)) is None
        assert cost_of(None, usage(input=1_000)) is None  # type: ignore[arg-type]  # a response with no model

    def test_priority_tier_without_contract_prices_is_unpriced(self) -> None:
        assert cost_of("claude-sonnet-4-6", usage(input=1_000), service_tier="priority") is None
        result = breakdown("claude-sonnet-4-6", usage(input=1_000, service_tier="priority"))
        assert result is not None and result.total is None and "contract" in result.notes[0]

    def test_a_known_model_with_no_tokens_costs_exactly_zero(self) -> None:
        assert cost_of("claude-sonnet-4-5", usage()) == D("0")

    def test_negative_counts_are_rejected(self) -> None:
        with pytest.raises(ValueError, match="negative"):
            cost_of("claude-sonnet-4-5", usage(input=-1))
