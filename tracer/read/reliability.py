"""The Reliability page's queries: 429/529/5xx/timeout rates per HTTP attempt, retries, rate-limit headroom,
circuit-breaker states, budget trips and the other resilience events."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from tracer.read._buckets import bucket_for, bucket_params, bucket_us, with_width
from tracer.read._filters import Filters, events_where
from tracer.read._store import Readable
from tracer.read._totals import attempt_totals, call_totals, sum_

# Counted by the attempt's `outcome` column: classified once, at capture (`tracer._derived.attempt_outcome`).
_ATTEMPT_KINDS = f"""
       {sum_('attempts')} AS attempts,
       {sum_('attempts', "outcome = '429'")} AS rate_limited,
       {sum_('attempts', "outcome = '529'")} AS overloaded,
       {sum_('attempts', "outcome = '5xx'")} AS server_errors,
       {sum_('attempts', "outcome = 'timeout'")} AS timeouts,
       {sum_('attempts', "outcome = 'connection'")} AS connection_errors"""

_ATTEMPT_RATES = """
       rate_limited / attempts AS rate_429, overloaded / attempts AS rate_529,
       server_errors / attempts AS rate_5xx, timeouts / attempts AS rate_timeout,
       connection_errors / attempts AS rate_connection"""


def error_rates(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per model: attempts, counts and rates (per attempt) of 429, 529, other 5xx, timeouts, connection errors."""
    totals, params = attempt_totals(filters)
    return store.sql(
        f"""
        WITH p AS ({totals}), k AS (SELECT model, {_ATTEMPT_KINDS} FROM p GROUP BY ALL)
        SELECT *, {_ATTEMPT_RATES} FROM k ORDER BY attempts DESC, model
        """,
        params,
    )


def error_rates_over_time(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per time bucket and model: attempts and the 429/529/5xx/timeout rates (per attempt)."""
    size = bucket_for(store, filters)
    totals, params = attempt_totals(filters, size)
    frame = store.sql(
        f"""
        WITH p AS ({totals}),
             k AS (SELECT make_timestamptz({bucket_us('t')}) AS bucket, model, {_ATTEMPT_KINDS} FROM p GROUP BY ALL)
        SELECT *, {_ATTEMPT_RATES} FROM k ORDER BY bucket, model
        """,
        [*params, *bucket_params(size)],
    )
    return with_width(frame, size)


def retries_by_model(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per model: calls, retries (attempts beyond the first), retries per call, calls that needed a retry."""
    totals, params = call_totals(filters)
    return store.sql(
        f"""
        WITH p AS ({totals})
        SELECT model, {sum_('calls')} AS calls,
               {sum_('(attempts - 1) * calls')} AS retries,
               coalesce(sum((attempts - 1) * calls) / sum(calls) FILTER (WHERE attempts IS NOT NULL), 0)::DOUBLE AS retries_per_call,
               {sum_('calls', 'attempts > 1')} AS retried_calls
        FROM p
        GROUP BY model ORDER BY retries DESC, model
        """,
        params,
    )


def attempts_distribution(store: Readable, filters: Filters) -> pd.DataFrame:
    """How many calls took 1, 2, 3, ... HTTP attempts, and their final status."""
    totals, params = call_totals(filters)
    return store.sql(
        f"""
        WITH p AS ({totals})
        SELECT attempts, status, {sum_('calls')} AS calls
        FROM p
        GROUP BY ALL ORDER BY attempts, status
        """,
        params,
    )


def ratelimit_headroom(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per time bucket and model: the lowest requests and tokens remaining that the API reported."""
    size = bucket_for(store, filters)
    totals, params = attempt_totals(filters, size)
    frame = store.sql(
        f"""
        WITH p AS ({totals})
        SELECT make_timestamptz({bucket_us('t')}) AS bucket, model,
               min(requests_remaining) AS requests_remaining,
               min(tokens_remaining) AS tokens_remaining
        FROM p
        GROUP BY ALL
        HAVING sum(reported) > 0
        ORDER BY bucket, model
        """,
        [*params, *bucket_params(size)],
    )
    return with_width(frame, size)


def breaker_timeline(store: Readable, filters: Filters) -> pd.DataFrame:
    """Per breaker (`name`): each state it entered (`state`), from `start` until the next transition (`finish`;
    the end of the window, or now, for the last one)."""
    clause, params = events_where(filters)
    extra = ("AND " if clause else "WHERE ") + "e.kind = 'breaker_transition'"
    finish = filters.end or dt.datetime.now(dt.UTC)
    return store.sql(
        f"""
        SELECT e.name, e.from_state, e.to_state AS state, e.time AS start,
               coalesce(lead(e.time) OVER (PARTITION BY e.name ORDER BY e.time), greatest(?, e.time)) AS finish
        FROM events e {clause} {extra}
        ORDER BY e.name, e.time
        """,
        [finish, *params],
    )


def budget_events(store: Readable, filters: Filters) -> pd.DataFrame:
    """Budget trips and warnings folded per kind and budget: how many, first and last time, and the latest one's
    details; trips first (one trip matters more than a hundred soft-cap warnings), then the most frequent."""
    clause, params = events_where(filters)
    extra = ("AND " if clause else "WHERE ") + "e.kind LIKE 'budget%'"
    return store.sql(
        f"""SELECT e.kind, e.name, count(*) AS events, min(e.time) AS first, max(e.time) AS last,
                   CAST(arg_max(e.attributes, e.time) AS VARCHAR) AS attributes
            FROM events e {clause} {extra}
            GROUP BY e.kind, e.name ORDER BY e.kind = 'budget_trip' DESC, events DESC, e.kind, e.name""",
        params,
    )


def events_summary(store: Readable, filters: Filters) -> pd.DataFrame:
    """Resilience events per kind and name: count, first and last time."""
    clause, params = events_where(filters)
    return store.sql(
        f"SELECT e.kind, e.name, count(*) AS events, min(e.time) AS first, max(e.time) AS last FROM events e {clause} "
        "GROUP BY e.kind, e.name ORDER BY e.kind LIKE '%trip%' DESC, events DESC, e.kind, e.name",
        params,
    )
