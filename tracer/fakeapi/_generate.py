"""What the fake model says: text, thinking and tool calls drawn from a seeded generator, as a Message or SSE events.

Everything here is pure: a request body and a `random.Random` in, plain data out. The caller seeds the generator from
the request's content, so the same prompt gets the same answer (streamed or not), which lets a test compare a stalled
stream's partial text with the full one.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

from tracer.fakeapi._catalog import Profile
from tracer.fakeapi._tokens import InputUsage, text_tokens

_PROSE = (
    "the model reads your request and answers it with care so that each part of the reply stays short clear and "
    "useful while tokens stream back one small piece at a time through the fake API which never calls a real "
    "service but keeps usage latency headers and errors close to what production traffic shows every day"
)
_WORDS = tuple(_PROSE.split())
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B64 = _ALPHABET + "+/"
_DELTA_SIZES = (1, 2, 3, 4)
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def make_id(prefix: str, rng: random.Random) -> str:
    """An ID shaped like the API's (`msg_01...`, `toolu_01...`, `msgbatch_01...`).

    >>> make_id("msg", random.Random(0)).startswith("msg_01")
    True
    """
    return prefix + "_01" + "".join(rng.choices(_ALPHABET, k=22))


def _pieces(rng: random.Random, n: int) -> list[str]:
    """n tokens of prose, one string per token, punctuated into sentences."""
    words = rng.choices(_WORDS, k=n)
    out: list[str] = []
    sentence = 0
    for i, word in enumerate(words):
        if sentence == 0:
            word = word.capitalize()
        sentence += 1
        if i == n - 1 or (sentence >= 6 and rng.random() < 0.2):
            word += "."
            sentence = 0
        out.append(word if i == 0 else " " + word)
    return out


def _sample(schema: Any, rng: random.Random, depth: int = 0) -> Any:
    """A value that fits a JSON schema well enough for a fake tool call."""
    if not isinstance(schema, dict):
        return rng.choice(_WORDS)
    if schema.get("enum"):
        return rng.choice(schema["enum"])
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = kind[0] if kind else "string"
    if kind == "integer":
        return rng.randint(1, 100)
    if kind == "number":
        return round(rng.uniform(0, 100), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        return [] if depth > 3 else [_sample(schema.get("items", {}), rng, depth + 1)]
    if kind == "object":
        if depth > 3:
            return {}
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        return {
            name: _sample(sub, rng, depth + 1)
            for name, sub in properties.items()
            if name in required or rng.random() < 0.5
        }
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 3)))


@dataclass(slots=True)
class Block:
    """One content block of the answer: its kind and the deltas it streams as (one string per delta)."""

    kind: str  # text, thinking, tool_use, or "block": a whole block sent at content_block_start (fallback, ...)
    deltas: list[str]
    tokens: int
    tool_id: str = ""
    tool_name: str = ""
    tool_input: Any = None
    signature: str = ""
    payload: dict[str, Any] | None = None  # the block itself, for kind "block"

    @property
    def text(self) -> str:
        return "".join(self.deltas)


@dataclass(slots=True)
class Answer:
    """The model's whole answer to one request."""

    blocks: list[Block]
    stop_reason: str
    stop_sequence: str | None = None
    thinking_tokens: int = 0
    server_tool_use: dict[str, int] | None = None
    stop_details: dict[str, Any] | None = None  # a refusal's, else None (left out of the body)
    output_tokens: int = field(init=False)

    def __post_init__(self) -> None:
        # A refusal before any output reports 0 output tokens; any other answer has at least one.
        least = 0 if self.stop_reason == "refusal" else 1
        self.output_tokens = max(least, sum(b.tokens for b in self.blocks))


def _group(pieces: list[str], rng: random.Random) -> list[str]:
    """Tokens grouped into deltas of one to four, as the API streams them."""
    sizes = rng.choices(_DELTA_SIZES, k=len(pieces))
    out: list[str] = []
    i = 0
    for size in sizes:
        if i >= len(pieces):
            break
        out.append("".join(pieces[i : i + size]))
        i += size
    return out


def _custom_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        t
        for t in body.get("tools") or []
        if isinstance(t, dict) and "name" in t and (t.get("type") in (None, "custom") or "input_schema" in t)
    ]


def _ends_with_tool_result(body: dict[str, Any]) -> bool:
    messages = body.get("messages") or []
    if not messages:
        return False
    content = messages[-1].get("content") if isinstance(messages[-1], dict) else None
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def answer(body: dict[str, Any], rng: random.Random) -> Answer:
    """Draw the answer to a (validated) Messages request.

    >>> a = answer({"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
    ...            random.Random(1))
    >>> a.output_tokens <= 16 and a.blocks[0].kind
    'text'
    """
    max_tokens = int(body["max_tokens"])
    remaining = max_tokens
    blocks: list[Block] = []
    thinking = body.get("thinking") or {}
    thinking_tokens = 0
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        budget = int(thinking.get("budget_tokens") or max(1, max_tokens // 2))
        low = min(budget, 16, remaining)
        thinking_tokens = rng.randint(low, max(low, min(budget, 240, remaining)))
        remaining -= thinking_tokens
        omitted = thinking.get("display") == "omitted"
        deltas = [] if omitted else _group(_pieces(rng, thinking_tokens), rng)
        signature = "".join(rng.choices(_B64, k=96)) + "=="
        blocks.append(Block("thinking", deltas, thinking_tokens, signature=signature))

    stop_reason = "end_turn"
    stop_sequence: str | None = None
    tools = _custom_tools(body)
    choice = body.get("tool_choice") or {"type": "auto"}
    choice_type = choice.get("type", "auto") if isinstance(choice, dict) else "auto"
    use_tool = False
    if tools and choice_type != "none":
        if choice_type in ("any", "tool"):
            use_tool = True
        elif not _ends_with_tool_result(body):
            use_tool = rng.random() < 0.5
    if use_tool and remaining > 0:
        if choice_type == "tool":
            tool = next((t for t in tools if t["name"] == choice.get("name")), tools[0])
        else:
            tool = rng.choice(tools)
        if choice_type == "auto" and rng.random() < 0.5:
            n = min(remaining, rng.randint(5, 15))
            blocks.append(Block("text", _group(_pieces(rng, n), rng), n))
            remaining -= n
        tool_input = _sample(tool.get("input_schema", {}), rng)
        encoded = json.dumps(tool_input)
        tokens = 10 + text_tokens(encoded)
        # the API's first input_json delta is empty; the rest are small slices of the JSON text
        deltas = [""]
        i = 0
        while i < len(encoded):
            step = rng.randint(6, 24)
            deltas.append(encoded[i : i + step])
            i += step
        blocks.append(Block("tool_use", deltas, tokens, make_id("toolu", rng), tool["name"], tool_input))
        stop_reason = "tool_use"
    else:
        target = max(8, min(2000, int(math.exp(rng.gauss(math.log(60), 0.6)))))
        n = min(target, remaining)
        if n < target:
            stop_reason = "max_tokens"
        elif body.get("stop_sequences") and rng.random() < 0.25:
            stop_reason = "stop_sequence"
            stop_sequence = str(rng.choice(body["stop_sequences"]))
        if n > 0:
            blocks.append(Block("text", _group(_pieces(rng, n), rng), n))
        elif not blocks:
            blocks.append(Block("text", [], 0))

    server_tool_use = None
    kinds = [str(t.get("type", "")) for t in body.get("tools") or [] if isinstance(t, dict)]
    searches = sum(1 for k in kinds if k.startswith("web_search"))
    fetches = sum(1 for k in kinds if k.startswith("web_fetch"))
    if searches or fetches:
        server_tool_use = {
            "web_search_requests": rng.randint(1, 3) if searches else 0,
            "web_fetch_requests": rng.randint(1, 2) if fetches else 0,
        }
    return Answer(blocks, stop_reason, stop_sequence, thinking_tokens, server_tool_use)


def usage(
    inp: InputUsage,
    ans: Answer | None,
    *,
    output_tokens: int | None = None,
    service_tier: str = "standard",
    inference_geo: str | None = None,
    speed: str | None = None,
) -> dict[str, Any]:
    """The usage object, input side from the cache accounting and output side from the answer."""
    out: dict[str, Any] = {
        **inp.usage_fields(),
        "output_tokens": ans.output_tokens if output_tokens is None and ans is not None else (output_tokens or 0),
        "output_tokens_details": {"thinking_tokens": ans.thinking_tokens if ans is not None else 0},
        "server_tool_use": ans.server_tool_use if ans is not None else None,
        "service_tier": service_tier,
    }
    if inference_geo is not None:
        out["inference_geo"] = inference_geo
    if speed is not None:
        out["speed"] = speed
    return out


def _content(block: Block) -> dict[str, Any]:
    if block.payload is not None:
        return block.payload
    if block.kind == "thinking":
        return {"type": "thinking", "thinking": block.text, "signature": block.signature}
    if block.kind == "tool_use":
        return {"type": "tool_use", "id": block.tool_id, "name": block.tool_name, "input": block.tool_input}
    return {"type": "text", "text": block.text}


def message(message_id: str, model: str, ans: Answer, use: dict[str, Any]) -> dict[str, Any]:
    """The non-streaming response body."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [_content(b) for b in ans.blocks],
        "stop_reason": ans.stop_reason,
        "stop_sequence": ans.stop_sequence,
        **({"stop_details": ans.stop_details} if ans.stop_details is not None else {}),
        "usage": use,
    }


def sse(event: str, data: dict[str, Any]) -> bytes:
    """One server-sent event as it goes on the wire."""
    return b"event: %s\ndata: %s\n\n" % (event.encode(), _encode(data).encode())


@dataclass(frozen=True, slots=True)
class Timing:
    """When things happen, in seconds at the chosen latency scale (all zero at scale 0)."""

    ttft_s: float
    per_token_s: float

    @property
    def instant(self) -> bool:
        return self.ttft_s == 0 and self.per_token_s == 0

    def total(self, output_tokens: int) -> float:
        return self.ttft_s + self.per_token_s * output_tokens


def timing(profile: Profile, uncached_input: int, rng: random.Random | None, scale: float) -> Timing:
    """Per-model latency with a heavy tail: most calls near the profile, a few several times slower."""
    if scale <= 0 or rng is None:
        return Timing(0.0, 0.0)
    tail = math.exp(rng.gauss(0.0, 0.3))
    slow = 1.0
    if rng.random() < 0.02:  # a congested replica: the whole call is several times slower
        slow = min(30.0, 2.0 + rng.paretovariate(1.5))
    ttft = (profile.ttft_s + profile.ttft_per_1k_input_s * uncached_input / 1000) * tail * slow
    per_token = profile.per_token_s * math.exp(rng.gauss(0.0, 0.15)) * slow
    return Timing(ttft * scale, per_token * scale)


def stream_items(message_id: str, model: str, ans: Answer, use: dict[str, Any], t: Timing) -> list[bytes | float]:
    """The SSE body: events (bytes, one per event) with pauses (float seconds) between them.

    The sequence is the API's: message_start, then per block content_block_start / deltas / content_block_stop (a
    ping after the first block starts), message_delta with the stop reason and cumulative usage, message_stop.
    """
    start_usage = dict(use)
    start_usage["output_tokens"] = 1  # the API's placeholder until message_delta
    start_usage.pop("server_tool_use", None)
    # final only in message_delta: which hops and iterations were billed, whether a credit was redeemed
    start_usage.pop("iterations", None)
    start_usage.pop("fallback_credit", None)
    head: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    items: list[bytes | float] = []
    pause = not t.instant
    if pause:
        items.append(t.ttft_s * 0.25)
    items.append(sse("message_start", {"type": "message_start", "message": head}))
    for index, block in enumerate(ans.blocks):
        if block.payload is not None:
            start: dict[str, Any] = block.payload
        elif block.kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
        elif block.kind == "tool_use":
            start = {"type": "tool_use", "id": block.tool_id, "name": block.tool_name, "input": {}}
        else:
            start = {"type": "text", "text": ""}
        items.append(
            sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
        )
        if index == 0:
            items.append(sse("ping", {"type": "ping"}))
            if pause:
                items.append(t.ttft_s * 0.75)
        per_delta = block.tokens / max(1, len(block.deltas))
        for i, text in enumerate(block.deltas):
            if pause and i:
                items.append(t.per_token_s * per_delta)
            if block.kind == "thinking":
                delta: dict[str, Any] = {"type": "thinking_delta", "thinking": text}
            elif block.kind == "tool_use":
                delta = {"type": "input_json_delta", "partial_json": text}
            else:
                delta = {"type": "text_delta", "text": text}
            items.append(sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}))
        if block.kind == "thinking":
            signature = {"type": "signature_delta", "signature": block.signature}
            items.append(
                sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": signature})
            )
        items.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    final_usage = {k: use[k] for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")}
    final_usage["output_tokens"] = use["output_tokens"]
    final_usage["output_tokens_details"] = use["output_tokens_details"]
    final_usage["server_tool_use"] = use["server_tool_use"]
    for key in ("iterations", "fallback_credit"):
        if key in use:
            final_usage[key] = use[key]
    final: dict[str, Any] = {"stop_reason": ans.stop_reason, "stop_sequence": ans.stop_sequence}
    if ans.stop_details is not None:
        final["stop_details"] = ans.stop_details
    items.append(sse("message_delta", {"type": "message_delta", "delta": final, "usage": final_usage}))
    items.append(sse("message_stop", {"type": "message_stop"}))
    return items
