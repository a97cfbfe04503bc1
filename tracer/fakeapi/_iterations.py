"""What the API bills beyond one model's answer, as the 2026 API reports it: refusals (`stop_details`), server-side
fallback (`fallbacks`, `fallback` content blocks), fallback credit, the advisor tool and compaction, each adding
entries to `usage.iterations`.

Shapes follow the installed SDK's beta types (`BetaRefusalStopDetails`, `BetaFallbackBlock`,
`BetaMessageIterationUsage`, `BetaFallbackMessageIterationUsage`, `BetaAdvisorMessageIterationUsage`,
`BetaCompactionIterationUsage`, `BetaFallbackCreditUsage`). Pure functions over the request body and the drawn answer;
`App._messages` puts them together.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from tracer.fakeapi import _generate as gen
from tracer.fakeapi._tokens import InputUsage

# The server-defined default chain (`fallbacks: "default"`): refusal-prone models hand over to Opus 4.8, the
# fallback the refusals-and-fallback guide names (platform.claude.com/docs/en/build-with-claude/refusals-and-fallback,
# read 2026-11-29). A model without an entry runs alone, so its refusal stays a refusal.
DEFAULT_FALLBACKS: dict[str, tuple[str, ...]] = {
    "claude-fable-5": ("claude-opus-4-8",),
    "claude-fable-5-1": ("claude-opus-4-8",),
    "claude-fable-5-2": ("claude-opus-4-8",),
    "claude-mythos-5": ("claude-opus-4-8",),
    "claude-mythos-5-1": ("claude-opus-4-8",),
    "claude-mythos-5-2": ("claude-opus-4-8",),
}
_EXPLANATIONS = {
    "cyber": "This request triggered restrictions on violative cyber content.",
    "bio": "This request triggered restrictions on violative biological content.",
    "frontier_llm": "This request could assist the development of competing AI models.",
    "reasoning_extraction": "This request asks the model to reproduce its internal reasoning.",
    "general_harms": "This request was determined to be related to a harmful area.",
}
_CREDIT_BETAS = ("fallback-credit-", "server-side-fallback-")
ADVISOR_TOOL = "advisor_20260301"
COMPACT_EDIT = "compact_20260112"
COMPACT_DEFAULT_TRIGGER = 150_000  # input tokens, the SDK's documented default


def category_value(category: str | None) -> str | None:
    return None if category in (None, "null") else category


def betas(headers: dict[str, str]) -> str:
    return headers.get("anthropic-beta", "")


def refused(ans: gen.Answer, tokens: int, category: str | None, credit_token: str | None) -> gen.Answer:
    """`ans` cut to its first `tokens` output tokens (text only) and ended by a refusal of `category`."""
    blocks: list[gen.Block] = []
    left = tokens
    for block in ans.blocks:
        if left <= 0 or block.kind not in ("text", "thinking"):
            break
        if block.tokens <= left:
            blocks.append(block)
            left -= block.tokens
            continue
        share = max(1, len(block.deltas) * left // max(1, block.tokens))
        blocks.append(replace(block, deltas=block.deltas[:share], tokens=left))
        left = 0
    details = {
        "type": "refusal",
        "category": category_value(category),
        "explanation": _EXPLANATIONS.get(category or ""),
        "fallback_credit_token": credit_token,
        "fallback_has_prefill_claim": (bool(blocks) if credit_token else None),
        "recommended_model": None,
    }
    thinking = sum(b.tokens for b in blocks if b.kind == "thinking")
    return gen.Answer(blocks, "refusal", None, thinking, None, details)


def credit_token(headers: dict[str, str], inp: InputUsage, rng: random.Random) -> str | None:
    """An opaque credit token when the request opted in (either beta header). It carries, for this fake only, the
    refused request's cache reads: what the retry may bill as reads instead of writes."""
    if not any(b in betas(headers) for b in _CREDIT_BETAS):
        return None
    return f"fct_{inp.cache_read}_{gen.make_id('x', rng)[2:14]}"


def redeemed(body: dict[str, Any]) -> int | None:
    """The cache reads a retry's `fallback_credit_token` (bare string or `{"token", "mode"}`) carries; None if
    there is none or it is not one of ours."""
    token = body.get("fallback_credit_token")
    if isinstance(token, dict):
        token = token.get("token")
    if not isinstance(token, str) or not token.startswith("fct_"):
        return None
    try:
        return int(token.split("_")[1])
    except (IndexError, ValueError):
        return None


def with_credit(inp: InputUsage, credit: int) -> InputUsage:
    """The retry billed as though the conversation had been on its model all along: up to `credit` tokens that
    would be cache writes are cache reads (5-minute writes first)."""
    moved_5m = min(inp.cache_write_5m, credit)
    moved_1h = min(inp.cache_write_1h, credit - moved_5m)
    return replace(
        inp,
        cache_write_5m=inp.cache_write_5m - moved_5m,
        cache_write_1h=inp.cache_write_1h - moved_1h,
        cache_read=inp.cache_read + moved_5m + moved_1h,
    )


def fallback_chain(body: dict[str, Any], model: str, headers: dict[str, str], known: frozenset[str]) -> list[str]:
    """The models to try after `model` declines: the request's `fallbacks` list, or the default chain for
    `"default"`; nothing without the server-side-fallback beta header."""
    fallbacks = body.get("fallbacks")
    if fallbacks is None or "server-side-fallback-" not in betas(headers):
        return []
    if fallbacks == "default":
        return list(DEFAULT_FALLBACKS.get(model, ()))
    if not isinstance(fallbacks, list):
        return []
    return [e["model"] for e in fallbacks if isinstance(e, dict) and e.get("model") in known]


def iteration(kind: str, model: str | None, inp: InputUsage, output_tokens: int) -> dict[str, Any]:
    """One `usage.iterations` entry (`message`, `fallback_message`, `advisor_message`, `compaction`)."""
    entry: dict[str, Any] = {"type": kind, **inp.usage_fields(), "output_tokens": output_tokens}
    if model is not None:
        entry["model"] = model
    return entry


def fallback_block(from_model: str, to_model: str, category: str | None) -> gen.Block:
    payload = {
        "type": "fallback",
        "from": {"model": from_model},
        "to": {"model": to_model},
        "trigger": {"type": "refusal", "category": category_value(category)},
    }
    return gen.Block("block", [], 0, payload=payload)


def advisor_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    for tool in body.get("tools") or []:
        if isinstance(tool, dict) and tool.get("type") == ADVISOR_TOOL and isinstance(tool.get("model"), str):
            return tool
    return None


def advised(
    ans: gen.Answer, inp: InputUsage, advisor: dict[str, Any], rng: random.Random
) -> tuple[gen.Answer, list[dict[str, Any]], InputUsage, int]:
    """The executor calls the advisor once before answering: three iterations (executor, advisor, executor).

    Returns the answer with the advisor's blocks first, the iterations, and the executor's summed input and output
    (the top-level usage reports the executor only; the advisor's tokens are in its iteration)."""
    call_tokens = 8  # the executor's server_tool_use block
    given = advisor.get("max_tokens")
    cap: int = given if isinstance(given, int) else 700
    advice_tokens = max(1, min(cap, rng.randint(400, 700)))
    tool_id = gen.make_id("srvtoolu", rng)
    advice = " ".join(rng.choice(("plan", "check", "the", "edge", "cases", "first")) for _ in range(advice_tokens))
    blocks = [
        gen.Block(
            "block", [], call_tokens, payload={"type": "server_tool_use", "id": tool_id, "name": "advisor", "input": {}}
        ),
        gen.Block(
            "block",
            [],
            0,
            payload={
                "type": "advisor_tool_result",
                "tool_use_id": tool_id,
                "content": {"type": "advisor_result", "text": advice},
            },
        ),
        *ans.blocks,
    ]
    out = gen.Answer(blocks, ans.stop_reason, ans.stop_sequence, ans.thinking_tokens, ans.server_tool_use)
    first = iteration("message", None, inp, call_tokens)
    # The advisor reads the whole transcript so far, uncached (the tool's own `caching` is not modelled).
    advisor_inp = InputUsage(inp.total + call_tokens)
    # The executor resumes on the prefix it just wrote (now a read) plus the call and the advice.
    resumed = InputUsage(inp.input_tokens + call_tokens + advice_tokens, cache_read=inp.cache_read + inp.cache_write)
    second = iteration("message", None, resumed, ans.output_tokens)
    iterations = [first, iteration("advisor_message", advisor["model"], advisor_inp, advice_tokens), second]
    executor = InputUsage(
        inp.input_tokens + resumed.input_tokens,
        inp.cache_write_5m,
        inp.cache_write_1h,
        inp.cache_read + resumed.cache_read,
    )
    return out, iterations, executor, call_tokens + ans.output_tokens


def compaction_trigger(body: dict[str, Any]) -> int | None:
    """The input-token threshold of a `compact_20260112` edit in `context_management`, or None without one."""
    cm = body.get("context_management")
    edits = cm.get("edits") if isinstance(cm, dict) else None
    for edit in edits or []:
        if isinstance(edit, dict) and edit.get("type") == COMPACT_EDIT:
            trigger = edit.get("trigger")
            value = trigger.get("value") if isinstance(trigger, dict) else None
            return value if isinstance(value, int) and value > 0 else COMPACT_DEFAULT_TRIGGER
    return None


def compacted(
    ans: gen.Answer, inp: InputUsage, rng: random.Random
) -> tuple[gen.Answer, list[dict[str, Any]], InputUsage]:
    """The context is summarised first (a `compaction` iteration, billed but not in the top-level usage), then the
    model answers from the summary (a `message` iteration, the top-level usage)."""
    summary_tokens = rng.randint(300, 1500)
    summary = " ".join(rng.choice(("so", "far", "the", "user", "asked", "about")) for _ in range(summary_tokens))
    block = gen.Block("block", [], 0, payload={"type": "compaction", "content": summary})
    out = gen.Answer([block, *ans.blocks], ans.stop_reason, ans.stop_sequence, ans.thinking_tokens, ans.server_tool_use)
    after = InputUsage(summary_tokens + 50)  # the summary and the turn that follows it
    iterations = [
        iteration("compaction", None, inp, summary_tokens),
        iteration("message", None, after, ans.output_tokens),
    ]
    return out, iterations, after
