"""The one definition of each value claude-tracer derives from others: applied once, at capture, put on the span
as an attribute, stored as a column, and only read after that (so two pages that show it cannot disagree).

- `uncached_input`: the input tokens billed at the plain input rate (the API's own `usage.input_tokens`);
- `output_tokens_per_s`: how fast a call's answer came;
- `attempt_outcome`: what one HTTP attempt came to, the classes every page and chart counts by;
- `cache_read_saving` and `cache_write_premium`: what a call's cache reads saved against the input price, and what
  its cache writes cost beyond it (the Overview's and the Savings page's caching figures).

Unpriced and its reason are decided by capture (`tracer.cost.unpriced`) and settled by the store's writer
(`tracer.store._rows._settle_call`), which alone sees a value its column cannot hold.

`tests/test_one_definition.py` fails when one of these is worked out anywhere else in `tracer/` or `dashboard/`.
Pure functions of plain values; none raises for odd input.
"""

from __future__ import annotations

from typing import Any, Final

from tracer import semconv


def uncached_input(total_in: int, cache_read: Any, cache_write: Any) -> int:
    """Uncached input tokens from the conventions' `gen_ai.usage.input_tokens` (uncached + cache read + cache
    write); a cache count that is not an int counts 0; never below 0.

    >>> uncached_input(1300, 200, 100)
    1000
    """
    read = cache_read if type(cache_read) is int else 0
    write = cache_write if type(cache_write) is int else 0
    return max(total_in - read - write, 0)


# A window under a millisecond (a whole short answer arriving at once) gives no meaningful rate.
MIN_GENERATION_S: Final = 0.001


def output_tokens_per_s(output: Any, duration_s: float, ttft_s: Any, *, ok: bool) -> float | None:
    """Output tokens per second over the generation: after the first token when the time to it is known (a
    stream), else over the whole call. None for a call that did not end ok, has no output, or too short a window.

    >>> output_tokens_per_s(200, 2.5, 0.5, ok=True)
    100.0
    >>> output_tokens_per_s(200, 2.0, None, ok=True)
    100.0
    """
    if not ok or type(output) is not int or output <= 0:
        return None
    window = duration_s - ttft_s if type(ttft_s) is float else duration_s
    return output / window if window >= MIN_GENERATION_S else None


OUTCOMES: Final = ("ok", "429", "529", "5xx", "timeout", "connection", "other")
_TIMEOUTS: Final = frozenset({semconv.ERROR_TYPE_TIMEOUT, semconv.ERROR_TYPE_STREAM_TIMEOUT})


def attempt_outcome(http_status: Any, error_type: Any) -> str:
    """What one HTTP attempt came to, one of `OUTCOMES`: a timeout or connection error by its error type, else by
    its status (429 rate limited, 529 overloaded, another 5xx, below 400 ok), else `other` (a 4xx, a stream error,
    an attempt with neither).

    >>> attempt_outcome(529, "529"), attempt_outcome(None, "timeout"), attempt_outcome(200, None)
    ('529', 'timeout', 'ok')
    """
    if error_type in _TIMEOUTS:
        return "timeout"
    if error_type == semconv.ERROR_TYPE_CONNECTION:
        return "connection"
    if type(http_status) is not int:
        return "other"
    if http_status == 429 or http_status == 529:
        return str(http_status)
    if http_status >= 500:
        return "5xx"
    if http_status < 400 and error_type is None:
        return "ok"
    return "other"


# Prompt caching is priced per model off the base input price. Anthropic's pricing page
# (platform.claude.com/docs/en/about-claude/pricing, read 2026-12-07) lists 5-minute cache writes at 1.25x the input
# price, 1-hour writes at 2x and cache hits at 0.1x for most models, but not all (Claude Fable 5.1 and Mythos 5.1:
# hits at $0.25 on $10 input): so these take each model's own prices from the price table, never the multipliers
# (`tracer/cost/extra.toml` uses those only to fill a price its data lacks).


def cache_read_saving(read_tokens: Any, input_price: Any, read_price: Any) -> Any:
    """What `read_tokens` cache-read tokens saved against paying the input price for them: tokens x (input price -
    cache-read price). Prices per token in any unit (the cost engine's whole numbers, so the result is exact in
    that unit); works element-wise on arrays too.

    >>> cache_read_saving(10_000, 3_000_000, 300_000)  # $3 and $0.30 per MTok, in micro-dollars per MTok
    27000000000
    """
    return read_tokens * (input_price - read_price)


def cache_write_premium(write_5m: Any, write_1h: Any, input_price: Any, write_5m_price: Any, write_1h_price: Any) -> Any:
    """What cache writes cost beyond the input price for the same tokens: 5-minute writes x (their price - input
    price) + 1-hour writes x (theirs - input price). Units as `cache_read_saving`.

    >>> cache_write_premium(1_000, 500, 3_000_000, 3_750_000, 6_000_000)  # $3.75 and $6 per MTok writes on $3 input
    2250000000
    """
    return write_5m * (write_5m_price - input_price) + write_1h * (write_1h_price - input_price)
