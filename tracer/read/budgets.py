"""The Budgets page's queries (and `tracer report`'s budget lines): spend in the current day or month against a
budget, its projection to the period's end, the day the budget runs out, and hours whose spend departs from their
trailing baseline. What a budget is and where budgets are configured: `tracer._budgets` (shared with the Prometheus
rules of `tracer.alerts`).
"""

from __future__ import annotations

import datetime as dt
import statistics

import pandas as pd

from tracer._budgets import (
    ANOMALY_METHOD,
    ANOMALY_SIGMAS,
    BASELINE_HOURS,
    ENV_FILE,
    ENV_PER,
    MIN_BASELINE_HOURS,
    PROJECTION_METHOD,
    Budget,
    departure,
    load,
)
from tracer.read._filters import Filters, where
from tracer.read._store import Readable

__all__ = ["ANOMALY_METHOD", "BASELINE_HOURS", "ENV_FILE", "ENV_PER", "MIN_BASELINE_HOURS", "PROJECTION_METHOD",
           "Budget", "hourly_spend", "load", "status"]  # fmt: skip


def budget_filters(budget: Budget, start: dt.datetime, end: dt.datetime) -> Filters:
    """The calls a budget counts between `start` and `end`: all, or those with its tag."""
    key, _, value = (budget.tag or "").partition("=")
    return Filters(start=start, end=end, tags={key: value} if budget.tag else {})


def status(store: Readable, budgets: list[Budget], now: dt.datetime) -> pd.DataFrame:
    """One row per budget at `now`: the period, `spent_usd` so far, `projected_usd` at the period's end,
    `runs_out` (when the projection reaches the budget, NaT if it does not within the period) and whether the
    budget is already `exceeded` or `projected_over`."""
    rows = []
    for budget in budgets:
        start, end = budget.period_of(now)
        clause, params = where(budget_filters(budget, start, now))
        spent = float(store.sql(f"SELECT coalesce(sum(c.cost_usd), 0)::DOUBLE AS usd FROM calls c {clause}", params)["usd"].iloc[0])
        elapsed = (now - start).total_seconds()
        whole = (end - start).total_seconds()
        rate = spent / elapsed if elapsed > 0 else 0.0  # USD per second so far
        projected = rate * whole
        runs_out = start + dt.timedelta(seconds=budget.usd / rate) if rate > 0 else None
        rows.append({
            "budget": budget.name, "usd": budget.usd, "per": budget.per, "tag": budget.tag, "period_start": start,
            "period_end": end, "spent_usd": spent, "projected_usd": projected, "used": spent / budget.usd,
            "runs_out": runs_out if runs_out is not None and runs_out < end else None,
            "exceeded": spent >= budget.usd, "projected_over": projected > budget.usd,
        })  # fmt: skip
    frame = pd.DataFrame(rows, columns=["budget", "usd", "per", "tag", "period_start", "period_end", "spent_usd",
                                        "projected_usd", "used", "runs_out", "exceeded", "projected_over"])  # fmt: skip
    for column in ("period_start", "period_end", "runs_out"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def hourly_spend(store: Readable, filters: Filters, now: dt.datetime, hours: int = 48) -> pd.DataFrame:
    """Spend per UTC hour over the `hours` before `now` (the current, partial hour included; hours without calls
    as $0), each with its trailing baseline (mean and standard deviation of the `BASELINE_HOURS` before it) and
    `anomaly`: whether it departs from it (`ANOMALY_METHOD`)."""
    last = now.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    first = last - dt.timedelta(hours=hours + BASELINE_HOURS - 1)
    clause, params = where(Filters(start=first, end=now, models=filters.models, services=filters.services, tags=filters.tags))
    found = store.sql(
        f"SELECT date_trunc('hour', c.start_time AT TIME ZONE 'UTC') AS hour, coalesce(sum(c.cost_usd), 0)::DOUBLE AS usd "
        f"FROM calls c {clause} GROUP BY 1",
        params,
    )
    by_hour = {pd.Timestamp(h).tz_localize(None).to_pydatetime(): float(u) for h, u in zip(found["hour"], found["usd"], strict=True)}
    all_hours = [first + dt.timedelta(hours=i) for i in range(hours + BASELINE_HOURS)]
    spend = [by_hour.get(h.replace(tzinfo=None), 0.0) for h in all_hours]
    rows = []
    # The store's first call starts the history: hours before it are not $0 hours, they are unknown.
    (earliest,) = store.sql(f"SELECT min(c.start_time) AS t FROM calls c {where(filters)[0]}", where(filters)[1])["t"]
    known_from = None if pd.isna(earliest) else pd.Timestamp(earliest).tz_convert("UTC").floor("h").to_pydatetime()
    for i in range(BASELINE_HOURS, len(all_hours)):
        history = [u for h, u in zip(all_hours[i - BASELINE_HOURS : i], spend[i - BASELINE_HOURS : i], strict=True)
                   if known_from is not None and h >= known_from]  # fmt: skip
        mean = statistics.fmean(history) if len(history) >= MIN_BASELINE_HOURS else None
        sd = statistics.pstdev(history) if mean is not None else None
        sigmas = departure(spend[i], history)
        anomaly = sigmas is not None and sigmas > ANOMALY_SIGMAS
        rows.append({"hour": all_hours[i], "spend_usd": spend[i], "baseline_usd": mean, "baseline_sd_usd": sd,
                     "history_hours": len(history), "anomaly": anomaly})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
    return frame
