"""The Budgets page's queries (and `tracer report`'s budget lines): spend in the current day or month against a
budget, its projection to the period's end, the day the budget runs out, and hours whose spend departs from their
trailing baseline.

Budgets come from a TOML file named by `TRACER_BUDGETS` (each `[[budget]]` an amount in USD `per` "day" or "month",
optionally for one tag value), or from `TRACER_BUDGET_USD_PER_DAY` / `TRACER_BUDGET_USD_PER_MONTH` for the whole
spend:

    [[budget]]
    usd = 500
    per = "month"

    [[budget]]
    usd = 20
    per = "day"
    tag = "customer=acme"

>>> Budget(usd=300, per="month").period_of(dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC))
(datetime.datetime(2026, 12, 1, 0, 0, tzinfo=datetime.timezone.utc), datetime.datetime(2027, 1, 1, 0, 0, tzinfo=datetime.timezone.utc))
"""

from __future__ import annotations

import datetime as dt
import math
import os
import statistics
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tracer.read._filters import Filters, where
from tracer.read._store import Readable

ENV_FILE = "TRACER_BUDGETS"
ENV_PER = {"day": "TRACER_BUDGET_USD_PER_DAY", "month": "TRACER_BUDGET_USD_PER_MONTH"}
BASELINE_HOURS = 24  # the trailing hours an hour's spend is compared with
MIN_BASELINE_HOURS = 6  # fewer hours of history make no baseline: the flag says so instead
ANOMALY_SIGMAS = 3.0
ANOMALY_METHOD = (
    f"An hour is flagged when its spend exceeds the mean of the {BASELINE_HOURS} hours before it by more than "
    f"{ANOMALY_SIGMAS:g} standard deviations (and by at least $0.01), with at least {MIN_BASELINE_HOURS} hours of "
    "history; hours without calls count as $0."
)
PROJECTION_METHOD = (
    "Projection: the spend so far in the period divided by the time elapsed, times the whole period (a straight "
    "line at the period's average rate). Runs out: when that line reaches the budget."
)


@dataclass(frozen=True)
class Budget:
    """`usd` per `per` ("day" or "month", UTC), for the calls with tag `tag` ("key=value"), or all calls."""

    usd: float
    per: str = "month"
    tag: str | None = None

    def __post_init__(self) -> None:
        if self.per not in ("day", "month"):
            raise ValueError(f"a budget is per 'day' or 'month', not {self.per!r}")
        if not (self.usd > 0 and math.isfinite(self.usd)):
            raise ValueError(f"a budget is a positive amount of USD, not {self.usd!r}")
        if self.tag is not None and "=" not in self.tag:
            raise ValueError(f"a budget's tag is key=value, not {self.tag!r}")

    @property
    def name(self) -> str:
        return f"${self.usd:,.2f} per {self.per}" + (f" for {self.tag}" if self.tag else "")

    def period_of(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The period (UTC day or calendar month) that `now` is in: its start, inclusive, and end, exclusive."""
        now = now.astimezone(dt.UTC)
        if self.per == "day":
            start = now.replace(hour=0, minute=0, second=0, microsecond=0)
            return start, start + dt.timedelta(days=1)
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return start, end

    def filters(self, start: dt.datetime, end: dt.datetime) -> Filters:
        key, _, value = (self.tag or "").partition("=")
        return Filters(start=start, end=end, tags={key: value} if self.tag else {})


def load(environ: Mapping[str, str] | None = None) -> list[Budget]:
    """The budgets configured in `environ` (default: the process's): the file `TRACER_BUDGETS` names, then the
    overall ones of `TRACER_BUDGET_USD_PER_DAY` / `_PER_MONTH`. Raises ValueError naming what is wrong."""
    env = os.environ if environ is None else environ
    found: list[Budget] = []
    path = env.get(ENV_FILE)
    if path:
        try:
            data = tomllib.loads(Path(path).expanduser().read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"{ENV_FILE}={path}: {exc}") from None
        for item in data.get("budget", []):
            found.append(Budget(usd=float(item["usd"]), per=str(item.get("per", "month")), tag=item.get("tag")))
    for per, name in ENV_PER.items():
        if env.get(name):
            try:
                found.append(Budget(usd=float(env[name]), per=per))
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
    return found


def status(store: Readable, budgets: list[Budget], now: dt.datetime) -> pd.DataFrame:
    """One row per budget at `now`: the period, `spent_usd` so far, `projected_usd` at the period's end,
    `runs_out` (when the projection reaches the budget, NaT if it does not within the period) and whether the
    budget is already `exceeded` or `projected_over`."""
    rows = []
    for budget in budgets:
        start, end = budget.period_of(now)
        clause, params = where(budget.filters(start, now))
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
        anomaly = bool(mean is not None and sd is not None and spend[i] > mean + ANOMALY_SIGMAS * sd and spend[i] - mean >= 0.01)
        rows.append({"hour": all_hours[i], "spend_usd": spend[i], "baseline_usd": mean, "baseline_sd_usd": sd,
                     "history_hours": len(history), "anomaly": anomaly})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
    return frame
