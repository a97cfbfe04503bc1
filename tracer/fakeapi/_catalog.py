"""The models the fake API serves, taken from the installed SDK, with a latency and size profile per family.

The SDK's `anthropic.types.Model` literal is the list of current model IDs and `anthropic/_data/deprecated_models.py`
the ones that warn; following them (not a list kept here) means a new SDK release brings its models along. The SDK
carries no speeds or limits, so those come from the family in the name: opus, sonnet or haiku (mythos counts as a
large model; an unknown family gets the middle profile).
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from functools import cache

from tracer import _models


@dataclass(frozen=True, slots=True)
class Profile:
    """How a family of models behaves: timings in seconds at latency scale 1, sizes in tokens."""

    family: str
    ttft_s: float  # time to first token for a short prompt
    ttft_per_1k_input_s: float  # prefill time per 1,000 uncached input tokens
    per_token_s: float  # decoding time per output token
    max_output_tokens: int
    min_cacheable_tokens: int  # shorter cache_control prefixes are not cached
    context_window: int = 1_000_000


_PROFILES = {
    "haiku": Profile("haiku", 0.30, 0.015, 0.006, 64_000, 4096),
    "sonnet": Profile("sonnet", 0.55, 0.03, 0.014, 64_000, 1024),
    "opus": Profile("opus", 0.90, 0.05, 0.022, 128_000, 4096),
}
_FAMILY_ALIASES = {"mythos": "opus"}
_DEFAULT_FAMILY = "sonnet"


def profile_for(model: str) -> Profile:
    """The profile of a model ID, from the family named in it.

    >>> profile_for("claude-haiku-4-5").family
    'haiku'
    """
    for part in model.split("-"):
        if part in _PROFILES:
            return _PROFILES[part]
        if part in _FAMILY_ALIASES:
            return _PROFILES[_FAMILY_ALIASES[part]]
    return _PROFILES[_DEFAULT_FAMILY]


@cache
def known_models() -> tuple[str, ...]:
    """Every model ID the installed SDK names, current ones first, then deprecated ones it still lists.

    >>> "claude-sonnet-4-6" in known_models()
    True
    """
    from anthropic.types import Model

    names: list[str] = []
    for arg in typing.get_args(Model):
        names.extend(v for v in typing.get_args(arg) if isinstance(v, str))
    for name in deprecated_models():
        if name not in names:
            names.append(name)
    return tuple(dict.fromkeys(names))


@cache
def deprecated_models() -> dict[str, str]:
    """Deprecated model ID -> the end-of-life date the SDK warns with (empty if the SDK has no such table)."""
    return _models.deprecated_models()
