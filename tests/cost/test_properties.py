"""Properties of the arithmetic over many random calls: monotonic, exactly linear within a tier, batch is
exactly half, and the standard price agrees with genai-prices' own calculator on its bundled data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from tracer.cost import TokenCounts, load_prices

TABLE = load_prices()
KINDS = ("input", "cache_write_5m", "cache_write_1h", "cache_read", "output", "web_search")
# Tiered and flat models; prompts stay at or below 100k so that every model stays in its base tier.
MODELS = ["claude-sonnet-4-5", "claude-haiku-5-5", "claude-opus-4-6", "claude-sonnet-5-5", "claude-haiku-4-5"]
AT = dt.date(2026, 11, 1)
PROMPT_CAP = 25_000  # per prompt kind: 4 kinds x 25k = 100k, the lowest tier boundary


def counts_strategy() -> st.SearchStrategy[TokenCounts]:
    prompt = st.integers(0, PROMPT_CAP)
    return st.builds(
        TokenCounts,
        input=prompt,
        cache_write_5m=prompt,
        cache_write_1h=prompt,
        cache_read=prompt,
        output=st.integers(0, 200_000),
        web_search=st.integers(0, 50),
    )


def cost(model: str, counts: TokenCounts, **kwargs: object) -> Decimal:
    value = TABLE.cost_of(model, counts, at=AT, **kwargs)  # type: ignore[arg-type]
    assert value is not None
    return value


def with_kind(counts: TokenCounts, kind: str, value: int) -> TokenCounts:
    fields = {name: getattr(counts, name) for name in ("input", *KINDS[1:])}
    fields[kind] = value
    return TokenCounts(**fields)


@settings(max_examples=150, deadline=None)
@given(
    model=st.sampled_from(MODELS), counts=counts_strategy(), kind=st.sampled_from(KINDS), extra=st.integers(0, 5_000)
)
def test_cost_never_decreases_when_a_count_grows(model: str, counts: TokenCounts, kind: str, extra: int) -> None:
    grown = with_kind(counts, kind, getattr(counts, kind) + extra)
    assert cost(model, grown) >= cost(model, counts)


@settings(max_examples=150, deadline=None)
@given(model=st.sampled_from(MODELS), counts=counts_strategy(), kind=st.sampled_from(KINDS), n=st.integers(0, 5_000))
def test_cost_is_exactly_linear_in_each_count(model: str, counts: TokenCounts, kind: str, n: int) -> None:
    """cost(x + n * e_k) = cost(x) + n * (price of one unit of k): exact in Decimal, no rounding anywhere."""
    one = cost(model, with_kind(TokenCounts(), kind, 1))
    grown = with_kind(counts, kind, getattr(counts, kind) + n)
    assert cost(model, grown) == cost(model, counts) + n * one


@settings(max_examples=100, deadline=None)
@given(model=st.sampled_from(MODELS), counts=counts_strategy())
def test_batch_is_exactly_half_of_every_token_price(model: str, counts: TokenCounts) -> None:
    searches = with_kind(TokenCounts(), "web_search", counts.web_search)
    tokens = with_kind(counts, "web_search", 0)
    assert cost(model, tokens, batch=True) * 2 == cost(model, tokens)
    # web search is not discounted in a batch
    assert cost(model, searches, batch=True) == cost(model, searches)


@settings(max_examples=100, deadline=None)
@given(
    model=st.sampled_from([*MODELS, "claude-sonnet-4-6", "claude-opus-4-8", "claude-fable-5-2"]),
    counts=counts_strategy(),
    big=st.booleans(),
)
def test_standard_prices_agree_with_genai_prices_own_calculator(model: str, counts: TokenCounts, big: bool) -> None:
    from genai_prices import Usage
    from genai_prices.data_snapshot import _bundled_snapshot

    if big:  # cross the long-context tier on tiered models
        counts = with_kind(counts, "input", counts.input + 200_000)
    counts = with_kind(counts, "web_search", 0)  # genai-prices has no web-search usage key for Anthropic
    theirs = _bundled_snapshot().calc(
        Usage(
            input_tokens=counts.prompt_tokens,
            cache_write_tokens=counts.cache_write_5m + counts.cache_write_1h,
            cache_write_1h_tokens=counts.cache_write_1h,
            cache_read_tokens=counts.cache_read,
            output_tokens=counts.output,
        ),
        model,
        "anthropic",
        None,
        dt.datetime(AT.year, AT.month, AT.day, tzinfo=dt.UTC),
    )
    assert cost(model, counts) == theirs.total_price
