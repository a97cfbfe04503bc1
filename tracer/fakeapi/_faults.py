"""Scripted outcomes: what the fake API does with one attempt of a request instead of (or besides) answering it.

One grammar serves both ways of asking for faults. The `x-fake-script` request header is a comma list of outcomes
for successive attempts of the same request, indexed by the SDK's `x-stainless-retry-count` header, the last one
repeating (`429:10,429:10,ok`). Server-wide fault rates map outcomes to probabilities (`429=0.05,529=0.02`).

    ok          answer normally
    429[:MS]    an HTTP error with the real error body (any 4xx/5xx the API uses: 400, 401, 403, 404, 408, 409,
    529, 500    413, 429, 500, 502, 503, 504, 529); with :MS also `retry-after-ms: MS` (and `retry-after` in
    ...         whole seconds), which the SDK waits instead of its own backoff
    slow:MS     answer normally after an extra MS milliseconds
    drop        close the connection without answering
    drop:N      a stream: close the connection abruptly after N events (the chunked body is left incomplete)
    cut:N       a stream: end the body cleanly after N events, before message_delta and message_stop
    stall:N     a stream: send N events, then nothing (until the client gives up); without streaming, never answer
    error:N     a stream: an SSE `error` event (overloaded_error) after N events; without streaming, a 529
    malformed   invalid JSON (a truncated body, or a broken SSE data line after two events)
    refuse:CAT  a refusal (`stop_reason: "refusal"`, `stop_details.category` CAT: cyber, bio, frontier_llm,
                reasoning_extraction, general_harms or null) before any output; with the request's `fallbacks`,
                the next model answers (server-side fallback)
    refuse:CAT:K  the same after K output tokens: mid-stream when streamed, partial content otherwise
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

# status -> the error type the real API puts in its error body
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_MESSAGES: dict[int, str] = {
    400: "Scripted invalid request (x-fake-script).",
    401: "invalid x-api-key",
    403: "Your API key does not have permission to use the specified resource.",
    404: "Not found.",
    408: "Request timed out.",
    409: "Conflict.",
    413: "Request exceeds the maximum allowed number of bytes.",
    429: "This request would exceed your organization's rate limit. Please try again later.",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
    529: "Overloaded",
}
_COUNTED = ("stall", "error", "drop", "cut")  # kinds whose argument is a number of SSE events
# stop_details.category values the SDK's types know (`null`: a refusal with no named category)
REFUSAL_CATEGORIES = ("cyber", "bio", "frontier_llm", "reasoning_extraction", "general_harms", "null")


class FaultSpecError(ValueError):
    """A script or fault-rate string that does not parse; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """One attempt's fate. `kind` is ok, status, slow, drop, cut, stall, error, malformed or refuse.

    >>> parse_outcome("429:250")
    Outcome(kind='status', status=429, ms=250, events=None, category=None, model=None)
    """

    kind: str
    status: int = 200
    ms: int | None = None  # retry-after-ms for a status, the extra delay for slow
    events: int | None = None  # where a stream stops, for drop/cut/stall/error; output tokens before a refusal
    category: str | None = None  # a refusal's stop_details.category ("null" for none)
    model: str | None = None  # a refusal only for this model (`refuse:bio@claude-fable-5`); None: any model

    def __str__(self) -> str:
        if self.kind == "refuse":
            text = f"refuse:{self.category}" + (f":{self.events}" if self.events else "")
            return text + (f"@{self.model}" if self.model else "")
        if self.kind == "status":
            return str(self.status) if self.ms is None else f"{self.status}:{self.ms}"
        if self.kind == "slow":
            return f"slow:{self.ms}"
        if self.events is not None:
            return f"{self.kind}:{self.events}"
        return self.kind


OK = Outcome("ok")


def parse_outcome(text: str) -> Outcome:
    """One outcome from its spelling (`ok`, `429:10`, `529`, `slow:200`, `stall:3`, ...); FaultSpecError if bad.

    >>> str(parse_outcome(" stall:3 "))
    'stall:3'
    """
    spelled = text.strip().lower()
    if spelled.startswith("refuse"):
        return _refusal(text.strip(), spelled)
    name, sep, arg = spelled.partition(":")
    number: int | None = None
    if sep:
        try:
            number = int(arg)
        except ValueError:
            raise FaultSpecError(f"{text.strip()!r}: expected a whole number after ':'") from None
        if number < 0:
            raise FaultSpecError(f"{text.strip()!r}: the number must not be negative")
    if name.isdigit():
        status = int(name)
        if status not in ERROR_TYPES:
            known = ", ".join(str(s) for s in ERROR_TYPES)
            raise FaultSpecError(f"{text.strip()!r}: unsupported status (one of {known})")
        return Outcome("status", status=status, ms=number)
    if name in ("ok", "malformed") and not sep:
        return Outcome(name)
    if name == "drop" and not sep:
        return Outcome("drop")
    if name == "slow":
        if number is None:
            raise FaultSpecError(f"{text.strip()!r}: slow needs milliseconds, e.g. slow:200")
        return Outcome("slow", ms=number)
    if name in _COUNTED:
        if number is None:
            raise FaultSpecError(f"{text.strip()!r}: {name} needs a number of events, e.g. {name}:3")
        return Outcome(name, events=number)
    raise FaultSpecError(
        f"{text.strip()!r}: unknown outcome (ok, 429[:MS], 529, 500, 400, slow:MS, drop, stall:N, error:N, "
        "cut:N, drop:N, malformed, refuse:CATEGORY[:TOKENS])"
    )


def _refusal(text: str, spelled: str) -> Outcome:
    """`refuse:CAT`, `refuse:CAT:K` (K output tokens before the refusal), either with `@MODEL` (only that model
    refuses: the hops of a client-side fallback carry the same script and must not all refuse).

    >>> parse_outcome("refuse:bio:12@claude-fable-5")
    Outcome(kind='refuse', status=200, ms=None, events=12, category='bio', model='claude-fable-5')
    """
    spelled, _, model = spelled.partition("@")
    parts = spelled.split(":")
    if parts[0] != "refuse" or len(parts) not in (2, 3) or parts[1] not in REFUSAL_CATEGORIES:
        raise FaultSpecError(
            f"{text!r}: expected refuse:CATEGORY[:TOKENS], CATEGORY one of {', '.join(REFUSAL_CATEGORIES)}"
        )
    tokens = 0
    if len(parts) == 3:
        if not parts[2].isdigit():
            raise FaultSpecError(f"{text!r}: expected a whole number of output tokens after the category")
        tokens = int(parts[2])
    return Outcome("refuse", events=tokens, category=parts[1], model=model or None)


def parse_script(header: str) -> tuple[Outcome, ...]:
    """The outcomes of an `x-fake-script` header, one per attempt; the last repeats.

    >>> [str(o) for o in parse_script("429:10,429:10,ok")]
    ['429:10', '429:10', 'ok']
    """
    parts = [p for p in header.split(",") if p.strip()]
    if not parts:
        raise FaultSpecError("empty x-fake-script")
    return tuple(parse_outcome(p) for p in parts)


def pick(script: tuple[Outcome, ...], attempt: int) -> Outcome:
    """The outcome for attempt `attempt` (0 = first); past the end, the last one."""
    return script[min(max(attempt, 0), len(script) - 1)]


class FaultRates:
    """Server-wide fault probabilities, drawn per request from a seeded generator.

    >>> rates = FaultRates.parse("429=0.05,529=0.02")
    >>> str(rates)
    '429=0.05,529=0.02'
    """

    __slots__ = ("_table", "total")

    def __init__(self, table: Mapping[Outcome, float]) -> None:
        cumulative = 0.0
        rows: list[tuple[float, Outcome]] = []
        for outcome, rate in table.items():
            if not 0.0 <= rate <= 1.0:
                raise FaultSpecError(f"{outcome}={rate}: a rate is a probability between 0 and 1")
            if rate:
                cumulative += rate
                rows.append((cumulative, outcome))
        if cumulative > 1.0 + 1e-9:
            raise FaultSpecError(f"fault rates add up to {cumulative:g}, more than 1")
        self._table = tuple(rows)
        self.total = cumulative

    @classmethod
    def parse(cls, spec: str | Mapping[str, float] | None) -> FaultRates:
        """From `"429=0.05,529=0.02,slow:2000=0.1"`, a mapping of the same, or None (no faults)."""
        if spec is None:
            return cls({})
        items: list[tuple[str, float]] = []
        if isinstance(spec, str):
            for part in spec.split(","):
                if not part.strip():
                    continue
                key, sep, value = part.partition("=")
                if not sep:
                    raise FaultSpecError(f"{part.strip()!r}: expected OUTCOME=RATE, e.g. 429=0.05")
                try:
                    items.append((key, float(value)))
                except ValueError:
                    raise FaultSpecError(f"{part.strip()!r}: the rate must be a number, e.g. 0.05") from None
        else:
            items = [(str(k), float(v)) for k, v in spec.items()]
        table: dict[Outcome, float] = {}
        for key, rate in items:
            outcome = parse_outcome(key)
            table[outcome] = table.get(outcome, 0.0) + rate
        return cls(table)

    def draw(self, rng: random.Random) -> Outcome:
        """An outcome for one request: a fault with its probability, else ok."""
        if not self._table:
            return OK
        x = rng.random()
        for edge, outcome in self._table:
            if x < edge:
                return outcome
        return OK

    def __bool__(self) -> bool:
        return bool(self._table)

    def __str__(self) -> str:
        previous = 0.0
        parts = []
        for edge, outcome in self._table:
            parts.append(f"{outcome}={round(edge - previous, 9):g}")
            previous = edge
        return ",".join(parts)
