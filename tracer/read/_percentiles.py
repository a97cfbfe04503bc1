"""Exact percentiles in two passes: what `quantile_cont` gives, to the last bit, in a fraction of its time over
millions of calls."""

from __future__ import annotations

import functools
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import pandas as pd

from tracer.read._filters import Filters, and_, where
from tracer.read._store import Readable

log = logging.getLogger(__name__)

# Latency leaves out Message Batches results (operation 'batch'): capture records them with duration 0 when the
# application reads a batch's results, so they would pull every percentile down. Cost queries count them.
TIMED = "c.operation IS DISTINCT FROM 'batch'"
P3 = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Percentiles:
    """One set of percentiles to compute exactly: of `value` (SQL over the calls `c`), per `key` (SQL giving an
    integer per group: `hash(c.model)`, or `0` for all rows at once), over the rows where `extra` holds as well.
    The first pass's buckets are `value` rounded down to whole units."""

    key: str
    value: str
    quantiles: tuple[float, ...]
    extra: str = ""
    key_params: tuple[Any, ...] = ()
    extra_params: tuple[Any, ...] = ()  # the parameters of `extra`, after the filters' own

    def bucket(self) -> str:
        # floor() never decreases as the value grows, so the buckets keep the values' order. A value too big for
        # BIGINT (or NaN) fails the cast and the whole computation falls back to quantile_cont.
        return f"floor({self.value})::BIGINT"

    def source(self, clause: str) -> str:
        return f"FROM calls c {and_(clause, ' AND '.join([f'{self.value} IS NOT NULL', *([self.extra] if self.extra else [])]))}"


def exact_percentiles(store: Readable, filters: Filters, sets: Sequence[Percentiles]) -> list[dict[int, list[float | None]]]:
    """For each set, {key: [its quantiles, in order]}: exactly what `quantile_cont(value, [q, ...])` per key
    gives (keys without a value are absent), in a fraction of the time over millions of rows.

    `quantile_cont` copies every value of a group and partially sorts them on one core. Here a first pass counts the values per key and whole unit (a parallel hash aggregate over two
    integers) and keeps, per key, the buckets that hold a wanted rank (`floor` and `ceil` of (n - 1) * q); a
    second fetches the values of only those buckets, sorted (about 0.1 % of them). The ranks' values are then
    interpolated as DuckDB does (`interpolate`)."""
    clause, params = where(filters)
    try:
        return _two_passes(store, clause, params, sets)
    except Exception:  # a value that does not fit a BIGINT bucket (NaN, 1e300): the one-pass way
        log.debug("exact percentiles in two passes failed; quantile_cont instead", exc_info=True)
    results: list[dict[int, list[float | None]]] = []
    for s in sets:
        frame = store.sql(
            f"SELECT {s.key} AS k, quantile_cont({s.value}, ?::DOUBLE[]) AS q {s.source(clause)} GROUP BY ALL",
            [*s.key_params, list(s.quantiles), *params, *s.extra_params],
        )
        results.append({int(k): [None if pd.isna(v) else float(v) for v in q] for k, q in frame.itertuples(index=False)})
    return results


def _two_passes(store: Readable, clause: str, params: list[Any], sets: Sequence[Percentiles]) -> list[dict[int, list[float | None]]]:
    parts, args = [], []
    for index, s in enumerate(sets):
        parts.append(f"SELECT {index} AS s, {s.key} AS k, {s.bucket()} AS b, count(*) AS n {s.source(clause)} GROUP BY ALL")
        args.extend([*s.key_params, *params, *s.extra_params])
    # Per set and key: the buckets that hold a wanted rank, each with the rank of its first value (`lo`).
    found = store.sql(
        f"""
        WITH h AS MATERIALIZED ({" UNION ALL ".join(parts)}),
             c AS MATERIALIZED (
                SELECT s, k, b, n, (sum(n) OVER (PARTITION BY s, k ORDER BY b) - n)::BIGINT AS lo,
                       (sum(n) OVER (PARTITION BY s, k))::BIGINT AS total FROM h),
             r AS (SELECT s, k, (total - 1) * unnest(list_extract(?::DOUBLE[][], s + 1)) AS rn
                   FROM (SELECT DISTINCT s, k, total FROM c))
        SELECT DISTINCT c.s, c.k, c.b, c.lo, c.total FROM c JOIN r ON c.s = r.s AND c.k = r.k
        WHERE (floor(r.rn) >= c.lo AND floor(r.rn) < c.lo + c.n) OR (ceil(r.rn) >= c.lo AND ceil(r.rn) < c.lo + c.n)
        """,
        [*args, [list(s.quantiles) for s in sets]],
    )
    results: list[dict[int, list[float | None]]] = [{} for _ in sets]
    if found.empty:
        return results
    parts, args = [], []
    for index, s in enumerate(sets):
        buckets = sorted({int(b) for b in found.loc[found["s"] == index, "b"]})
        if buckets:
            parts.append(
                f"SELECT {index} AS s, {s.key} AS k, {s.bucket()} AS b, list_sort(list({s.value})) AS v "
                f"{s.source(clause)} AND {s.bucket()} IN (SELECT unnest(?::BIGINT[])) GROUP BY ALL"
            )
            args.extend([*s.key_params, *params, *s.extra_params, buckets])
    fetched = store.sql(" UNION ALL ".join(parts), args)
    values = {(int(i), int(k), int(b)): v for i, k, b, v in fetched.itertuples(index=False)}
    chunks: dict[tuple[int, int], list[tuple[int, int]]] = {}
    totals: dict[tuple[int, int], int] = {}
    for i, k, b, lo, total in found.itertuples(index=False):
        chunks.setdefault((int(i), int(k)), []).append((int(lo), int(b)))
        totals[int(i), int(k)] = int(total)
    for (i, k), total in totals.items():
        starts = sorted(chunks[i, k])

        def at(rank: int, i: int = i, k: int = k, starts: list[tuple[int, int]] = starts) -> float:
            lo, b = max(start for start in starts if start[0] <= rank)
            return float(values[i, k, b][rank - lo])

        out: list[float | None] = []
        for q in sets[i].quantiles:
            rn = float(total - 1) * q  # as DuckDB: (double)(n - 1) * q
            low, high = math.floor(rn), math.ceil(rn)
            out.append(at(low) if low == high else interpolate(at(low), rn - low, at(high)))
        results[i][k] = out
    return results


def interpolate(lo: float, d: float, hi: float) -> float:
    """`lo * (1 - d) + hi * d` exactly as DuckDB's `quantile_cont` computes it: its compiler fuses the multiply
    and add (one rounding, like C's `fma(lo, 1 - d, hi * d)`) where the machine can, which changes the last bit
    now and then. Which of the two this DuckDB does is found out once (`_fused`)."""
    if _fused():
        return float(Fraction(lo) * Fraction(1.0 - d) + Fraction(hi * d))
    return lo * (1.0 - d) + hi * d


@functools.cache
def _fused() -> bool:
    """Whether this DuckDB build fuses `quantile_cont`'s multiply and add: a property of the DuckDB wheel and the
    machine, asked once per process."""
    import duckdb

    # Pairs of values and fractions where the two forms disagree: DuckDB's own answers say which form it uses.
    rng = random.Random(5)
    probes: list[tuple[float, float, float]] = []
    while len(probes) < 32:
        lo, hi, d = rng.uniform(100, 20000), rng.uniform(20000, 40000), 0.3
        if float(Fraction(lo) * Fraction(1.0 - d) + Fraction(hi * d)) != lo * (1.0 - d) + hi * d:
            probes.append((lo, hi, d))
    con = duckdb.connect()
    try:
        got = con.execute(
            "SELECT i, quantile_cont(x, 0.3) FROM (SELECT unnest(range(?)) AS i, unnest(?::DOUBLE[][]) AS xs), unnest(xs) AS u(x) "
            "GROUP BY i ORDER BY i",
            [len(probes), [[lo, hi] for lo, hi, _ in probes]],
        ).fetchall()
    finally:
        con.close()
    return all(value == float(Fraction(lo) * Fraction(1.0 - d) + Fraction(hi * d)) for (_, value), (lo, hi, d) in zip(got, probes, strict=True))

