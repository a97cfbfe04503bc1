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


# -- the API's model list, as data we keep and date (models.toml) ---------------------------------------------------

_DATA = "models.toml"


@dataclass(frozen=True, slots=True)
class Roles:
    """A model for each kind of use, from models.toml's [roles]: what tests and the demo call when any model of
    that kind will do, so that a retirement changes one line.

    >>> roles().retired in retired_models()
    True
    """

    cheap: str
    workhorse: str
    large: str
    deprecated: str
    retired: str
    as_of: str


@cache
def _data() -> dict[str, typing.Any]:
    import tomllib
    from importlib import resources

    return tomllib.loads(resources.files("tracer.fakeapi").joinpath(_DATA).read_text(encoding="utf-8"))


@cache
def roles() -> Roles:
    """The models by role (models.toml), checked against the list they come from."""
    data = _data()
    found = Roles(**data["roles"], as_of=str(data["as_of"]))
    status = {name: entry["status"] for name, entry in data["models"].items()}
    for role in ("cheap", "workhorse", "large"):
        if status.get(getattr(found, role)) != "active":
            raise ValueError(f"models.toml: the {role} role names {getattr(found, role)!r}, which is not active")
    if status.get(found.retired) != "retired":
        raise ValueError(f"models.toml: the retired role names {found.retired!r}, which is not retired")
    return found


@cache
def retired_models() -> dict[str, str]:
    """Retired model ID -> its retirement date ('' when not recorded): the API answers 404 for these."""
    return {
        name: str(entry.get("retired", ""))
        for name, entry in _data()["models"].items()
        if entry["status"] == "retired"
    }


def is_deprecated(model: str) -> bool:
    """Deprecated by models.toml, or by the installed SDK's own table (a newer SDK may know before we do)."""
    entry = _data()["models"].get(model)
    return (entry is not None and entry["status"] == "deprecated") or model in deprecated_models()


@cache
def served_models() -> tuple[str, ...]:
    """Every model ID the fake API answers: models.toml's active and deprecated ones, then any other the installed
    SDK names (a newer SDK's new models) unless models.toml says it retired.

    >>> "claude-sonnet-4-6" in served_models(), roles().retired in served_models()
    (True, False)
    """
    listed = [name for name, entry in _data()["models"].items() if entry["status"] != "retired"]
    gone = retired_models()
    return tuple(dict.fromkeys([*listed, *(m for m in known_models() if m not in gone)]))
