"""Exact cost of every Claude API call, as Decimal USD, from prices kept as data.

Base prices (input, output, 5-minute and 1-hour cache writes, cache reads, long-context tiers, dated price
changes) come from the bundled snapshot of the `genai-prices` package, read offline; never downloaded.
`extra.toml` beside this module adds what it lacks: the Message Batches discount, US-only inference, fast
mode where it has no fast price, web search per 1,000 requests, and models it does not list. An override
file (`instrument(prices=PATH)`, `TRACER_PRICES`) adds models, negotiated discounts and priority-tier
prices. An unknown model costs None, never 0.

>>> from tracer.cost import cost_of
>>> cost_of("claude-sonnet-4-5", {"input_tokens": 1000, "output_tokens": 200})  # 1000 x $3 + 200 x $15 per MTok
Decimal('0.006')
>>> cost_of("no-such-model", {"input_tokens": 1000, "output_tokens": 200}) is None
True
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from tracer.cost._overrides import PriceFileError
from tracer.cost._table import CostBreakdown, CostLine, PriceRow, PriceTable, load_prices
from tracer.cost._usage import TokenCounts, token_counts

__all__ = [
    "CostBreakdown",
    "CostLine",
    "PriceFileError",
    "PriceRow",
    "PriceTable",
    "TokenCounts",
    "breakdown",
    "cost_of",
    "default_table",
    "load_prices",
    "resolve_model",
    "set_default_table",
    "token_counts",
]

ENV_PRICES = "TRACER_PRICES"
_default: PriceTable | None = None
_lock = threading.Lock()


def default_table() -> PriceTable:
    """The table the module-level functions use: bundled prices plus `$TRACER_PRICES` if set (loaded once).
    `instrument(prices=PATH)` replaces it through `set_default_table(load_prices(PATH))`."""
    global _default
    table = _default
    if table is None:
        with _lock:
            if _default is None:
                _default = load_prices(os.environ.get(ENV_PRICES) or None)
            table = _default
    return table


def set_default_table(table: PriceTable | str | Path | None) -> PriceTable:
    """Use `table` (or the prices at a path; None = bundled + `$TRACER_PRICES`) for module-level `cost_of`.
    Raises PriceFileError for a malformed file, leaving the previous table in place."""
    global _default
    if isinstance(table, PriceTable):
        new = table
    elif table is None:
        new = load_prices(os.environ.get(ENV_PRICES) or None)
    else:
        new = load_prices(table)
    with _lock:
        _default = new
    return new


def cost_of(
    model: str,
    usage: Any,
    *,
    batch: bool = False,
    service_tier: str | None = None,
    inference_geo: str | None = None,
    at: dt.datetime | dt.date | None = None,
) -> Decimal | None:
    """USD cost of one call, exact; None when the model (or the mode: priority, fast) has no price.
    See `PriceTable.cost_of`."""
    return default_table().cost_of(
        model, usage, batch=batch, service_tier=service_tier, inference_geo=inference_geo, at=at
    )


def breakdown(
    model: str,
    usage: Any,
    *,
    batch: bool = False,
    service_tier: str | None = None,
    inference_geo: str | None = None,
    speed: str | None = None,
    at: dt.datetime | dt.date | None = None,
) -> CostBreakdown | None:
    """`cost_of` with its workings: tokens, per-MTok price and USD of each token kind. None if unknown."""
    return default_table().breakdown(
        model, usage, batch=batch, service_tier=service_tier, inference_geo=inference_geo, speed=speed, at=at
    )


def resolve_model(model: str) -> str | None:
    """Canonical model ID for any spelling (dated, alias, Bedrock, Vertex), or None when unknown.

    >>> resolve_model("us.anthropic.claude-sonnet-4-5-20250929-v1:0"), resolve_model("claude-sonnet-4-5@20250929")
    ('claude-sonnet-4-5', 'claude-sonnet-4-5')
    """
    return default_table().resolve_model(model)
