"""List prices per token for the savings figures: what caching saved (`cache_rates`) and what the same tokens
would cost on another model (`token_rates`), from `tracer.cost` (or `genai-prices` where `tracer.cost` is absent),
looked up once per model and process."""

from __future__ import annotations

import logging
import threading
from decimal import Decimal
from typing import Any

log = logging.getLogger(__name__)

_rates_lock = threading.Lock()
_rates: dict[str, tuple[float, float, float] | None] = {}
_PROBE = 1000  # tokens per probe: small enough to stay below any long-context price tier


def cache_rates(model: str) -> tuple[float, float, float] | None:
    """(input - cache read, cache write 5m - input, cache write 1h - input) in USD per token, or None."""
    with _rates_lock:
        if model in _rates:
            return _rates[model]
    rates: tuple[float, float, float] | None = None
    try:
        rates = _rates_from_tracer_cost(model)
    except ImportError:
        rates = _rates_from_genai_prices(model)
    except Exception:
        log.debug("no cache prices for %s", model, exc_info=True)
    with _rates_lock:
        _rates[model] = rates
    return rates


def _rates_from_tracer_cost(model: str) -> tuple[float, float, float] | None:
    from tracer.cost import cost_of  # the cost engineer's module; absent in a partial install

    def price(**usage: Any) -> Decimal | None:
        return cost_of(model, {"input_tokens": 0, "output_tokens": 0, **usage})

    plain = price(input_tokens=_PROBE)
    read = price(cache_read_input_tokens=_PROBE)
    write_5m = price(
        cache_creation_input_tokens=_PROBE,
        cache_creation={"ephemeral_5m_input_tokens": _PROBE, "ephemeral_1h_input_tokens": 0},
    )
    write_1h = price(
        cache_creation_input_tokens=_PROBE,
        cache_creation={"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": _PROBE},
    )
    if plain is None or read is None or write_5m is None:
        return None
    write_1h = write_1h if write_1h is not None else write_5m
    return (float(plain - read) / _PROBE, float(write_5m - plain) / _PROBE, float(write_1h - plain) / _PROBE)


def _rates_from_genai_prices(model: str) -> tuple[float, float, float] | None:
    try:
        from genai_prices import Usage, calc_price
    except ImportError:
        return None
    try:
        # genai-prices counts input_tokens including the cached ones.
        plain = calc_price(Usage(input_tokens=_PROBE), model, provider_id="anthropic").total_price
        read = calc_price(Usage(input_tokens=_PROBE, cache_read_tokens=_PROBE), model, provider_id="anthropic").total_price
        write = calc_price(Usage(input_tokens=_PROBE, cache_write_tokens=_PROBE), model, provider_id="anthropic").total_price
    except Exception:
        return None
    # genai-prices has one cache-write price (5 minutes); the 1-hour write costs twice the input price.
    return (float(plain - read) / _PROBE, float(write - plain) / _PROBE, float(plain) / _PROBE)


TOKEN_KINDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens")
_token_rates: dict[str, dict[str, float] | None] = {}


def token_rates(model: str) -> dict[str, float] | None:
    """USD per token of each of `TOKEN_KINDS` at `model`'s list prices (below any long-context tier, standard
    tier, not batched), or None when the model has no price."""
    with _rates_lock:
        if model in _token_rates:
            return _token_rates[model]
    rates: dict[str, float] | None = None
    try:
        from tracer.cost import cost_of

        def per_token(**usage: Any) -> float | None:
            found = cost_of(model, {"input_tokens": 0, "output_tokens": 0, **usage})
            return None if found is None else float(found) / _PROBE

        found = {
            "input_tokens": per_token(input_tokens=_PROBE),
            "output_tokens": per_token(output_tokens=_PROBE),
            "cache_read_tokens": per_token(cache_read_input_tokens=_PROBE),
            "cache_write_5m_tokens": per_token(
                cache_creation_input_tokens=_PROBE,
                cache_creation={"ephemeral_5m_input_tokens": _PROBE, "ephemeral_1h_input_tokens": 0},
            ),
            "cache_write_1h_tokens": per_token(
                cache_creation_input_tokens=_PROBE,
                cache_creation={"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": _PROBE},
            ),
        }
        if all(v is not None for v in found.values()):
            rates = {k: float(v) for k, v in found.items() if v is not None}
    except Exception:  # no cost engine, or no price: the what-if leaves this model out and says so
        log.debug("no token prices for %s", model, exc_info=True)
    with _rates_lock:
        _token_rates[model] = rates
    return rates
