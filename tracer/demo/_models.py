"""Which models the demo calls: the newest current model of each family the installed SDK names.

The SDK's `anthropic.types.Model` literal lists the current model IDs and `anthropic/_data/deprecated_models.py` the
ones that warn; following them (not a list kept here) keeps the demo on models a user would pick today when a new
SDK arrives. Dated snapshots (`-20251001`) are left out: applications mostly call the aliases.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass

from tracer._models import deprecated_models

FAMILIES = ("sonnet", "haiku", "opus")
_ID = re.compile(r"^claude-(?P<family>[a-z]+)-(?P<version>\d+(?:-\d+)?)$")


@dataclass(frozen=True)
class Models:
    """The models the workload uses, by role.

    >>> pick_models().sonnet.startswith("claude-sonnet-")
    True
    """

    sonnet: str  # the workhorse: chat, search, summaries
    haiku: str  # cheap and fast: extraction, classification, count_tokens
    opus: str  # the expensive one: agents, thinking, the overload incident
    sonnet_previous: str  # a service not migrated yet: same family, one version back

    def all(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.sonnet, self.haiku, self.opus, self.sonnet_previous)))


def sdk_models() -> tuple[str, ...]:
    """Every model ID in the installed SDK's `Model` literal, in its order."""
    from anthropic.types import Model

    names: list[str] = []
    for arg in typing.get_args(Model):
        names.extend(v for v in typing.get_args(arg) if isinstance(v, str))
    return tuple(dict.fromkeys(names))


def _version(model: str) -> tuple[int, ...]:
    match = _ID.match(model)
    return tuple(int(part) for part in match.group("version").split("-")) if match else ()


def _priced(model: str) -> bool:
    try:
        from tracer.cost import cost_of

        return cost_of(model, {"input_tokens": 1000, "output_tokens": 1000}) is not None
    except Exception:  # no price data at all: every model is as good as another
        return True


def pick_models(names: typing.Iterable[str] | None = None) -> Models:
    """The newest priced alias of each family that is neither deprecated nor retired (and the sonnet before it)
    among `names`.

    >>> pick_models(["claude-sonnet-4-6", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-7",
    ...              "claude-opus-4-8"]).opus
    'claude-opus-4-8'
    """
    # Neither deprecated (the SDK warns) nor retired (the API answers 404; an older SDK still names such models):
    # the fake API's dated model list says which are gone.
    from tracer.fakeapi import retired_models

    deprecated = set(deprecated_models()) | set(retired_models())
    by_family: dict[str, list[str]] = {family: [] for family in FAMILIES}
    for name in sdk_models() if names is None else names:
        match = _ID.match(name)
        if match and match.group("family") in by_family and name not in deprecated:
            by_family[match.group("family")].append(name)
    chosen: dict[str, list[str]] = {}
    for family, found in by_family.items():
        if not found:
            raise LookupError(f"the installed anthropic SDK names no current {family} model")
        ranked = sorted(found, key=_version, reverse=True)
        priced = [m for m in ranked if _priced(m)]
        chosen[family] = priced or ranked
    sonnets = chosen["sonnet"]
    return Models(
        sonnet=sonnets[0],
        haiku=chosen["haiku"][0],
        opus=chosen["opus"][0],
        sonnet_previous=sonnets[1] if len(sonnets) > 1 else sonnets[0],
    )
