"""Per-minute totals of calls and attempts: what most dashboard panels add up, kept by the reader beside the rows.

Most of the dashboard's panels are sums and counts per model (cost, tokens, errors, retries, 429 rates, ...). Over
10M calls each of them scans 10M rows; over these tables, one row per minute and combination of the keys below
(about 20 times fewer rows), the same sums take a few milliseconds. `tracer.read.Store` keeps them in step with
its rows, in the same transaction (`refresh`): new rows' totals are added to the kept ones (`MERGE`), and the
minutes that a delete touched are summed again from the rows; the
named queries of `tracer.read` read them for the whole minutes of their window and the rows themselves
for the partial minutes at its edges, so the answers are exactly those of the rows.

The SQL here is written over a relation aliased `c` (calls) or `a` (attempts) with the views' column names, so the
same text builds the tables in the reader (over its tables) and the partial minutes in a query (over the views).

- `calls_by_minute`: per minute `t` (epoch microseconds of the minute's start, from `start_time`) and `CALL_KEYS`:
  `calls`, `cost_usd`, the token sums, the unpriced calls and their tokens and last time, `streamed` calls, what
  cache reads saved and cache writes cost beyond the input price, and the calls with cache tokens whose figures are
  not known.
- `attempts_by_minute`: per minute of the attempt's start `t`, minute of its call's start `call_t`, the call's
  model and service, and the attempt's `http_status`, `error_type` and `outcome`: `attempts`, the lowest rate-limit
  remainders and how many attempts reported one. Only attempts whose call is stored.
- `tags_by_minute`: per minute, model, service and tag key and value: `calls` and `cost_usd`.
"""

from __future__ import annotations

import functools
from typing import Any

from tracer.store.schema import COST

MINUTE_US = 60_000_000


def minute_of(column: str) -> str:
    """SQL: the epoch microseconds of the start of `column`'s minute (floored, also before 1970)."""
    return f"(epoch_us({column}) - (epoch_us({column}) % {MINUTE_US} + {MINUTE_US}) % {MINUTE_US})"


# A call is unpriced when its cost is unknown (never counted as 0): decided once, by capture and the writer (the
# `unpriced` column, with `unpriced_reason`), and only read here.
UNPRICED = "coalesce(c.unpriced, false)"

# A call whose cache figures are not known: it has cache tokens but no saving (unpriced, or written before schema 6,
# when they became columns). Counted, so that a page says so instead of adding it as 0.
CACHE_UNKNOWN = (
    "c.cache_read_saved_usd IS NULL AND (coalesce(c.cache_read_tokens, 0) > 0 OR coalesce(c.cache_write_tokens, 0) > 0)"
)

CALL_KEYS = ("model", "service_name", "operation", "status", "attempts")


def money_sum(column: str) -> str:
    """SQL: the sum of a DOUBLE money column, each value taken to the picodollar first (`cost_usd`'s DECIMAL), so
    that the totals and the rows, adding in different orders, give the same amount to the last digit."""
    return f"sum(({column})::{COST})"


TOKENS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens", "thinking_tokens")


def call_totals(t: str) -> str:
    """The SELECT list of the calls' totals per `t` (an SQL expression) and `CALL_KEYS`; GROUP BY ALL."""
    return ", ".join(
        [
            f"{t} AS t",
            *(f"c.{k}" for k in CALL_KEYS),
            "count(*) AS calls",
            "sum(c.cost_usd) AS cost_usd",
            *(f"sum(c.{k})::BIGINT AS {k}" for k in TOKENS),
            f"count(*) FILTER (WHERE {UNPRICED}) AS unpriced_calls",
            f"(sum(c.input_tokens) FILTER (WHERE {UNPRICED}))::BIGINT AS unpriced_input_tokens",
            f"(sum(c.output_tokens) FILTER (WHERE {UNPRICED}))::BIGINT AS unpriced_output_tokens",
            f"max(c.start_time) FILTER (WHERE {UNPRICED}) AS unpriced_last_seen",
            "count(c.ttft_ms) AS streamed",
            f"{money_sum('c.cache_read_saved_usd')} AS cache_read_saved_usd",
            f"{money_sum('c.cache_write_premium_usd')} AS cache_write_premium_usd",
            f"count(*) FILTER (WHERE {CACHE_UNKNOWN}) AS cache_unknown_calls",
        ]
    )


def attempt_totals(t: str, call_t: str, model: str, service: str) -> str:
    """The SELECT list of the attempts' totals per `t`, `call_t`, the call's `model` and `service` (SQL
    expressions) and the attempt's status, error type and outcome; GROUP BY ALL."""
    return (
        f"{t} AS t, {call_t} AS call_t, {model} AS model, {service} AS service_name, a.http_status, a.error_type, a.outcome,"
        " count(*) AS attempts,"
        " min(a.ratelimit_requests_remaining) AS requests_remaining,"
        " min(a.ratelimit_tokens_remaining) AS tokens_remaining,"
        " count(a.ratelimit_requests_remaining) + count(a.ratelimit_tokens_remaining) AS reported"
    )


def tag_totals(t: str) -> str:
    """The SELECT list of calls and cost per `t`, model, service and tag key and value, over
    `(SELECT c.*, unnest(map_entries(c.tags)) AS e FROM ... c)` aliased `c`; GROUP BY ALL."""
    return f"{t} AS t, c.model, c.service_name, c.e.key AS tag, c.e.value AS value, count(*) AS calls, sum(c.cost_usd) AS cost_usd"


# How the reader builds each table's rows for some minutes: from its `_calls` or `_attempts`, over the rows that a
# WHERE clause (over `c` or `a`) picks.
def build_calls(where: str) -> str:
    return f"SELECT {call_totals(minute_of('c.start_time'))} FROM _calls c {where} GROUP BY ALL"


def build_attempts(where: str) -> str:
    totals = attempt_totals(minute_of("a.start_time"), minute_of("a.call_start_time"), "a.call_model", "a.call_service_name")
    return f"SELECT {totals} FROM _attempts a {where} AND a.call_start_time IS NOT NULL GROUP BY ALL"


def build_tags(where: str) -> str:
    return (
        f"SELECT {tag_totals(minute_of('c.start_time'))} "
        f"FROM (SELECT c.start_time, c.model, c.service_name, c.cost_usd, unnest(map_entries(c.tags)) AS e FROM _calls c {where}) c "
        "GROUP BY ALL"
    )


# How each table's rows for the same keys add up, column by column: totals over more rows from the totals over their
# parts (the reader adds new rows' totals this way instead of summing every row of the minutes again).
MERGE: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "_calls_by_minute": (
        ("t", *CALL_KEYS),
        {
            "calls": "sum", "cost_usd": "sum", **dict.fromkeys(TOKENS, "sum"), "unpriced_calls": "sum",
            "unpriced_input_tokens": "sum", "unpriced_output_tokens": "sum", "unpriced_last_seen": "max",
            "streamed": "sum", "cache_read_saved_usd": "sum", "cache_write_premium_usd": "sum",
            "cache_unknown_calls": "sum",
        },
    ),
    "_attempts_by_minute": (
        ("t", "call_t", "model", "service_name", "http_status", "error_type", "outcome"),
        {"attempts": "sum", "requests_remaining": "min", "tokens_remaining": "min", "reported": "sum"},
    ),
    "_tags_by_minute": (("t", "model", "service_name", "tag", "value"), {"calls": "sum", "cost_usd": "sum"}),
}  # fmt: skip


def merge_sql(rollup: str, rows: str) -> str:
    """SQL: the rows of relation `rows` (rows of `rollup`, several for the same keys) added up, one per keys."""
    keys, columns = MERGE[rollup]
    totals = ", ".join(f"{how}({name}) AS {name}" for name, how in columns.items())
    return f"SELECT {', '.join(keys)}, {totals} FROM {rows} GROUP BY {', '.join(keys)}"


# How a kept total and a new one for the same keys add up, in SQL over `r` (kept) and `m` (new): NULL is no value
# (a sum of no values, a minimum of none), so the other one stands.
_ADD = {
    "sum": "coalesce(r.{0} + m.{0}, r.{0}, m.{0})",
    "min": "least(r.{0}, m.{0})",  # DuckDB's least and greatest pass NULLs over
    "max": "greatest(r.{0}, m.{0})",
}


def added(how: str, column: str) -> str:
    """SQL over `r` (kept) and `m` (new): `column`'s two values added up as `how` ("sum", "min", "max") says."""
    return _ADD[how].format(column)


def merge_into(con: Any, rollup: str, rows: str) -> None:
    """Add the rows of table `rows` (rows of `rollup`, one per keys) to `rollup`: each to the row with the same keys
    (NULL matching NULL), or as a new row."""
    keys, columns = MERGE[rollup]
    on = " AND ".join(f"r.{k} IS NOT DISTINCT FROM m.{k}" for k in keys)
    sets = ", ".join(f"{name} = {added(how, name)}" for name, how in columns.items())
    add_rows(con, rollup, rows, on, sets)


# `MERGE INTO` came with DuckDB 1.4 (2025-09); before it, the same is an UPDATE and an INSERT. None: ask DuckDB's
# version (the tests set it to run the other way on one version).
MERGE_STATEMENT: bool | None = None


def add_rows(con: Any, table: str, rows: str, on: str, sets: str) -> None:
    """Add table `rows` (alias `m`) to `table` (alias `r`): where `on` matches, `SET sets`; the others inserted."""
    if MERGE_STATEMENT if MERGE_STATEMENT is not None else _has_merge():
        con.execute(
            f"MERGE INTO {table} r USING {rows} m ON {on} WHEN MATCHED THEN UPDATE SET {sets} WHEN NOT MATCHED THEN INSERT BY NAME"
        )
        return
    con.execute(f"UPDATE {table} r SET {sets} FROM {rows} m WHERE {on}")
    con.execute(f"INSERT INTO {table} BY NAME SELECT m.* FROM {rows} m WHERE NOT EXISTS (SELECT 1 FROM {table} r WHERE {on})")


@functools.cache
def _has_merge() -> bool:
    import duckdb

    try:
        major, minor = (int(part) for part in str(duckdb.__version__).split(".")[:2])
    except ValueError:
        return True  # a development build: a new one
    return (major, minor) >= (1, 4)


# the reader's table -> (the view over it, the table its rows come from, its builder)
TABLES = {
    "_calls_by_minute": ("calls_by_minute", "calls", build_calls),
    "_attempts_by_minute": ("attempts_by_minute", "attempts", build_attempts),
    "_tags_by_minute": ("tags_by_minute", "calls", build_tags),
}
