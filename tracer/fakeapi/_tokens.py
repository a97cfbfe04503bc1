"""Input token counts and prompt caching, derived from the request the way the real API bills it.

Counts are approximate (about four characters a token, fixed sizes for images and documents, a fixed overhead for
tool definitions) but consistent: the same prompt always counts the same, `count_tokens` agrees with the usage of a
call, and usage adds up (`input_tokens` + cache writes + cache reads = the whole prompt).

Caching follows the API's rules: the prompt is tools, then system, then messages; a block with `cache_control` ends a
cacheable prefix (at most four); a prefix below the model's minimum is not cached; a prefix seen before (the same
model, within its TTL, looked up at each breakpoint and up to 20 blocks before it) is read, and what lies between
that point and each later breakpoint is written, with the TTL of the breakpoint ending it (`ttl: "1h"` or 5 minutes).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

IMAGE_TOKENS = 1600
DOCUMENT_TOKENS = 3000
TOOLS_OVERHEAD = 300  # the system prompt the API adds when tools are defined
MESSAGE_OVERHEAD = 4  # role markers around every message
PROMPT_OVERHEAD = 3  # the assistant turn the prompt ends with
MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
TTL_S = {"5m": 300.0, "1h": 3600.0}


class PromptError(ValueError):
    """A request the API would reject while reading its prompt (answered 400 invalid_request_error)."""


def text_tokens(text: str) -> int:
    """Tokens in a piece of text: about four characters each.

    >>> text_tokens("Say hello.")
    3
    """
    return (len(text) + 3) // 4


def _block_tokens(block: Any) -> int:
    if isinstance(block, str):
        return text_tokens(block)
    if not isinstance(block, dict):
        return text_tokens(str(block))
    kind = block.get("type")
    if kind == "text":
        return text_tokens(str(block.get("text", "")))
    if kind == "image":
        return IMAGE_TOKENS
    if kind == "document":
        return DOCUMENT_TOKENS
    if kind == "thinking":
        return text_tokens(str(block.get("thinking", "")))
    if kind == "redacted_thinking":
        return text_tokens(str(block.get("data", ""))) // 4
    if kind == "tool_use":
        return 10 + text_tokens(str(block.get("name", ""))) + text_tokens(json.dumps(block.get("input", {})))
    if kind == "tool_result":
        content = block.get("content", "")
        if isinstance(content, list):
            return 5 + sum(_block_tokens(b) for b in content)
        return 5 + text_tokens(str(content))
    return text_tokens(json.dumps(block))


@dataclass(frozen=True, slots=True)
class _Segment:
    tokens: int
    block: Any  # what identifies the block for the cache (role included for message blocks)
    cache_control: Any


def _segments(body: dict[str, Any]) -> list[_Segment]:
    out: list[_Segment] = []
    tools = body.get("tools") or []
    for i, tool in enumerate(tools):
        tokens = text_tokens(json.dumps(tool)) + (TOOLS_OVERHEAD if i == 0 else 0)
        out.append(_Segment(tokens, ("tool", tool), tool.get("cache_control") if isinstance(tool, dict) else None))
    system = body.get("system")
    if isinstance(system, str) and system:
        out.append(_Segment(text_tokens(system), ("system", system), None))
    elif isinstance(system, list):
        for block in system:
            cc = block.get("cache_control") if isinstance(block, dict) else None
            out.append(_Segment(_block_tokens(block), ("system", block), cc))
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            raise PromptError("messages: each message must be an object with role and content")
        role = message.get("role")
        content = message.get("content")
        if isinstance(content, str):
            out.append(_Segment(MESSAGE_OVERHEAD + text_tokens(content), (role, content), None))
        elif isinstance(content, list):
            for i, block in enumerate(content):
                cc = block.get("cache_control") if isinstance(block, dict) else None
                extra = MESSAGE_OVERHEAD if i == 0 else 0
                out.append(_Segment(extra + _block_tokens(block), (role, block), cc))
        else:
            raise PromptError(f"messages: content must be a string or a list of blocks, got {type(content).__name__}")
    return out


def count_input_tokens(body: dict[str, Any]) -> int:
    """All input tokens of a Messages request (what `count_tokens` answers), cached or not.

    >>> count_input_tokens({"messages": [{"role": "user", "content": "Say hello."}]})
    10
    """
    return PROMPT_OVERHEAD + sum(s.tokens for s in _segments(body))


@dataclass(frozen=True, slots=True)
class InputUsage:
    """The input side of usage. `input_tokens` excludes what was read from or written to the cache."""

    input_tokens: int
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0
    writes: tuple[tuple[int, float], ...] = ()  # cache entries to write when the request is admitted

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h

    @property
    def total(self) -> int:
        return self.input_tokens + self.cache_write + self.cache_read

    def usage_fields(self) -> dict[str, Any]:
        """The input side of a usage object (a response's, or one of its `usage.iterations`), as the API writes it."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_write,
            "cache_read_input_tokens": self.cache_read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_write_5m,
                "ephemeral_1h_input_tokens": self.cache_write_1h,
            },
        }


def _frozen(value: Any) -> Any:
    """A hashable stand-in for a JSON value, without cache_control (moving a breakpoint keeps the prefix's key)."""
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items() if k != "cache_control"))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


class PromptCache:
    """Prompt prefixes written so far, per model, with their expiry; thread-safe.

    >>> cache = PromptCache()
    >>> body = {"messages": [{"role": "user", "content": [
    ...     {"type": "text", "text": "x" * 8000, "cache_control": {"type": "ephemeral"}}]}]}
    >>> first, again = cache.account("claude-sonnet-4-6", body, 1024), cache.account("claude-sonnet-4-6", body, 1024)
    >>> (first.cache_write_5m, first.cache_read, again.cache_write_5m, again.cache_read)
    (2004, 0, 0, 2004)
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[int, tuple[float, float]] = {}  # prefix hash -> (expires at, ttl)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def account(self, model: str, body: dict[str, Any], min_tokens: int, *, commit: bool = True) -> InputUsage:
        """Usage of this prompt's input, reading and (with `commit`) writing the cache as the API would.

        Without `commit` the writes are kept in `usage.writes` for `commit()` later: a request the rate limiter
        refuses must not have written anything.
        """
        segments = _segments(body)
        total = PROMPT_OVERHEAD + sum(s.tokens for s in segments)
        if body.get("cache_control") and segments:  # automatic caching: a breakpoint on the last block
            last = segments[-1]
            segments[-1] = _Segment(last.tokens, last.block, last.cache_control or body["cache_control"])
        breakpoints = [i for i, s in enumerate(segments) if s.cache_control]
        if not breakpoints:
            return InputUsage(total)
        if len(breakpoints) > MAX_BREAKPOINTS:
            raise PromptError(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(breakpoints)}."
            )
        cumulative: list[int] = []
        hashes: list[int] = []
        running, h = 0, hash(("prefix", model))
        for segment in segments[: breakpoints[-1] + 1]:
            running += segment.tokens
            h = hash((h, _frozen(segment.block)))
            cumulative.append(running)
            hashes.append(h)
        candidates: set[int] = set()
        for b in breakpoints:
            candidates.update(range(max(0, b - LOOKBACK_BLOCKS + 1), b + 1))
        now = self._clock()
        with self._lock:
            read_at = -1
            for position in sorted(candidates, reverse=True):
                entry = self._entries.get(hashes[position])
                if entry is not None and entry[0] > now:
                    read_at = position
                    self._entries[hashes[position]] = (now + entry[1], entry[1])  # a read refreshes the TTL
                    break
            read = cumulative[read_at] if read_at >= 0 else 0
            boundary = read
            written = {"5m": 0, "1h": 0}
            writes: list[tuple[int, float]] = []
            for b in breakpoints:
                if b <= read_at or cumulative[b] < min_tokens:
                    continue
                cc = segments[b].cache_control
                ttl = cc.get("ttl", "5m") if isinstance(cc, dict) else "5m"
                if ttl not in TTL_S:
                    raise PromptError(f"cache_control.ttl: Input should be '5m' or '1h', got {ttl!r}")
                written[ttl] += cumulative[b] - boundary
                boundary = cumulative[b]
                writes.append((hashes[b], TTL_S[ttl]))
            if commit:
                for key, ttl_s in writes:
                    self._entries[key] = (now + ttl_s, ttl_s)
        left = total - read - written["5m"] - written["1h"]
        return InputUsage(left, written["5m"], written["1h"], read, () if commit else tuple(writes))

    def commit(self, usage: InputUsage) -> None:
        """Write what `account(..., commit=False)` deferred."""
        if not usage.writes:
            return
        now = self._clock()
        with self._lock:
            for key, ttl_s in usage.writes:
                self._entries[key] = (now + ttl_s, ttl_s)
