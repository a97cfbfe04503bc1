"""The Savings page's queries: what would save money, each figure with the calls behind it and its method in one
line (`METHODS`), so that a reader can redo it.

- `caching`: what prompt caching saved (reads at the cache-read price instead of the input price, minus the
  premium paid for cache writes), per model, from the figures capture recorded on each call.
- `cache_rewrites`: what conversations paid to write again a prefix they had already cached, per model.
- `batch_candidates`: spend on calls nobody waited on (not streamed, outside any conversation, Messages calls that
  succeeded), which the Batch API bills at half price, per tag.
- `what_if`: the same tokens at another model's list prices (`tracer.cost`'s price table), per model; a what-if,
  never a measurement.
- `retry_time`: time lost before the final attempt of retried calls, and after 429s.
"""

from __future__ import annotations

import pandas as pd

from tracer.cost import default_table
from tracer.read._filters import Filters, and_, where
from tracer.read._rollup import CACHE_UNKNOWN, money_sum
from tracer.read._store import Readable
from tracer.read._totals import attempts_of, sum_
from tracer.read.overview import cache_savings

BATCH_DISCOUNT = 0.5  # the Message Batches API bills input and output at half the standard price

METHODS = {
    "caching": "Cache-read tokens x (input price - cache-read price), minus cache-write tokens x (write price - input "
               "price), at the prices each call was billed at (recorded with its cost); calls whose figures are not "
               "known are counted apart, never as $0.",
    "rewrites": "Turns of a conversation that wrote a cache prefix again (`cache_rewrite`): their cache-write tokens x "
                "(write price - input price), recorded with each call's cost.",
    "batch": "Non-streamed Messages calls that succeeded outside any conversation (nobody read them as they came): "
             "their cost x 50%, the Batch API's discount.",
    "what_if": "Each call's tokens by kind (uncached input, output, cache read, 5-minute and 1-hour cache write) x the "
               "other model's list prices: a what-if at the price table's rates, not a measurement.",
    "retries": "Per retried call, from its start to the start of its final attempt; after 429s: from each 429 answer's "
               "start to the next attempt's start (its retry-after wait included).",
}  # fmt: skip
"""Each figure's method, in one line: the page shows it under the figure."""


def caching(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per model: cache tokens and what caching saved (`saved_usd` = `read_saved_usd` - `write_premium_usd`)."""
    return cache_savings(store, filters)


def cache_rewrites(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per model: conversation turns that wrote their cache prefix again, their cache-write tokens (5-minute and
    1-hour) and the premium those writes cost over plain input (`premium_usd`, as capture put it on each call;
    NaN when no turn's premium is known), and `unknown_turns`: turns whose premium is not known (unpriced, or
    stored before schema 6) and is not in the sum."""
    clause, params = where(filters)
    return store.sql(
        f"""
        SELECT c.model, count(*) AS turns, {sum_('c.cache_write_tokens')} AS cache_write_tokens,
               {sum_('c.cache_write_1h_tokens')} AS cache_write_1h_tokens, sum(c.cost_usd)::DOUBLE AS cost_usd,
               {money_sum('c.cache_write_premium_usd')}::DOUBLE AS premium_usd,
               count(*) FILTER (WHERE {CACHE_UNKNOWN}) AS unknown_turns
        FROM calls c {and_(clause, "c.span_id IN (SELECT v.span_id FROM conversations v WHERE v.cache_rewrite)")}
        GROUP BY c.model ORDER BY cache_write_tokens DESC, c.model
        """,
        params,
    )


def _batchable(filters: Filters) -> tuple[str, list[object]]:
    clause, params = where(filters)
    return and_(clause, "NOT c.streaming AND c.operation = 'chat' AND c.conversation_id IS NULL AND c.status = 'ok' "
                        "AND c.cost_usd IS NOT NULL"), params  # fmt: skip


def batch_candidates(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per tag (key=value, `(untagged)` for calls without tags): the calls that could have gone through the Batch
    API, their cost and what the batch discount would have saved (`saving_usd`). A call with two tags is in two
    rows: the total is `batch_total`."""
    clause, params = _batchable(filters)
    return store.sql(
        f"""
        WITH b AS (SELECT c.cost_usd, CASE WHEN cardinality(c.tags) = 0 THEN [{{'key': '(untagged)', 'value': NULL}}]
                                          ELSE map_entries(c.tags) END AS entries FROM calls c {clause}),
             pairs AS (SELECT unnest(entries) AS e, cost_usd FROM b)
        SELECT e.key || coalesce('=' || e.value, '') AS tag, count(*) AS calls, sum(cost_usd)::DOUBLE AS cost_usd,
               sum(cost_usd)::DOUBLE * ? AS saving_usd
        FROM pairs GROUP BY 1 ORDER BY cost_usd DESC, tag
        """,
        [*params, BATCH_DISCOUNT],
    )


def batch_total(store: Readable, filters: Filters) -> pd.DataFrame:
    """One row: the calls that could have gone through the Batch API, their cost and the discount's saving."""
    clause, params = _batchable(filters)
    return store.sql(
        f"SELECT count(*) AS calls, coalesce(sum(c.cost_usd), 0)::DOUBLE AS cost_usd, "
        f"coalesce(sum(c.cost_usd), 0)::DOUBLE * ? AS saving_usd FROM calls c {clause}",
        [BATCH_DISCOUNT, *params],
    )


def _token_sums(store: Readable, filters: Filters) -> pd.DataFrame:
    clause, params = where(filters)
    return store.sql(
        f"""
        SELECT c.model, count(*) AS calls, sum(c.cost_usd)::DOUBLE AS cost_usd,
               {sum_('c.input_tokens')} AS input_tokens, {sum_('c.output_tokens')} AS output_tokens,
               {sum_('c.cache_read_tokens')} AS cache_read_tokens,
               {sum_('coalesce(c.cache_write_tokens, 0) - coalesce(c.cache_write_1h_tokens, 0)')} AS cache_write_5m_tokens,
               {sum_('c.cache_write_1h_tokens')} AS cache_write_1h_tokens
        FROM calls c {and_(clause, "c.cost_usd IS NOT NULL")}
        GROUP BY c.model ORDER BY cost_usd DESC, c.model
        """,
        params,
    )


# The columns of `_token_sums` and the price table's token kinds they are priced at.
_KINDS = {"input_tokens": "input", "output_tokens": "output", "cache_read_tokens": "cache_read",
          "cache_write_5m_tokens": "cache_write_5m", "cache_write_1h_tokens": "cache_write_1h"}  # fmt: skip


def what_if(store: Readable, filters: Filters, target: str) -> pd.DataFrame:
    """Per model of the priced calls in `filters`: calls, what they cost (`cost_usd`) and what the same tokens would
    have cost at `target`'s list prices (`target_usd`; NaN when `target` has no price)."""
    frame = _token_sums(store, filters)
    prices = default_table().list_prices(target)
    if prices is None:
        frame["target_usd"] = pd.Series(float("nan"), index=frame.index, dtype="float64")
    else:
        frame["target_usd"] = sum(frame[column].astype("float64") * float(prices[kind]) / 1e6 for column, kind in _KINDS.items())
    frame["change_usd"] = frame["target_usd"] - frame["cost_usd"]
    return frame


def retry_time(store: Readable, filters: Filters) -> pd.DataFrame:
    """One row: retried calls, the time they spent before their final attempt (`lost_s`), the 429 answers and the
    time from each to the next attempt (`after_429_s`)."""
    source, params = attempts_of(filters)
    return store.sql(
        f"""
        WITH a AS (SELECT a.call_span_id, a.trace_id, a.call_start_time, a.attempt, a.start_time, a.duration_ms, a.outcome,
                          lead(a.start_time) OVER (PARTITION BY a.trace_id, a.call_span_id ORDER BY a.attempt) AS next_start
                   FROM {source}),
             per_call AS (SELECT count(*) AS attempts,
                                 epoch_us(max_by(start_time, attempt)) - epoch_us(any_value(call_start_time)) AS before_final_us
                          FROM a GROUP BY trace_id, call_span_id)
        SELECT (SELECT count(*) FROM per_call WHERE attempts > 1) AS retried_calls,
               (SELECT coalesce(sum(before_final_us) FILTER (WHERE attempts > 1), 0) / 1e6 FROM per_call)::DOUBLE AS lost_s,
               (SELECT count(*) FROM a WHERE outcome = '429') AS answers_429,
               (SELECT coalesce(sum(CASE WHEN next_start IS NULL THEN duration_ms * 1000
                                         ELSE epoch_us(next_start) - epoch_us(start_time) END), 0) / 1e6
                  FROM a WHERE outcome = '429')::DOUBLE AS after_429_s
        """,
        params,
    )


def priced_models(store: Readable, filters: Filters) -> pd.DataFrame:
    """The models of `filters`' calls that have list prices: the what-if's choices."""
    frame = store.sql("SELECT DISTINCT model FROM calls WHERE model IS NOT NULL ORDER BY model")
    table = default_table()
    return frame[[table.list_prices(m) is not None for m in frame["model"]]].reset_index(drop=True)
