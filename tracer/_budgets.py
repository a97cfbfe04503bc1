"""Budgets, pure: what a budget is, where budgets are configured, and the methods of the projection and the
anomaly flag. One definition for the dashboard and `tracer report` (`tracer.read.budgets`, over the store) and the
Prometheus rules (`tracer.alerts`, which generates them from the same configuration).

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

ENV_FILE = "TRACER_BUDGETS"
ENV_PER = {"day": "TRACER_BUDGET_USD_PER_DAY", "month": "TRACER_BUDGET_USD_PER_MONTH"}
BASELINE_HOURS = 24  # the trailing hours an hour's spend is compared with
MIN_BASELINE_HOURS = 6  # fewer hours of history make no baseline: the flag says so instead
ANOMALY_SIGMAS = 3.0
ANOMALY_MIN_USD = 0.01  # and at least this far above the mean: cents of noise over a flat $0 baseline are no anomaly
ANOMALY_METHOD = (
    f"An hour is flagged when its spend exceeds the mean of the {BASELINE_HOURS} hours before it by more than "
    f"{ANOMALY_SIGMAS:g} standard deviations (and by at least ${ANOMALY_MIN_USD:g}), with at least {MIN_BASELINE_HOURS} hours of "
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


def departure(spend: float, history: Sequence[float]) -> float | None:
    """How many standard deviations (population) `spend` lies above the mean of `history`, the hours before it; None
    when the hour is no candidate at all: fewer than `MIN_BASELINE_HOURS` hours of history, or less than
    `ANOMALY_MIN_USD` above their mean. `inf` over a flat history. The hour is an anomaly when this exceeds
    `ANOMALY_SIGMAS` (the Prometheus rule `ClaudeSpendAnomaly` records the same number).

    >>> round(departure(5.0, [1.0, 1.0, 1.0, 1.0, 1.0, 3.0]), 2)
    4.92
    >>> departure(5.0, [1.0] * 6), departure(1.005, [1.0] * 6), departure(9.0, [1.0] * 5)
    (inf, None, None)
    """
    if len(history) < MIN_BASELINE_HOURS:
        return None
    mean = statistics.fmean(history)
    if spend - mean < ANOMALY_MIN_USD:
        return None
    sd = statistics.pstdev(history)
    return (spend - mean) / sd if sd > 0 else math.inf
