"""Price files in TOML: our bundled extra.toml and users' override files (`instrument(prices=PATH)`,
`TRACER_PRICES`). Parsing and validation only; every problem is a `PriceFileError` naming the file, the
entry and what is wrong.

An override file::

    [defaults]
    discount_percent = 10            # negotiated discount on every model and every price
    priority_multiplier = 1.2        # priority tier = standard x 1.2 (contract), where a model sets none

    [models."claude-sonnet-4-5"]     # any name of a known model (dated, Bedrock, Vertex) selects it
    discount_percent = 15            # replaces the global discount for this model
    input = 2.5                      # per-MTok prices replace the bundled ones at every date
    output = 12.5                    # (kinds: input output cache_write_5m cache_write_1h cache_read)
    web_search_per_1k = 10
    fast_multiplier = 2              # fast mode (usage.speed = "fast") = standard x this
    effective_date = 2026-01-01      # shown by `tracer prices`
    aliases = ["sonnet-prod"]        # more names that resolve to this model

    [models."claude-sonnet-4-5".priority]   # priority tier prices (or: multiplier = 1.25)
    input = 3.6
    output = 18

    [models."claude-sonnet-4-5".long_context]  # prices for requests whose prompt exceeds `above` tokens
    above = 200000
    input = 5
    output = 18.75

    [models."my-gateway-model"]      # a new model: `input` and `output` (cache prices default to the
    input = 1                        # published caching multipliers), or `same_as = "claude-haiku-4-5"`
    output = 5
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tracer.cost._rates import KINDS


class PriceFileError(ValueError):
    """A price file that cannot be used: `file`, `entry` (e.g. `[models."x"] input`) and `problem`.

    >>> str(PriceFileError("prices.toml", '[models."x"] input', "expected a number"))
    'prices.toml: [models."x"] input: expected a number'
    """

    def __init__(self, file: str, entry: str | None, problem: str) -> None:
        self.file = file
        self.entry = entry
        self.problem = problem
        where = f"{file}: {entry}: " if entry else f"{file}: "
        super().__init__(where + problem)


@dataclass
class PriceSpec:
    """A partial per-MTok price set: only the kinds given."""

    prices: dict[str, Decimal] = field(default_factory=dict)
    multiplier: Decimal | None = None
    above: int | None = None


@dataclass
class ModelSpec:
    key: str
    prices: PriceSpec = field(default_factory=PriceSpec)
    web_search_per_1k: Decimal | None = None
    long_context: PriceSpec | None = None
    priority: PriceSpec | None = None
    discount_percent: Decimal | None = None
    fast_multiplier: Decimal | None = None
    same_as: str | None = None
    aliases: list[str] = field(default_factory=list)
    effective_date: dt.date | None = None
    name: str | None = None


@dataclass
class PriceFile:
    path: str
    label: str  # "override:prices.toml" / "claude-tracer extra.toml"
    models: list[ModelSpec] = field(default_factory=list)
    discount_percent: Decimal | None = None
    priority_multiplier: Decimal | None = None
    policy: dict[str, dict[str, Any]] = field(default_factory=dict)  # extra.toml's [batch], [fast], ...


_MODEL_KEYS = {
    *KINDS,
    "web_search_per_1k",
    "long_context",
    "priority",
    "discount_percent",
    "fast_multiplier",
    "same_as",
    "aliases",
    "effective_date",
    "name",
}
_POLICY_SECTIONS = ("batch", "us_only", "fast", "web_search", "cache_multipliers", "regional", "refusals")


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, entry: str | None, problem: str) -> PriceFileError:
        return PriceFileError(self.path, entry, problem)

    def number(self, entry: str, value: Any, *, positive: bool = False) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
            raise self.fail(entry, f"expected a number, got {type(value).__name__} {value!r}")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise self.fail(entry, f"expected a number, got {value!r}") from None
        if not number.is_finite():
            raise self.fail(entry, f"expected a finite number, got {value!r}")
        if number < 0 or (positive and number == 0):
            raise self.fail(entry, f"expected a {'positive' if positive else 'non-negative'} number, got {value!r}")
        return number

    def percent(self, entry: str, value: Any) -> Decimal:
        number = self.number(entry, value)
        if number >= 100:
            raise self.fail(entry, f"a discount is a percentage below 100, got {value!r}")
        return number

    def table(self, entry: str, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(entry, f"expected a table, got {type(value).__name__} {value!r}")
        return value

    def unknown(self, entry: str, keys: set[str], allowed: set[str] | tuple[str, ...]) -> None:
        extra = sorted(keys - set(allowed))
        if extra:
            raise self.fail(entry, f"unknown key {extra[0]!r} (expected one of: {', '.join(sorted(allowed))})")

    def price_spec(self, entry: str, raw: dict[str, Any], extra_keys: tuple[str, ...] = ()) -> PriceSpec:
        self.unknown(entry, set(raw), (*KINDS, *extra_keys))
        spec = PriceSpec()
        for kind in KINDS:
            if kind in raw:
                spec.prices[kind] = self.number(f"{entry} {kind}", raw[kind])
        return spec

    def model(self, key: str, raw: Any) -> ModelSpec:
        entry = f"[models.{_quote(key)}]"
        raw = self.table(entry, raw)
        self.unknown(entry, set(raw), _MODEL_KEYS)
        spec = ModelSpec(key=key)
        spec.prices = self.price_spec(entry, {k: v for k, v in raw.items() if k in KINDS})
        if "web_search_per_1k" in raw:
            spec.web_search_per_1k = self.number(f"{entry} web_search_per_1k", raw["web_search_per_1k"])
        if "discount_percent" in raw:
            spec.discount_percent = self.percent(f"{entry} discount_percent", raw["discount_percent"])
        if "fast_multiplier" in raw:
            spec.fast_multiplier = self.number(f"{entry} fast_multiplier", raw["fast_multiplier"], positive=True)
        if "same_as" in raw:
            if not isinstance(raw["same_as"], str) or not raw["same_as"].strip():
                raise self.fail(f"{entry} same_as", f"expected a model name, got {raw['same_as']!r}")
            spec.same_as = raw["same_as"]
        if "name" in raw:
            if not isinstance(raw["name"], str):
                raise self.fail(f"{entry} name", f"expected a string, got {raw['name']!r}")
            spec.name = raw["name"]
        if "aliases" in raw:
            aliases = raw["aliases"]
            if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
                raise self.fail(f"{entry} aliases", f"expected a list of model names, got {aliases!r}")
            spec.aliases = list(aliases)
        if "effective_date" in raw:
            value = raw["effective_date"]
            if isinstance(value, str):
                try:
                    value = dt.date.fromisoformat(value)
                except ValueError:
                    raise self.fail(
                        f"{entry} effective_date", f"expected a date like 2026-01-31, got {value!r}"
                    ) from None
            if isinstance(value, dt.datetime):
                value = value.date()
            if not isinstance(value, dt.date):
                raise self.fail(f"{entry} effective_date", f"expected a date like 2026-01-31, got {value!r}")
            spec.effective_date = value
        if "long_context" in raw:
            sub = f"[models.{_quote(key)}.long_context]"
            table = self.table(sub, raw["long_context"])
            spec.long_context = self.price_spec(sub, table, ("above",))
            if "above" not in table:
                raise self.fail(sub, "missing `above` (the prompt size in tokens above which these prices apply)")
            above = table["above"]
            if isinstance(above, bool) or not isinstance(above, int) or above <= 0:
                raise self.fail(f"{sub} above", f"expected a positive whole number of tokens, got {above!r}")
            spec.long_context.above = above
            if not spec.long_context.prices:
                raise self.fail(sub, "gives no price (expected at least one of: " + ", ".join(KINDS) + ")")
        if "priority" in raw:
            sub = f"[models.{_quote(key)}.priority]"
            table = self.table(sub, raw["priority"])
            spec.priority = self.price_spec(sub, table, ("multiplier",))
            if "multiplier" in table:
                if spec.priority.prices:
                    raise self.fail(sub, "give either `multiplier` or prices, not both")
                spec.priority.multiplier = self.number(f"{sub} multiplier", table["multiplier"], positive=True)
            elif not {"input", "output"} <= set(spec.priority.prices):
                raise self.fail(sub, "needs at least `input` and `output` prices (or a `multiplier`)")
        has_prices = bool(spec.prices.prices) or spec.web_search_per_1k is not None or spec.long_context is not None
        if not (
            has_prices
            or spec.same_as
            or spec.discount_percent is not None
            or spec.fast_multiplier is not None
            or spec.priority is not None
            or spec.aliases
            or spec.effective_date
            or spec.name
        ):
            raise self.fail(entry, "sets nothing (expected prices, same_as, discount_percent, priority, ...)")
        return spec


def _quote(key: str) -> str:
    return f'"{key}"'


def read_price_file(path: str | Path, *, label: str | None = None, allow_policy: bool = False) -> PriceFile:
    """Parse and validate one price file. Raises PriceFileError."""
    shown = str(path)
    reader = _Reader(shown)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise reader.fail(None, f"cannot read the price file ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise reader.fail(None, f"not UTF-8 text ({exc.reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise reader.fail(None, f"not valid TOML: {exc}") from None
    result = PriceFile(path=shown, label=label or f"override:{Path(path).name}")
    allowed = {"defaults", "models", *(_POLICY_SECTIONS if allow_policy else ())}
    reader.unknown("top level", set(data), allowed)
    if "defaults" in data:
        defaults = reader.table("[defaults]", data["defaults"])
        reader.unknown("[defaults]", set(defaults), ("discount_percent", "priority_multiplier"))
        if "discount_percent" in defaults:
            result.discount_percent = reader.percent("[defaults] discount_percent", defaults["discount_percent"])
        if "priority_multiplier" in defaults:
            result.priority_multiplier = reader.number(
                "[defaults] priority_multiplier", defaults["priority_multiplier"], positive=True
            )
    models = reader.table("[models]", data.get("models", {}))
    for key, raw in models.items():
        if not key.strip():
            raise reader.fail("[models]", "an entry has an empty model name")
        result.models.append(reader.model(key, raw))
    for section in _POLICY_SECTIONS:
        if section in data:
            result.policy[section] = reader.table(f"[{section}]", data[section])
    return result
