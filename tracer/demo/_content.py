"""What the demo's application sends: questions, tickets, documents, a long cached handbook and tool definitions.

All of it is drawn from a seeded `random.Random`, so one seed gives one workload. The fake API bills about four
characters a token, which sets the sizes here: the handbook is long enough (about 5,300 tokens) to pass every
model family's minimum cacheable prefix, so repeated questions over it read from the prompt cache.
"""

from __future__ import annotations

import random
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anthropic.types import MessageParam, TextBlockParam, ToolParam, WebSearchTool20250305Param

QUESTIONS = (
    "How do I rotate the API keys for the staging environment without downtime?",
    "Summarise the trade-offs between optimistic and pessimistic locking for our order service.",
    "Write a haiku about a deploy that finally went green.",
    "What is the difference between p95 and p99 latency, and which should page someone?",
    "Draft a polite reply to a customer asking for a refund after the 30-day window.",
    "Explain exponential backoff with jitter to a new engineer in three sentences.",
    "Which of these log lines suggests a memory leak, and why?",
    "Translate 'the invoice is overdue' into French, German and Japanese.",
    "Give me five names for an internal tool that tracks LLM spend.",
    "Is it safe to retry a POST that timed out? Answer for idempotent and non-idempotent endpoints.",
)
TICKETS = (
    "Order #{n} arrived damaged; the customer wants a replacement shipped to a new address in {city}.",
    "Customer in {city} was charged twice for invoice {n}. They ask for the duplicate to be refunded.",
    "Login fails with error E{n} since the last app update (iOS, {city} office).",
    "Please cancel subscription {n} at the end of the billing period; the team in {city} moved to another tool.",
)
CITIES = ("Lisbon", "Osaka", "Toronto", "Nairobi", "Austin", "Wrocław", "Melbourne")
TOPICS = ("incident review", "quarterly planning notes", "architecture proposal", "customer interview", "postmortem")
_WORDS = [
    "latency",
    "budget",
    "request",
    "queue",
    "retry",
    "backoff",
    "customer",
    "invoice",
    "region",
    "replica",
    "cache",
    "token",
    "model",
    "throughput",
    "deployment",
    "rollback",
    "canary",
    "alert",
    "dashboard",
    "service",
    "contract",
    "policy",
    "review",
    "margin",
    "capacity",
    "forecast",
    "incident",
    "owner",
    "timeline",
    "mitigation",
    "escalation",
    "runbook",
    "metric",
    "threshold",
    "window",
    "percentile",
    "error",
]

FEATURES = ("chat", "search", "summarise", "extract", "agent")
CUSTOMERS = ("acme", "globex", "initech", "umbrella", "hooli")

WEATHER_TOOL: ToolParam = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    },
}
ORDERS_TOOL: ToolParam = {
    "name": "lookup_order",
    "description": "Look an order up by its number: status, items, shipping address.",
    "input_schema": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}, "include_items": {"type": "boolean"}},
        "required": ["order_id"],
    },
}
WEB_SEARCH_TOOL: WebSearchTool20250305Param = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}


def sentence(rng: random.Random, words: int = 14) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def paragraph(rng: random.Random, sentences: int = 5) -> str:
    return " ".join(sentence(rng, rng.randint(8, 20)) for _ in range(sentences))


def question(rng: random.Random) -> str:
    return rng.choice(QUESTIONS)


def ticket(rng: random.Random) -> str:
    return rng.choice(TICKETS).format(n=rng.randint(10_000, 99_999), city=rng.choice(CITIES))


def document(rng: random.Random, paragraphs: int) -> str:
    title = f"{rng.choice(TOPICS).title()} {rng.randint(1, 52)}"
    return title + "\n\n" + "\n\n".join(paragraph(rng) for _ in range(paragraphs))


def user(text: str) -> list[MessageParam]:
    """A one-message conversation."""
    return [{"role": "user", "content": text}]


def conversation(rng: random.Random, turns: int) -> list[MessageParam]:
    """A chat history ending with a user turn: earlier turns alternate user / assistant."""
    messages: list[MessageParam] = []
    for _ in range(turns - 1):
        messages.append({"role": "user", "content": question(rng)})
        messages.append({"role": "assistant", "content": paragraph(rng, rng.randint(1, 3))})
    messages.append({"role": "user", "content": question(rng)})
    return messages


@cache
def handbook() -> str:
    """The long, unchanging system prompt that support answers are grounded in (cached with cache_control)."""
    rng = random.Random("handbook")
    sections = []
    for number in range(1, 31):
        sections.append(f"Section {number}. {rng.choice(TOPICS).title()}\n" + paragraph(rng, 6))
    return "You are the support assistant of Example Corp. Answer only from this handbook.\n\n" + "\n\n".join(sections)


def cached_system(ttl: str | None = None) -> list[TextBlockParam]:
    """The handbook as a system block ending a cacheable prefix (5-minute TTL unless `ttl="1h"`)."""
    if ttl == "1h":
        return [{"type": "text", "text": handbook(), "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    return [{"type": "text", "text": handbook(), "cache_control": {"type": "ephemeral"}}]
