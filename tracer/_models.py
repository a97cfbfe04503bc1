"""Models the installed anthropic SDK lists as deprecated, and which of the models in use are about to retire.

The SDK warns when a deprecated model is called, from a table in a private module
(`anthropic/_data/deprecated_models.py`: model ID -> end-of-life date written out, "November 30th, 2026"). This is
the one place claude-tracer reads it; an SDK without it (older ones) simply has no deprecated models. The overview
page and `tracer report` both flag models in use from here:

>>> import pandas as pd
>>> frame = pd.DataFrame({"model": ["claude-x-1"], "calls": [3], "cost_usd": [0.5]})
>>> retiring(frame, table={"claude-x-1": "March 1st, 2027"})
[Retiring(model='claude-x-1', eol='March 1st, 2027', retires=datetime.date(2027, 3, 1), calls=3, cost_usd=0.5)]
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from tracer import _compat

_ORDINAL = re.compile(r"(\d+)(st|nd|rd|th)\b")


@cache
def deprecated_models() -> dict[str, str]:
    """Deprecated model ID -> the end-of-life date as the SDK words it (empty if the SDK has no such table)."""
    return _compat.deprecated_models()  # read through the one door to the SDK's private parts


def retirement_date(text: str) -> dt.date | None:
    """The SDK's "November 30th, 2026" as a date; None when it is worded some other way.

    >>> retirement_date("January 22nd, 2027"), retirement_date("soon")
    (datetime.date(2027, 1, 22), None)
    """
    plain = _ORDINAL.sub(r"\1", text.strip())
    for form in ("%B %d, %Y", "%Y-%m-%d", "%b %d, %Y"):
        try:
            return dt.datetime.strptime(plain, form).date()
        except ValueError:
            continue
    return None


@dataclass(frozen=True)
class Retiring:
    """A deprecated model still in use: when it retires (None if the SDK's date could not be read), and the calls
    and cost (USD, None when unpriced) going to it in the window looked at."""

    model: str
    eol: str  # the SDK's own words
    retires: dt.date | None
    calls: int
    cost_usd: float | None

    def when(self, today: dt.date | None = None) -> str:
        """ "on 2026-11-30 (in 1 day)", "on 2026-06-30 (30 days ago)" or the SDK's own words."""
        if self.retires is None:
            return f"on {self.eol}"
        days = (self.retires - (today or dt.date.today())).days
        ago = "today" if days == 0 else f"in {days} day{'s' * (days != 1)}" if days > 0 else f"{-days} day{'s' * (days != -1)} ago"
        return f"on {self.retires.isoformat()} ({ago})"


def retiring(per_model: Any, table: Mapping[str, str] | None = None) -> list[Retiring]:
    """The deprecated models among the rows of `per_model` (a frame with `model`, `calls`, `cost_usd`: what
    `tracer.read.overview.cost_by_model` returns), soonest retirement first. `table` defaults to the SDK's."""
    import pandas as pd

    dates = deprecated_models() if table is None else table
    found = []
    for row in per_model.itertuples(index=False):
        if isinstance(row.model, str) and row.model in dates:
            cost = None if pd.isna(row.cost_usd) else float(row.cost_usd)
            found.append(Retiring(row.model, dates[row.model], retirement_date(dates[row.model]), int(row.calls), cost))
    return sorted(found, key=lambda r: (r.retires or dt.date.max, r.model))

NO_MODEL = "(no model)"
"""How a person sees the calls that name no model (batch management, model lists): they are real API calls, counted
in every total, so per-model tables keep them under this label rather than hide them or show `None`."""
