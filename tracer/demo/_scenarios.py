"""The demo application: what a team's services do with Claude on an ordinary day, and the bad moments.

Each scenario is a function `(app, rng) -> str | None` that makes a few API calls with the real SDK the way an
application would (tags, streaming, caching, tools, thinking, the resilience toolkit) and returns a line worth
showing when something notable happened. Everyday scenarios (`EVERYDAY`) are drawn by weight to fill the run;
incidents (`INCIDENTS`) are scripted with the fake API's `x-fake-script` header so that every dashboard panel
has something to show: 429s with retry-after, an overload that trips a circuit breaker, a stalled stream cut by
its deadline, an error event mid-stream, a budget trip, the toolkit's retries, timeouts and dropped connections.

API errors that an application would see are part of the workload: a scenario catches the ones it provokes, and
the runner counts any other `anthropic.APIError` as a failed call (as production code would log it).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import anthropic
from anthropic.types import MessageParam, TextBlockParam, ToolResultBlockParam, ToolUnionParam
from anthropic.types.messages.batch_create_params import Request
from opentelemetry import trace as otel_trace

import tracer
from tracer.demo import _content as content
from tracer.demo._models import Models
from tracer.resilience import (
    BudgetExceededError,
    BudgetGuard,
    CircuitBreaker,
    CircuitOpenError,
    GuardedClient,
    StreamDeadline,
    StreamTimeoutError,
    retry,
)

Scenario = Callable[["App", random.Random], "str | None"]


@dataclass
class App:
    """The demo application's clients and guards, shared by every scenario (and thread) of one run."""

    client: anthropic.Anthropic
    base_url: str
    models: Models
    scale: float  # the fake API's latency scale; waits the application makes itself follow it
    agents: GuardedClient = field(init=False)  # retries by the toolkit, a soft budget (warnings) on agent spend
    streams: GuardedClient = field(init=False)  # a stream deadline for the chat UI

    def __post_init__(self) -> None:
        self.agents = GuardedClient(
            self.client,
            retry=retry(max_attempts=4, base_delay_s=self.wait(0.5), max_delay_s=self.wait(4.0),
                        rate_limit_min_delay_s=self.wait(1.0), name="agent-retry"),
            budget=BudgetGuard(0.10, window_s=3600, match={"feature": "agent"}, mode="warn", name="agent-soft-cap"),
        )  # fmt: skip
        self.streams = GuardedClient(self.client, deadline=self.deadline())

    def wait(self, seconds: float, floor: float = 0.001) -> float:
        """`seconds` of application waiting at this latency scale (never quite zero: some waits must elapse)."""
        return max(floor, seconds * self.scale)

    def deadline(self) -> StreamDeadline:
        # Long enough for any healthy stream at this scale, short enough that a stall ends the demo's wait quickly.
        return StreamDeadline(total_s=max(5.0, 60.0 * self.scale), idle_s=self.wait(4.0, floor=0.4), name="chat-stream")

    def ms(self, milliseconds: float) -> int:
        """A retry-after in ms at this scale (at least 1: the SDK ignores a retry-after of zero)."""
        return max(1, round(milliseconds * self.scale))


def script(*outcomes: str) -> dict[str, str]:
    """`extra_headers` asking the fake API for these outcomes on successive attempts."""
    return {"x-fake-script": ",".join(outcomes)}


def _customer(rng: random.Random) -> str:
    # A few big customers make most of the traffic, as they do.
    return rng.choices(content.CUSTOMERS, weights=(5, 3, 2, 1, 1))[0]


# ----------------------------------------------------------------------------------------------------------------
# Everyday traffic
# ----------------------------------------------------------------------------------------------------------------


def chat(app: App, rng: random.Random) -> str | None:
    """Multi-turn chat, mostly on the current sonnet.

    The chat product: mostly on the current sonnet, some still on the previous one.
    """
    model = app.models.sonnet if rng.random() < 0.7 else app.models.sonnet_previous
    with tracer.tags(feature="chat", customer=_customer(rng)):
        app.client.messages.create(model=model, max_tokens=512, messages=content.conversation(rng, rng.randint(1, 3)))
    return None


def chat_stream(app: App, rng: random.Random) -> str | None:
    """Streamed chat; one user in 20 leaves mid-answer.

    The chat UI streams; one user in twenty leaves before the answer ends (the stream is closed early).
    """
    model = app.models.sonnet if rng.random() < 0.7 else app.models.sonnet_previous
    leaves = rng.random() < 0.05
    with (
        tracer.tags(feature="chat", customer=_customer(rng)),
        app.streams.messages.stream(
            model=model, max_tokens=512, messages=content.conversation(rng, rng.randint(1, 4))
        ) as stream,
    ):
        for i, _text in enumerate(stream.text_stream):
            if leaves and i >= 3:
                break
    return None


def grounded_search(app: App, rng: random.Random) -> str | None:
    """Search over the cached handbook, streamed.

    Search answers grounded in the handbook (a cached system prompt), streamed with create(stream=True).
    """
    # One search in four may also search the web (server tool use, billed per search).
    tools: list[ToolUnionParam] | anthropic.Omit = [content.WEB_SEARCH_TOOL] if rng.random() < 0.25 else anthropic.omit
    with tracer.tags(feature="search", customer=_customer(rng)):
        events = app.client.messages.create(
            model=app.models.sonnet, max_tokens=400, system=content.cached_system(), stream=True,
            messages=content.user(content.question(rng)), tools=tools,
        )  # fmt: skip
        with events:
            for _event in events:
                pass
    return None


def support_answer(app: App, rng: random.Random) -> str | None:
    """Support replies on haiku over the cached handbook.

    The same handbook as search, in a cache of its own: caches are per model.
    """
    with tracer.tags(feature="search", customer=_customer(rng)):
        app.client.messages.create(
            model=app.models.haiku, max_tokens=300, system=content.cached_system(),
            messages=content.user(content.ticket(rng)),
        )  # fmt: skip
    return None


def summarise(app: App, rng: random.Random) -> str | None:
    """Long documents: count tokens, then summarise.

    The token count chooses the model.
    """
    doc = content.document(rng, rng.randint(3, 12))
    messages = content.user(f"Summarise for an executive in five bullet points:\n\n{doc}")
    with tracer.tags(feature="summarise", customer=_customer(rng)):
        counted = app.client.messages.count_tokens(model=app.models.haiku, messages=messages)
        model = app.models.sonnet if counted.input_tokens > 1500 else app.models.haiku
        app.client.messages.create(model=model, max_tokens=600, messages=messages)
    return None


def extract(app: App, rng: random.Random) -> str | None:
    """Ticket extraction: short, cheap, on haiku."""
    with tracer.tags(feature="extract", customer=_customer(rng)):
        app.client.messages.create(
            model=app.models.haiku, max_tokens=200, stop_sequences=["\n\n"],
            system="Extract order_id, city and intent as JSON. Answer with the JSON only.",
            messages=content.user(content.ticket(rng)),
        )  # fmt: skip
    return None


def agent(app: App, rng: random.Random) -> str | None:
    """Opus agent: thinking, two tools, a 1-hour cache.

    It loops until it answers, over a long-lived (1-hour) cached handbook.

    It goes through a GuardedClient: the toolkit's retries, and a soft budget that records warnings.
    """
    messages = content.user(content.ticket(rng))
    with tracer.tags(feature="agent", customer=_customer(rng)):
        for _step in range(3):
            reply = app.agents.messages.create(
                model=app.models.opus, max_tokens=2048, system=content.cached_system(ttl="1h"),
                thinking={"type": "enabled", "budget_tokens": 1024},
                tools=[content.WEATHER_TOOL, content.ORDERS_TOOL], messages=messages,
            )  # fmt: skip
            if reply.stop_reason != "tool_use":
                break
            messages.append({"role": "assistant", "content": reply.content})
            results: list[ToolResultBlockParam] = [
                {"type": "tool_result", "tool_use_id": block.id, "content": content.sentence(rng)}
                for block in reply.content
                if block.type == "tool_use"
            ]
            messages.append({"role": "user", "content": results})
    return None


def think(app: App, rng: random.Random) -> str | None:
    """Hard questions: streamed thinking, opus or sonnet."""
    model = app.models.opus if rng.random() < 0.5 else app.models.sonnet
    with tracer.tags(feature="chat", customer=_customer(rng)), app.client.messages.stream(
        model=model, max_tokens=3000, thinking={"type": "enabled", "budget_tokens": 2000},
        messages=content.user(content.question(rng)),
    ) as stream:  # fmt: skip
        stream.get_final_message()
    return None


def triage(app: App, rng: random.Random) -> str | None:
    """Async worker: a few tickets at once, some streamed.

    An AsyncAnthropic worker triaging a handful of tickets concurrently.
    """

    async def one(client: anthropic.AsyncAnthropic, i: int) -> None:
        messages = content.user(f"Classify (billing, bug, shipping, other): {content.ticket(rng)}")
        with tracer.tags(feature="extract", customer=_customer(rng)):
            if i % 2:
                async with client.messages.stream(model=app.models.haiku, max_tokens=64, messages=messages) as s:
                    await s.get_final_message()
            else:
                await client.messages.create(model=app.models.haiku, max_tokens=64, messages=messages)

    async def main() -> None:
        async with anthropic.AsyncAnthropic(api_key="demo-key", base_url=app.base_url) as client:
            results = await asyncio.gather(*(one(client, i) for i in range(TRIAGE_FANOUT)), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    asyncio.run(main())
    return None


@anthropic.beta_tool
def lookup_order(order_id: str) -> str:
    """Look an order up by its number: status and shipping.

    Args:
        order_id: the order's number
    """
    return f"Order {order_id}: shipped, arriving in two days."


_APP_TRACER = otel_trace.get_tracer("demo-app")


def agent_run(app: App, rng: random.Random) -> str | None:
    """Tool runner inside the app's own agent.run span.

    The support agent of the new product: the SDK's tool runner inside the application's own `agent.run` span
    (one tool call forced, then the answer), so a run is a tree: the app's span, the runner, calls, a tool. One run
    in three meets a busy moment: each of its calls is answered 429 first and retried after the API's retry-after."""
    busy = script(f"429:{app.ms(400)}", "ok") if rng.random() < 1 / 3 else None
    with tracer.tags(feature="agent", customer=_customer(rng)), _APP_TRACER.start_as_current_span("agent.run"):
        runner = app.client.beta.messages.tool_runner(
            model=app.models.sonnet, max_tokens=512, messages=[{"role": "user", "content": content.ticket(rng)}],
            tools=[lookup_order], tool_choice={"type": "any"}, max_iterations=2, extra_headers=busy,
        )  # fmt: skip
        for _message in runner:
            pass
    return None


CONVERSATION_TURNS = 3


def support_conversation(app: App, rng: random.Random) -> str | None:
    """Support chat: a few turns, one conversation id.

    A support chat of a few turns, one conversation id (`tracer.conversation`), over the cached handbook. One in
    three has its system prompt edited between turns (a date added to it): the cache prefix is written again, the
    cache miss the Conversations page flags."""
    conversation_id = f"support-{rng.randint(1000, 9999)}"
    system = content.cached_system()
    edited: list[TextBlockParam] = [{**system[0], "text": f"Today is day {rng.randint(1, 28)}.\n\n" + system[0]["text"]}]
    changes_at = rng.randint(1, CONVERSATION_TURNS - 1) if rng.random() < 1 / 3 else None
    messages: list[MessageParam] = []
    with tracer.tags(feature="chat", customer=_customer(rng)), tracer.conversation(conversation_id):
        for turn in range(CONVERSATION_TURNS):
            messages.append({"role": "user", "content": content.ticket(rng) if turn == 0 else content.question(rng)})
            reply = app.client.messages.create(
                model=app.models.haiku, max_tokens=300, messages=messages,
                system=edited if changes_at is not None and turn >= changes_at else system,
            )  # fmt: skip
            messages.append({"role": "assistant", "content": reply.content})
    return None


TRIAGE_FANOUT = 4

# (scenario, weight, API calls it makes, about)
EVERYDAY: tuple[tuple[Scenario, float, int], ...] = (
    (chat, 20, 1),
    (chat_stream, 20, 1),
    (grounded_search, 14, 1),
    (support_answer, 10, 1),
    (summarise, 8, 2),
    (extract, 10, 1),
    (agent, 6, 2),
    (think, 5, 1),
    (triage, 4, TRIAGE_FANOUT),
    (agent_run, 5, 2),
    (support_conversation, 3, CONVERSATION_TURNS),
)


# ----------------------------------------------------------------------------------------------------------------
# Incidents (scripted with x-fake-script)
# ----------------------------------------------------------------------------------------------------------------


def rate_limited(app: App, rng: random.Random) -> str | None:
    """429s with retry-after, then success.

    The SDK waits exactly what the API asks, then succeeds.
    """
    wait = app.ms(1500)
    with tracer.tags(feature="chat", customer="acme"):
        app.client.messages.create(
            model=app.models.sonnet, max_tokens=256, messages=content.conversation(rng, 1),
            extra_headers=script(f"429:{wait}", "ok"),
        )  # fmt: skip
        with app.client.messages.stream(
            model=app.models.haiku, max_tokens=256, messages=content.conversation(rng, 1),
            extra_headers=script(f"429:{wait}", f"429:{wait * 2}", "ok"),
        ) as stream:  # fmt: skip
            stream.get_final_message()
    return "429 burst: 3 attempts retried after retry-after"


def overload(app: App, rng: random.Random) -> str | None:
    """Opus overloaded (529): a circuit breaker trips.

    Three failures trip a circuit breaker, which fails the next calls fast,
    lets a trial call through after its recovery timeout, and closes again when that succeeds."""
    recovery = app.wait(3.0, floor=0.05)
    breaker = CircuitBreaker(failure_threshold=3, recovery_timeout=recovery, name=f"{app.models.opus} (reports)")
    reports = GuardedClient(app.client, breaker=breaker, sdk_max_retries=0)
    ask: dict[str, Any] = {"model": app.models.opus, "max_tokens": 512,
                           "messages": content.user(content.document(rng, 2))}  # fmt: skip
    rejected = 0
    with tracer.tags(feature="summarise", customer="globex"):
        for _ in range(3):
            # OverloadedError subclasses InternalServerError only since anthropic 2.5: both, for older SDKs.
            with contextlib.suppress(anthropic.InternalServerError, anthropic.OverloadedError):
                reports.messages.create(**ask, extra_headers=script("529"))
        for _ in range(2):
            try:
                reports.messages.create(**ask)
            except CircuitOpenError:
                rejected += 1
        time.sleep(recovery)
        reports.messages.create(**ask, extra_headers=script("ok"))
    return (
        f"overload: 529s opened the breaker, {rejected} failed fast, then {breaker.state.value}"
    )


def stalled_stream(app: App, rng: random.Random) -> str | None:
    """A stream stalls mid-answer; a deadline cuts it.

    The StreamDeadline's idle timeout cuts it, keeping the partial text.
    """
    with tracer.tags(feature="chat", customer="initech"):
        try:
            with app.streams.messages.stream(
                model=app.models.sonnet, max_tokens=512, messages=content.conversation(rng, 2),
                extra_headers=script("stall:6"),
            ) as stream:  # fmt: skip
                stream.get_final_text()
        except StreamTimeoutError as exc:
            return f"stalled stream: {exc.kind} deadline cut it at {len(exc.partial_text)} chars"
    return "stalled stream: ended before its deadline"


def mid_stream_error(app: App, rng: random.Random) -> str | None:
    """An error event mid-stream: the SDK raises.

    An overloaded_error event in the middle of a stream (HTTP 200 already sent): nothing retries.
    """
    with tracer.tags(feature="search", customer="acme"):
        try:
            with app.client.messages.stream(
                model=app.models.sonnet, max_tokens=512, messages=content.conversation(rng, 1),
                extra_headers=script("error:8"),
            ) as stream:  # fmt: skip
                stream.get_final_message()
        except anthropic.APIStatusError as exc:
            return f"mid-stream error: {type(exc).__name__}, not retried"
    return None


def budget_trip(app: App, rng: random.Random) -> str | None:
    """A nightly digest job stopped by a hard budget.

    It runs until the next call's estimate would cross the cap.
    """

    def ask() -> dict[str, Any]:
        return {"model": app.models.sonnet, "max_tokens": 1024,
                "messages": content.user("Digest:\n\n" + content.document(rng, 4))}  # fmt: skip

    # A cap of two calls' worst case: the estimates assume all 1,024 output tokens, the digests use far fewer, so
    # the job gets several calls in before the next estimate would cross (whatever the model's price).
    estimate = BudgetGuard(1).estimate(**ask()) or Decimal("0.01")
    cap = (2 * estimate).quantize(Decimal("0.0001"))
    budget = BudgetGuard(cap, window_s=3600, match={"feature": "nightly-digest"}, mode="block", name="nightly-digest")
    digest = GuardedClient(app.client, budget=budget)
    done = 0
    with tracer.tags(feature="nightly-digest", customer="umbrella"):
        for _ in range(12):
            try:
                digest.messages.create(**ask())
            except BudgetExceededError:
                return f"budget: digest stopped after {done} calls (${budget.limit_usd} cap)"
            done += 1
    return None


def app_retries(app: App, rng: random.Random) -> str | None:
    """The toolkit's `retry` without SDK retries.

    500 then 529, then success; and one give-up.
    """
    no_sdk_retries = app.client.with_options(max_retries=0)
    policy = retry(max_attempts=4, base_delay_s=app.wait(0.4), max_delay_s=app.wait(2.0), name="ingest-retry")
    outcomes = iter(("500", "529", "ok"))

    def ask(outcome_source: Any) -> Any:
        return no_sdk_retries.messages.create(
            model=app.models.haiku, max_tokens=128, messages=content.user(content.ticket(rng)),
            extra_headers=script(next(outcome_source)),
        )  # fmt: skip

    with tracer.tags(feature="extract", customer="hooli"):
        policy.call(ask, outcomes)
        short = retry(max_attempts=2, base_delay_s=app.wait(0.2), max_delay_s=app.wait(0.5), name="ingest-retry")
        with contextlib.suppress(anthropic.InternalServerError, anthropic.OverloadedError):
            short.call(ask, iter(("503", "503")))
    return "retries: 500, 529 then success; gave up on 503 x2"


def timeouts(app: App, rng: random.Random) -> str | None:
    """A read timeout, then the SDK's retry succeeds.

    The API never answers the first request: the client's read timeout fires.
    """
    quick = app.client.with_options(timeout=app.wait(5.0, floor=0.3), max_retries=2)
    with tracer.tags(feature="extract", customer="acme"):
        quick.messages.create(
            model=app.models.haiku, max_tokens=128, messages=content.user(content.ticket(rng)),
            extra_headers=script("stall:0", "ok"),
        )  # fmt: skip
    return "timeout: an attempt timed out, the retry answered"


def server_errors(app: App, rng: random.Random) -> str | None:
    """5xx answers, a dropped connection, a bad request.

    One retried to success, one that fails all three attempts, a dropped connection, a bad request.
    """
    failed = []
    with tracer.tags(feature="chat", customer="globex"):
        ask: dict[str, Any] = {"model": app.models.sonnet_previous, "max_tokens": 256,
                               "messages": content.conversation(rng, 1)}  # fmt: skip
        app.client.messages.create(**ask, extra_headers=script("500", "ok"))
        app.client.messages.create(**ask, extra_headers=script("drop", "ok"))
        for outcome in (("502", "503", "500"), ("400",)):
            try:
                app.client.messages.create(**ask, extra_headers=script(*outcome))
            except anthropic.APIStatusError as exc:
                failed.append(str(exc.status_code))
    return f"server errors: 500, cut retried; {' and '.join(failed)} failed"


def batch(app: App, rng: random.Random) -> str | None:
    """A Message Batch: create, poll, read the results.

    Overnight summaries, billed at half price.
    """
    requests: list[Request] = [
        {"custom_id": f"doc-{i}", "params": {"model": app.models.haiku, "max_tokens": 300,
                                             "messages": content.user(content.document(rng, 2))}}
        for i in range(8)
    ]  # fmt: skip
    with tracer.tags(feature="summarise", customer="initech"):
        created = app.client.messages.batches.create(requests=requests)
        status = created
        for _ in range(200):
            if status.processing_status == "ended":
                break
            time.sleep(app.wait(1.0, floor=0.02))
            status = app.client.messages.batches.retrieve(created.id)
        succeeded = sum(1 for r in app.client.messages.batches.results(created.id) if r.result.type == "succeeded")
    return f"batch: {succeeded} of {len(requests)} succeeded at half price"


# (scenario, API calls it makes, about)
INCIDENTS: tuple[tuple[Scenario, int], ...] = (
    (rate_limited, 2),
    (overload, 4),
    (stalled_stream, 1),
    (mid_stream_error, 1),
    (budget_trip, 7),
    (app_retries, 5),
    (timeouts, 1),
    (server_errors, 4),
    (batch, 3),
)
REPEATED = (rate_limited, server_errors, app_retries, mid_stream_error)  # again every ~REPEAT_EVERY calls
REPEAT_EVERY = 120
