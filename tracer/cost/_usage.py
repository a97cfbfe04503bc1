"""Token counts out of an SDK `Usage` (or `MessageDeltaUsage`, or either as a dict): the pure first step of pricing."""

from __future__ import annotations

from typing import Any, NamedTuple


class TokenCounts(NamedTuple):
    """What one call is billed for. `input` is UNCACHED input; `output` already includes `thinking`."""

    input: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0
    output: int = 0
    thinking: int = 0  # informational: part of `output`, never billed twice
    web_search: int = 0  # requests, priced per 1,000
    service_tier: str | None = None
    inference_geo: str | None = None
    speed: str | None = None

    @property
    def prompt_tokens(self) -> int:
        """Every input token of the request, cached or not: what the long-context tiers are measured on."""
        return self.input + self.cache_write_5m + self.cache_write_1h + self.cache_read


_NAMES = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "cache_read_input_tokens",
    "output_tokens",
    "output_tokens_details",
    "server_tool_use",
    "service_tier",
    "inference_geo",
    "speed",
    "ephemeral_5m_input_tokens",
    "ephemeral_1h_input_tokens",
    "thinking_tokens",
    "web_search_requests",
)
_EMPTY: dict[str, Any] = {}


def _fields(obj: Any) -> dict[str, Any]:
    """A mapping view of a dict, an SDK (pydantic) model, or any object with these attributes."""
    if obj is None:
        return _EMPTY
    if isinstance(obj, dict):
        return obj
    fields = getattr(obj, "__dict__", None)  # pydantic models keep their fields here: the fast path
    if isinstance(fields, dict) and fields:
        return fields
    return {name: getattr(obj, name) for name in _NAMES if hasattr(obj, name)}


def _count(value: Any, what: str) -> int:
    if type(value) is int and value >= 0:
        return value
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            as_int = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"usage {what}: expected a token count, got {value!r}") from None
        if as_int != value:
            raise ValueError(f"usage {what}: expected a whole token count, got {value!r}")
        value = as_int
    if value < 0:
        raise ValueError(f"usage {what}: negative token count {value}")
    return int(value)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value))  # enums from other SDK versions


def token_counts(usage: Any) -> TokenCounts:
    """Read an SDK Usage object or dict. Cache writes without a TTL breakdown count as 5-minute writes.

    >>> token_counts({"input_tokens": 10, "cache_creation_input_tokens": 5, "output_tokens": 3}).cache_write_5m
    5
    """
    if isinstance(usage, TokenCounts):
        return usage
    if usage is None:
        raise ValueError("usage is None")
    fields = _fields(usage)
    get = fields.get
    cache_total = _count(get("cache_creation_input_tokens"), "cache_creation_input_tokens")
    creation = _fields(get("cache_creation"))
    write_5m = _count(creation.get("ephemeral_5m_input_tokens"), "cache_creation.ephemeral_5m_input_tokens")
    write_1h = _count(creation.get("ephemeral_1h_input_tokens"), "cache_creation.ephemeral_1h_input_tokens")
    # The TTL split is a breakdown of the total; tokens it leaves out were written at the default 5m TTL.
    if cache_total > write_5m + write_1h:
        write_5m += cache_total - write_5m - write_1h
    output = _count(get("output_tokens"), "output_tokens")
    details = get("output_tokens_details")
    thinking = _count(_fields(details).get("thinking_tokens"), "thinking_tokens") if details is not None else 0
    tools = get("server_tool_use")
    web = _count(_fields(tools).get("web_search_requests"), "web_search_requests") if tools is not None else 0
    tier = get("service_tier")
    geo = get("inference_geo")
    speed = get("speed")
    return TokenCounts(
        _count(get("input_tokens"), "input_tokens"),
        write_5m,
        write_1h,
        _count(get("cache_read_input_tokens"), "cache_read_input_tokens"),
        # output_tokens is the billed total and includes thinking; it can never be below thinking.
        output if output >= thinking else thinking,
        thinking,
        web,
        tier if tier is None or type(tier) is str else _text(tier),
        geo if geo is None or type(geo) is str else _text(geo),
        speed if speed is None or type(speed) is str else _text(speed),
    )
