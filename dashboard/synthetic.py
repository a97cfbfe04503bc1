"""Synthetic traffic as a DuckDB file with the store's `calls`, `attempts` and `events` columns (DESIGN.md).

For the dashboard benchmark (a million calls in a few seconds) and for trying the dashboard on volume:
`python -m dashboard.synthetic out.duckdb --calls 1000000`, then `tracer dashboard --store out.duckdb`.
Generated entirely inside DuckDB from hashes of the row number, so the same arguments give the same data.
The attempts of a call are consistent with it: retries follow 429/529/5xx/timeouts, the gaps between attempts
are the retry-after or backoff waits, and a call lasts from its first attempt's start to its last one's end.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

# (model, share of calls, median latency ms, USD per million input tokens, per million output tokens);
# a None price makes the model unpriced: its calls have a NULL cost, never 0.
MODELS: tuple[tuple[str, float, float, float | None, float | None], ...] = (
    ("claude-sonnet-4-5", 0.45, 2400.0, 3.0, 15.0),
    ("claude-haiku-4-5", 0.30, 800.0, 1.0, 5.0),
    ("claude-opus-4-5", 0.15, 5200.0, 5.0, 25.0),
    ("claude-sonnet-4-6", 0.08, 2100.0, 3.0, 15.0),
    ("claude-internal-preview", 0.02, 3000.0, None, None),
)
SERVICES = ("search-api", "chat-worker")
FEATURES = ("search", "summarise", "chat")
CUSTOMERS = ("acme", "globex", "initech")


def write(
    path: str | Path,
    calls: int = 10_000,
    *,
    end: dt.datetime | None = None,
    window: dt.timedelta = dt.timedelta(hours=24),
    seed: int = 0,
) -> Path:
    """Write `calls` synthetic calls spread over `window` before `end` (default now) into a new DuckDB file."""
    import duckdb

    target = Path(path)
    if target.exists():
        target.unlink()
    end = end or dt.datetime.now(dt.UTC)
    con = duckdb.connect(str(target))
    try:
        con.execute(f"CREATE TEMP MACRO rnd(i, k) AS (hash(i, k, {int(seed)}) % 1000000)::DOUBLE / 1000000.0")
        con.execute("CREATE TEMP MACRO gauss(i, k) AS sqrt(-2 * ln(greatest(rnd(i, k), 1e-9))) * cos(2 * pi() * rnd(i, k + 1000))")
        cumulative, acc = [], 0.0
        for _, share, *_ in MODELS:
            acc += share
            cumulative.append(acc)
        con.execute(
            "CREATE TEMP TABLE models AS SELECT * FROM (VALUES "
            + ", ".join("(?, ?, ?, ?, ?, ?)" for _ in MODELS)
            + ") v(idx, name, upper, median_ms, price_in, price_out)",
            [value for idx, (name, _, median, pin, pout) in enumerate(MODELS) for value in (idx, name, cumulative[idx], median, pin, pout)],
        )
        con.execute(
            """
            CREATE TEMP TABLE base AS
            SELECT r.i,
                   ?::TIMESTAMPTZ - to_microseconds((? * rnd(r.i, 1))::BIGINT) AS start_time,
                   (SELECT min(idx) FROM models WHERE upper >= rnd(r.i, 2) * 0.999999) AS mi,
                   CASE WHEN rnd(r.i, 3) < 0.90 THEN 1 WHEN rnd(r.i, 3) < 0.96 THEN 2 WHEN rnd(r.i, 3) < 0.99 THEN 3 ELSE 4 END AS attempts,
                   rnd(r.i, 4) < 0.025 AS failed,
                   rnd(r.i, 5) < 0.5 AS streaming,
                   (100 + 4000 * rnd(r.i, 6) ^ 2)::BIGINT AS input_tokens,
                   CASE WHEN rnd(r.i, 7) < 0.4 THEN (2000 + 30000 * rnd(r.i, 8))::BIGINT ELSE 0 END AS cache_read_tokens,
                   CASE WHEN rnd(r.i, 9) < 0.1 THEN (1000 + 10000 * rnd(r.i, 10))::BIGINT ELSE 0 END AS cache_write_tokens,
                   rnd(r.i, 11) < 0.2 AS write_1h,
                   (50 + 1500 * rnd(r.i, 12))::BIGINT AS output_tokens,
                   rnd(r.i, 13) < 0.3 AS thinking,
                   rnd(r.i, 14) < 0.6 AS search_api,
                   rnd(r.i, 15) < 0.9 AS tagged
            FROM range(?) r(i)
            """,
            [end, int(window.total_seconds() * 1_000_000), int(calls)],
        )
        # Every attempt but a successful call's last one failed; kinds 0..3 = 429, 529, 500, timeout.
        con.execute(
            """
            CREATE TEMP TABLE att AS
            WITH a AS (
                SELECT b.i, j AS attempt, b.attempts, b.mi, b.start_time,
                       (j < b.attempts - 1 OR b.failed) AS is_failure,
                       CASE WHEN rnd(b.i, 20 + j) < 0.6 THEN 0 WHEN rnd(b.i, 20 + j) < 0.8 THEN 1
                            WHEN rnd(b.i, 20 + j) < 0.93 THEN 2 ELSE 3 END AS kind
                FROM base b, unnest(range(b.attempts)) AS u(j)
            ), d AS (
                SELECT a.*, m.median_ms,
                       CASE WHEN NOT is_failure THEN m.median_ms * exp(0.45 * gauss(a.i, 30 + attempt))
                            WHEN kind = 0 THEN 20 + 60 * rnd(a.i, 40 + attempt)
                            WHEN kind = 1 THEN 50 + 150 * rnd(a.i, 40 + attempt)
                            WHEN kind = 2 THEN 80 + 400 * rnd(a.i, 40 + attempt)
                            ELSE 10000.0 END AS duration_ms,
                       CASE WHEN is_failure AND kind = 0 THEN 1 + floor(4 * rnd(a.i, 50 + attempt)) END AS retry_after_s
                FROM a JOIN models m ON m.idx = a.mi
            ), g AS (
                -- the SDK waits retry-after when given, else its backoff (0.5 s doubling), before the next attempt
                SELECT d.*,
                       coalesce(lag(coalesce(retry_after_s, 0.5 * 2 ^ (attempt)) * 1000) OVER w, 0) AS gap_ms
                FROM d WINDOW w AS (PARTITION BY i ORDER BY attempt)
            )
            SELECT g.*,
                   sum(gap_ms) OVER w2 + coalesce(sum(duration_ms) OVER w2 - duration_ms, 0) AS offset_ms
            FROM g WINDOW w2 AS (PARTITION BY i ORDER BY attempt ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
            """
        )
        con.execute(
            """
            CREATE TABLE attempts AS
            SELECT printf('%016x%016x', hash(a.i, 't1', ?), hash(a.i, 't2', ?)) AS trace_id,
                   printf('%016x', hash(a.i, a.attempt, 'a', ?)) AS span_id,
                   printf('%016x', hash(a.i, 's', ?)) AS call_span_id,
                   a.start_time + to_microseconds((a.offset_ms * 1000)::BIGINT) AS start_time,
                   a.duration_ms,
                   a.attempt::INTEGER AS attempt,
                   CASE WHEN NOT a.is_failure THEN 200 WHEN kind = 0 THEN 429 WHEN kind = 1 THEN 529 WHEN kind = 2 THEN 500 END::INTEGER AS http_status,
                   CASE WHEN NOT a.is_failure THEN NULL WHEN kind = 0 THEN '429' WHEN kind = 1 THEN '529' WHEN kind = 2 THEN '500' ELSE 'timeout' END AS error_type,
                   a.retry_after_s::DOUBLE AS retry_after_s,
                   CASE WHEN a.is_failure AND kind = 0 THEN 0
                        ELSE (2000 - 1500 * (0.5 + 0.5 * sin(epoch(a.start_time) / 5400.0)) - 100 * rnd(a.i, 60))::BIGINT END AS ratelimit_requests_remaining,
                   CASE WHEN a.is_failure AND kind = 0 THEN 0
                        ELSE (400000 - 300000 * (0.5 + 0.5 * sin(epoch(a.start_time) / 5400.0 + 1)) - 20000 * rnd(a.i, 61))::BIGINT END AS ratelimit_tokens_remaining,
                   CASE WHEN kind = 3 AND a.is_failure THEN NULL ELSE printf('req_%016x', hash(a.i, a.attempt, 'r', ?)) END AS request_id,
                   a.i AS call_index
            FROM att a
            ORDER BY start_time
            """,
            [seed] * 5,
        )
        con.execute(
            """
            CREATE TABLE calls AS
            WITH last AS (
                SELECT call_index AS i, max(epoch_us(start_time) + (duration_ms * 1000)::BIGINT) AS end_us
                FROM attempts GROUP BY call_index
            )
            SELECT printf('%016x%016x', hash(b.i, 't1', ?), hash(b.i, 't2', ?)) AS trace_id,
                   printf('%016x', hash(b.i, 's', ?)) AS span_id,
                   b.start_time,
                   (l.end_us - epoch_us(b.start_time)) / 1000.0 AS duration_ms,
                   'chat' AS operation,
                   m.name AS model,
                   CASE WHEN b.failed THEN NULL ELSE m.name END AS response_model,
                   b.streaming,
                   CASE WHEN b.failed THEN 'error' ELSE 'ok' END AS status,
                   lt.error_type,
                   lt.http_status,
                   b.attempts::INTEGER AS attempts,
                   CASE WHEN b.failed THEN 0 ELSE b.input_tokens END AS input_tokens,
                   CASE WHEN b.failed THEN 0 ELSE b.cache_read_tokens END AS cache_read_tokens,
                   CASE WHEN b.failed THEN 0 ELSE b.cache_write_tokens END AS cache_write_tokens,
                   CASE WHEN b.failed OR NOT b.write_1h THEN 0 ELSE b.cache_write_tokens END AS cache_write_1h_tokens,
                   CASE WHEN b.failed THEN 0 ELSE b.output_tokens END AS output_tokens,
                   CASE WHEN b.failed OR NOT b.thinking THEN 0 ELSE (b.output_tokens * 0.3)::BIGINT END AS thinking_tokens,
                   CASE WHEN b.streaming AND NOT b.failed
                        THEN (l.end_us - epoch_us(b.start_time)) / 1000.0 - (1 - 0.15 - 0.2 * rnd(b.i, 70)) * lt.duration_ms END AS ttft_ms,
                   CASE WHEN m.price_in IS NULL THEN NULL
                        WHEN b.failed THEN 0
                        ELSE (b.input_tokens * m.price_in + b.cache_read_tokens * m.price_in * 0.1
                              + CASE WHEN b.write_1h THEN b.cache_write_tokens * m.price_in * 2 ELSE b.cache_write_tokens * m.price_in * 1.25 END
                              + b.output_tokens * m.price_out) / 1e6 END::DECIMAL(18, 9) AS cost_usd,
                   CASE WHEN b.search_api THEN ? ELSE ? END AS service_name,
                   CASE WHEN b.tagged THEN map(['feature', 'customer'], [?[1 + (hash(b.i, 'f') % 3)::INTEGER], ?[1 + (hash(b.i, 'c') % 3)::INTEGER]])
                        ELSE map([]::VARCHAR[], []::VARCHAR[]) END AS tags
            FROM base b
            JOIN models m ON m.idx = b.mi
            JOIN last l ON l.i = b.i
            JOIN attempts lt ON lt.call_index = b.i AND lt.attempt = b.attempts - 1
            ORDER BY b.start_time
            """,
            [seed, seed, seed, SERVICES[0], SERVICES[1], list(FEATURES), list(CUSTOMERS)],
        )
        con.execute("ALTER TABLE attempts DROP COLUMN call_index")
        _write_events(con, end, window)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return target


def _write_events(con: object, end: dt.datetime, window: dt.timedelta) -> None:
    """A breaker per busy model opening and recovering a few times; budget warnings then a trip."""
    rows: list[tuple[object, ...]] = []
    start = end - window
    for b, name in enumerate(("claude-opus-4-5", "claude-sonnet-4-5")):
        for cycle in range(3):
            t = start + window * (0.15 + 0.27 * cycle + 0.05 * b)
            rows.append((t, "breaker_transition", name, "closed", "open", '{"reason": "5 consecutive failures"}'))
            rows.append((t + dt.timedelta(seconds=30), "breaker_transition", name, "open", "half_open", "{}"))
            rows.append((t + dt.timedelta(seconds=31), "breaker_transition", name, "half_open", "closed", "{}"))
            rows.append((t, "breaker_rejected", name, None, None, '{"calls": 12}'))
    for k, fraction in enumerate((0.5, 0.7, 0.9)):
        rows.append((start + window * fraction, "budget_warning", "daily", None, None, f'{{"spent_usd": {20 + 10 * k}, "limit_usd": 50}}'))
    rows.append((start + window * 0.97, "budget_trip", "daily", "under", "over", '{"spent_usd": 50.2, "limit_usd": 50}'))
    con.execute(  # type: ignore[attr-defined]
        "CREATE TABLE events (time TIMESTAMPTZ, kind VARCHAR, name VARCHAR, from_state VARCHAR, to_state VARCHAR, attributes JSON)"
    )
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?)", rows)  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write(args.path, args.calls, window=dt.timedelta(hours=args.hours), seed=args.seed)
    print(args.path)


if __name__ == "__main__":
    main()
