"""The fake API's endpoints: Messages (JSON and SSE), count_tokens, Message Batches and Models, with scripted faults.

`App.handle` turns one HTTP request into a `Reply`. Per request it records what arrived (`RecordedRequest`),
checks the API key, decides the attempt's outcome (the `x-fake-script` header first, else the server-wide fault
rates), validates the body as the API does, asks the rate limiter, and draws the answer and its timing.

Randomness is split in two so that both halves stay reproducible with a seed: the answer (text, tool calls, thinking)
is seeded by the request's content, so the same prompt always gets the same answer, streamed or not; faults and
latency are seeded by the request's sequence number, so repeated identical requests still differ.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping, MutableSequence
from dataclasses import dataclass
from typing import Any

from tracer.fakeapi import _generate as gen
from tracer.fakeapi import _iterations as it
from tracer.fakeapi._batches import BatchStore
from tracer.fakeapi._catalog import is_deprecated, profile_for, served_models
from tracer.fakeapi._errors import ApiError, invalid
from tracer.fakeapi._faults import ERROR_MESSAGES, OK, FaultRates, FaultSpecError, Outcome, parse_script, pick
from tracer.fakeapi._http import HttpRequest, Reply
from tracer.fakeapi._ledger import Ledger
from tracer.fakeapi._limiter import RateLimiter, Verdict
from tracer.fakeapi._tokens import InputUsage, PromptCache, PromptError, count_input_tokens

_JSON = ("content-type", "application/json")
_SSE_HEADERS = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]
_ORG = ("anthropic-organization-id", "00000000-0000-4000-8000-00000000fa7e")
_BATCH_PATH = re.compile(r"^/v1/messages/batches/([^/]+)(/cancel|/results)?$")
_MASK = (1 << 64) - 1
_ADMIN = ("/v1/organizations/usage_report/messages", "/v1/organizations/cost_report")


@dataclass(slots=True)
class RecordedRequest:
    """One HTTP request as the fake API saw it, and how it was answered.

    `attempt` is the SDK's `x-stainless-retry-count` (0 = first try); `status` is None when the connection was dropped
    or never answered; `outcome` is what was done (`ok`, a scripted outcome like `429:10`, `rate_limited`, `invalid`).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    attempt: int
    time: float
    query: str = ""
    request_id: str = ""
    stream: bool = False
    model: str | None = None
    status: int | None = None
    outcome: str = ""


class App:
    """Request handling for one FakeAPI server (thread-safe; one instance serves every connection)."""

    def __init__(
        self,
        *,
        seed: int,
        latency_scale: float,
        faults: FaultRates,
        api_key: str | None,
        rate_limits: Mapping[str, int] | None,
        clock: Callable[[], float],
        keep_requests: int | None = None,
    ) -> None:
        self.seed = seed
        self.latency_scale = latency_scale
        self.faults = faults
        self.api_key = api_key
        self.clock = clock
        self.limiter = RateLimiter(rate_limits, clock)
        self.cache = PromptCache(clock)
        # a long-running server (the CLI) keeps only the latest; tests keep everything, as a plain list
        self.requests: MutableSequence[RecordedRequest] = [] if keep_requests is None else deque(maxlen=keep_requests)
        self._sequence = itertools.count()
        self._ids = itertools.count()
        self._lock = threading.Lock()
        self._models = frozenset(served_models())  # a retired model answers 404, as the API does
        self.ledger = Ledger()
        self.batches = BatchStore(self._batch_result, seed=seed, latency_scale=latency_scale, clock=clock)

    def reset(self) -> None:
        """Forget recorded requests, the prompt cache, batches and rate-limit usage (counters restart too)."""
        self.requests.clear()
        self.cache.clear()
        self.limiter.reset()
        self.batches.clear()
        self.ledger.clear()
        self._sequence = itertools.count()
        self._ids = itertools.count()

    # -- helpers -----------------------------------------------------------------------------------------------

    def _request_id(self) -> str:
        n = next(self._ids)
        digest = hashlib.blake2b(f"{self.seed}:{n}".encode(), digest_size=12).hexdigest()
        return f"req_011C{digest}"

    def _fault_rng(self) -> random.Random | None:
        """The generator for this request's fault draw and latency; None when neither needs one (the fast path)."""
        n = next(self._sequence)  # counted either way, so the numbering does not depend on the settings
        if not self.faults and self.latency_scale <= 0:
            return None
        return random.Random(((self.seed & _MASK) * 0x9E3779B97F4A7C15 + n) & _MASK)

    def _content_rng(self, body: dict[str, Any], salt: str = "") -> random.Random:
        # the parsed body, not its bytes: clients differ in key order and spacing, and streaming must not matter
        key = json.dumps({k: v for k, v in body.items() if k != "stream"}, sort_keys=True, default=str) + salt
        digest = hashlib.blake2b(key.encode(), digest_size=8, salt=b"%d" % (self.seed & _MASK)).digest()
        return random.Random(int.from_bytes(digest, "big"))

    @staticmethod
    def _error(rec: RecordedRequest, err: ApiError, extra: list[tuple[str, str]] | None = None) -> Reply:
        rec.status = err.status
        if not rec.outcome:
            rec.outcome = "invalid" if err.status == 400 else str(err.status)
        headers = [_JSON, ("request-id", rec.request_id), _ORG]
        if extra:
            headers.extend(extra)
        return Reply(err.status, headers, err.body(rec.request_id))

    def _json(
        self, rec: RecordedRequest, data: Any, extra: list[tuple[str, str]] | None = None, delay: float = 0.0
    ) -> Reply:
        rec.status = 200
        rec.outcome = rec.outcome or "ok"
        headers = [_JSON, ("request-id", rec.request_id), _ORG]
        if extra:
            headers.extend(extra)
        return Reply(200, headers, json.dumps(data, separators=(",", ":")).encode(), delay_s=delay)

    def _scripted(self, rec: RecordedRequest, outcome: Outcome, rate_headers: list[tuple[str, str]]) -> Reply | None:
        """The reply for an outcome that replaces the answer (an HTTP error, a drop), or None to go on."""
        rec.outcome = str(outcome)
        if outcome.kind == "status":
            extra = list(rate_headers)
            if outcome.ms is not None:
                extra.append(("retry-after-ms", str(outcome.ms)))
                extra.append(("retry-after", str(max(1, -(-outcome.ms // 1000)))))
            elif outcome.status == 429:
                extra.append(("retry-after", "1"))
            if outcome.status == 529 or outcome.status >= 500:
                extra.append(("x-should-retry", "true"))
            return self._error(rec, ApiError(outcome.status, ERROR_MESSAGES[outcome.status]), extra)
        if outcome.kind == "drop" and outcome.events is None:
            return Reply(mode="drop")
        return None

    # -- dispatch ----------------------------------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> Reply:
        headers = request.headers
        try:
            attempt = int(headers.get("x-stainless-retry-count", "0"))
        except ValueError:
            attempt = 0
        rec = RecordedRequest(
            request.method, request.path, headers, None, attempt, time.time(), request.query, self._request_id()
        )
        self.requests.append(rec)
        if request.body:
            try:
                rec.body = json.loads(request.body)
            except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
                rec.body = None
        try:
            if self.api_key is not None:
                given = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ").strip()
                if given != self.api_key:
                    raise ApiError(401, "invalid x-api-key")
            script: tuple[Outcome, ...] | None = None
            if "x-fake-script" in headers:
                try:
                    script = parse_script(headers["x-fake-script"])
                except FaultSpecError as exc:
                    raise invalid(f"x-fake-script: {exc}") from None
            method, path = request.method, request.path.rstrip("/")
            if path == "/v1/messages" and method == "POST":
                return self._messages(rec, request, script)
            if script and path in _ADMIN:
                # An admin client is not the SDK (no retry-count header): the n-th request for the same URL is
                # attempt n, so a test can script "429:10,ok" for one page.
                attempt = self.ledger.attempt(request.path + "?" + request.query)
            outcome = pick(script, attempt) if script else OK
            early = self._scripted(rec, outcome, []) if outcome is not OK else None
            if early is not None:
                return early
            delay = outcome.ms / 1000 if outcome.kind == "slow" and outcome.ms else 0.0
            if outcome.kind in ("stall", "drop", "cut"):  # no stream here: never answer, or close
                rec.outcome = str(outcome)
                return Reply(mode="stall" if outcome.kind == "stall" else "drop", delay_s=delay)
            if outcome.kind == "error":  # what a stream would report mid-way is a 529 without one
                rec.outcome = str(outcome)
                raise ApiError(529, ERROR_MESSAGES[529])
            if outcome.kind == "malformed":
                rec.status = 200
                return Reply(200, [_JSON, ("request-id", rec.request_id)], b'{"type": "mess', delay_s=delay)
            if path == "/v1/messages/count_tokens" and method == "POST":
                return self._count_tokens(rec, request, delay)
            if path.startswith("/v1/messages/batches"):
                return self._batches(rec, request, path, delay)
            if path.startswith("/v1/models") and method == "GET":
                return self._models_endpoint(rec, path, delay)
            if path in _ADMIN and method == "GET":
                return self._admin(rec, request, path, delay)
            raise ApiError(404, f"Not found: {method} {request.path}")
        except ApiError as err:
            return self._error(rec, err)

    # -- Messages ----------------------------------------------------------------------------------------------

    def _parse(self, request: HttpRequest, rec: RecordedRequest) -> dict[str, Any]:
        """The request's JSON object (parsed once, into the record), or the API's 400."""
        if "anthropic-version" not in request.headers:
            raise invalid("anthropic-version: header is required")
        body = rec.body
        if body is None and request.body:
            try:
                json.loads(request.body)
            except (ValueError, RecursionError) as exc:
                raise invalid(f"There was an issue with your request body: not valid JSON ({exc})") from None
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object")
        return body

    def _validate_model(self, body: dict[str, Any]) -> str:
        model = body.get("model")
        if model is None:
            raise invalid("model: Field required")
        if not isinstance(model, str):
            raise invalid("model: Input should be a valid string")
        return model

    def _validate_messages(self, body: dict[str, Any]) -> None:
        messages = body.get("messages")
        if messages is None:
            raise invalid("messages: Field required")
        if not isinstance(messages, list):
            raise invalid("messages: Input should be a valid list")
        if not messages:
            raise invalid("messages: at least one message is required")
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                raise invalid(f"messages.{i}: Input should be a valid dictionary")
            if message.get("role") not in ("user", "assistant"):
                raise invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
            if "content" not in message:
                raise invalid(f"messages.{i}.content: Field required")

    def validate(self, body: dict[str, Any]) -> str:
        """Check a Messages request as the API does; the model, or ApiError (400, or 404 for an unknown model)."""
        model = self._validate_model(body)
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            raise invalid("max_tokens: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise invalid("max_tokens: Input should be a valid integer")
        if max_tokens < 1:
            raise invalid("max_tokens: Input should be greater than or equal to 1")
        self._validate_messages(body)
        temperature = body.get("temperature")
        if temperature is not None and (not isinstance(temperature, int | float) or not 0 <= temperature <= 1):
            raise invalid("temperature: Input should be a number between 0 and 1")
        if "stream" in body and not isinstance(body["stream"], bool):
            raise invalid("stream: Input should be a valid boolean")
        if model not in self._models:
            raise ApiError(404, f"model: {model}")
        profile = profile_for(model)
        if max_tokens > profile.max_output_tokens:
            raise invalid(
                f"max_tokens: {max_tokens} > {profile.max_output_tokens}, which is the maximum allowed number of "
                f"output tokens for {model}"
            )
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") == "enabled":
            budget = thinking.get("budget_tokens")
            if not isinstance(budget, int):
                raise invalid("thinking.enabled.budget_tokens: Field required")
            if budget < 1024:
                raise invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
            if budget >= max_tokens:
                raise invalid(
                    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
                    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
                )
        return model

    def _messages(self, rec: RecordedRequest, request: HttpRequest, script: tuple[Outcome, ...] | None) -> Reply:
        rng = self._fault_rng()
        outcome = OK
        if script is not None:
            outcome = pick(script, rec.attempt)
        elif rng is not None:
            outcome = self.faults.draw(rng)
        body = rec.body if isinstance(rec.body, dict) else None
        if body is not None:
            rec.model = body.get("model") if isinstance(body.get("model"), str) else None
            rec.stream = body.get("stream") is True
        if outcome is not OK:
            early = self._scripted(rec, outcome, self.limiter.headers())
            if early is not None:
                return early
        body = self._parse(request, rec)
        model = self.validate(body)
        profile = profile_for(model)
        try:
            inp = self.cache.account(model, body, profile.min_cacheable_tokens, commit=False)
        except PromptError as exc:
            raise invalid(str(exc)) from None
        if inp.total > profile.context_window:
            raise invalid(f"prompt is too long: {inp.total} tokens > {profile.context_window} maximum")
        max_tokens = int(body["max_tokens"])
        charged_input = inp.input_tokens + inp.cache_write  # cache reads do not count towards input-token limits
        verdict: Verdict = self.limiter.acquire(
            {
                "requests": 1,
                "input_tokens": charged_input,
                "output_tokens": max_tokens,
                "tokens": charged_input + max_tokens,
            }
        )
        if not verdict.granted:
            rec.outcome = "rate_limited"
            extra = [*verdict.headers, ("retry-after", str(verdict.retry_after_s)), ("x-should-retry", "true")]
            return self._error(rec, ApiError(429, RateLimiter.message(verdict)), extra)
        self.cache.commit(inp)
        ans = gen.answer(body, self._content_rng(body))
        unused = max_tokens - ans.output_tokens
        self.limiter.refund("output_tokens", unused)
        self.limiter.refund("tokens", unused)
        tier = "standard"
        geo = body.get("inference_geo") if isinstance(body.get("inference_geo"), str) else None
        speed = body.get("speed") if body.get("speed") in ("fast", "standard") else None
        served, ans, use, seams = self._billed(rec, body, model, inp, ans, outcome, tier, geo, speed)
        model = served
        category = ans.stop_details.get("category") if ans.stop_details else None
        self.ledger.record(rec.headers, model, use, ans.stop_reason, category, seams)
        message_id = "msg_01" + rec.request_id[-22:]  # unique like the request ID, and as reproducible
        timing = gen.timing(profile, inp.input_tokens + inp.cache_write, rng, self.latency_scale)
        extra_delay = outcome.ms / 1000 if outcome.kind == "slow" and outcome.ms else 0.0
        rec.outcome = str(outcome)
        if not rec.stream:
            data = gen.message(message_id, model, ans, use)
            return self._message_reply(
                rec, outcome, verdict.headers, data, timing.total(ans.output_tokens) + extra_delay
            )
        items = gen.stream_items(message_id, model, ans, use, timing)
        headers = [*_SSE_HEADERS, ("request-id", rec.request_id), _ORG, *verdict.headers]
        return self._stream_reply(rec, outcome, headers, items, extra_delay)

    def _billed(
        self, rec: RecordedRequest, body: dict[str, Any], model: str, inp: InputUsage, ans: gen.Answer,
        outcome: Outcome, tier: str, geo: str | None, speed: str | None,
    ) -> tuple[str, gen.Answer, dict[str, Any], tuple[tuple[str, str | None], ...]]:  # fmt: skip
        """The serving model, the answer and its usage, with what 2026 adds: a refusal (and a server-side fallback
        from it), a redeemed fallback credit, an advisor call, a compaction (see `_iterations`)."""
        rng = self._content_rng(body, salt="iterations")
        credit = it.redeemed(body)
        credit_outcome = None
        if "fallback_credit_token" in body:
            if credit is not None:
                inp = it.with_credit(inp, credit)
                credit_outcome = {"status": {"type": "redeemed"}}
            else:
                credit_outcome = {"status": {"type": "not_applied", "reason": "body_mismatch"}}
        iterations: list[dict[str, Any]] | None = None
        seams: tuple[tuple[str, str | None], ...] = ()
        top_inp, top_out = inp, None
        refuses = outcome.kind == "refuse" and outcome.model in (None, model)
        if refuses:
            chain = [m for m in it.fallback_chain(body, model, rec.headers, self._models) if m != model]
            token = None if chain else it.credit_token(rec.headers, inp, rng)
            declined = it.refused(ans, outcome.events or 0, outcome.category, token)
            if not chain:
                ans = declined
            else:
                # The requested model declined (a billed or unbilled hop, by its category); the next one serves,
                # with the fallback credit applied automatically.
                fallback = chain[0]
                fb_body = {**body, "model": fallback}
                fb_inp = self.cache.account(fallback, fb_body, profile_for(fallback).min_cacheable_tokens)
                fb_inp = it.with_credit(fb_inp, inp.cache_read)
                fb_ans = gen.answer(fb_body, self._content_rng(fb_body))
                blocks = [*declined.blocks, it.fallback_block(model, fallback, outcome.category), *fb_ans.blocks]
                ans = gen.Answer(blocks, fb_ans.stop_reason, fb_ans.stop_sequence, fb_ans.thinking_tokens,
                                 fb_ans.server_tool_use)  # fmt: skip
                iterations = [
                    it.iteration("message", model, inp, declined.output_tokens),
                    it.iteration("fallback_message", fallback, fb_inp, fb_ans.output_tokens),
                ]
                seams = ((model, it.category_value(outcome.category)),)
                top_inp, top_out, model = fb_inp, fb_ans.output_tokens, fallback
        elif (advisor := it.advisor_tool(body)) is not None:
            ans, iterations, top_inp, top_out = it.advised(ans, inp, advisor, rng)
        elif (trigger := it.compaction_trigger(body)) is not None and inp.total >= trigger:
            ans, iterations, top_inp = it.compacted(ans, inp, rng)
        use = gen.usage(top_inp, ans, output_tokens=top_out, service_tier=tier, inference_geo=geo, speed=speed)
        if iterations is not None:
            use["iterations"] = iterations
        if credit_outcome is not None:
            use["fallback_credit"] = credit_outcome
        return model, ans, use, seams

    def _message_reply(
        self, rec: RecordedRequest, outcome: Outcome, rate_headers: list[tuple[str, str]], data: Any, delay: float
    ) -> Reply:
        kind = outcome.kind
        if kind == "stall":
            return Reply(mode="stall", delay_s=delay)
        if kind in ("drop", "cut"):
            return Reply(mode="drop", delay_s=delay)
        if kind == "error":  # the failure a stream reports mid-way shows up as a 529 without streaming
            return self._error(rec, ApiError(529, ERROR_MESSAGES[529]), [*rate_headers, ("x-should-retry", "true")])
        rec.status = 200
        payload = json.dumps(data, separators=(",", ":")).encode()
        if kind == "malformed":
            payload = payload[: len(payload) // 2]
        return Reply(200, [_JSON, ("request-id", rec.request_id), _ORG, *rate_headers], payload, delay_s=delay)

    def _stream_reply(
        self, rec: RecordedRequest, outcome: Outcome, headers: list[tuple[str, str]], items: list[bytes | float],
        delay: float,
    ) -> Reply:  # fmt: skip
        rec.status = 200
        then = "end"
        kind = outcome.kind
        if kind in ("stall", "error", "drop", "cut", "malformed"):
            limit = 2 if kind == "malformed" else (outcome.events or 0)
            kept: list[bytes | float] = []
            events = 0
            for item in items:
                if isinstance(item, bytes):
                    if events == limit:
                        break
                    events += 1
                kept.append(item)
            items = kept
            if kind == "error":
                items.append(
                    gen.sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
                )
            elif kind == "malformed":
                items.append(b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "del\n\n')
            elif kind in ("stall", "drop"):
                then = kind
        return Reply(200, headers, mode="stream", items=items, then=then, delay_s=delay)

    # -- count_tokens, models --------------------------------------------------------------------------------

    def _count_tokens(self, rec: RecordedRequest, request: HttpRequest, delay: float) -> Reply:
        body = self._parse(request, rec)
        model = self._validate_model(body)
        rec.model = model
        self._validate_messages(body)
        if model not in self._models:
            raise ApiError(404, f"model: {model}")
        try:
            tokens = count_input_tokens(body)
        except PromptError as exc:
            raise invalid(str(exc)) from None
        return self._json(rec, {"input_tokens": tokens}, delay=delay + 0.05 * self.latency_scale)

    def _model_info(self, model: str) -> dict[str, Any]:
        profile = profile_for(model)
        deprecated = is_deprecated(model)
        name = model.removeprefix("claude-").split("-20")[0].replace("-", " ").title()
        return {
            "type": "model",
            "id": model,
            "display_name": f"Claude {name}",
            "created_at": "2025-01-01T00:00:00Z",
            "lifecycle": "deprecated" if deprecated else "active",
            "max_input_tokens": profile.context_window,
            "max_tokens": profile.max_output_tokens,
        }

    def _models_endpoint(self, rec: RecordedRequest, path: str, delay: float) -> Reply:
        if path == "/v1/models":
            data = [self._model_info(m) for m in served_models()]
            page = {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
            return self._json(rec, page, delay=delay)
        model = path.removeprefix("/v1/models/")
        if model not in self._models:
            raise ApiError(404, f"model: {model}")
        return self._json(rec, self._model_info(model), delay=delay)

    def _admin(self, rec: RecordedRequest, request: HttpRequest, path: str, delay: float) -> Reply:
        """The Admin API's usage and cost reports of what this server answered (see `_ledger`)."""
        if not (request.headers.get("x-api-key") or request.headers.get("authorization")):
            raise ApiError(401, "x-api-key header is required")
        query: dict[str, list[str]] = {}
        for part in request.query.split("&"):
            if part:
                key, _, value = part.partition("=")
                query.setdefault(urllib.parse.unquote_plus(key), []).append(urllib.parse.unquote_plus(value))
        try:
            report = self.ledger.usage_report(query) if path.endswith("/messages") else self.ledger.cost_report(query)
        except ValueError as exc:
            raise invalid(str(exc)) from None
        return self._json(rec, report, delay=delay)

    # -- batches -----------------------------------------------------------------------------------------------

    def _batch_result(self, params: Any, rng: random.Random) -> dict[str, Any]:
        """One batch request's result: the message it would have got (tier "batch"), or the error."""
        try:
            if not isinstance(params, dict):
                raise invalid("params: Input should be a valid dictionary")
            if params.get("stream"):
                raise invalid("stream: streaming is not supported in the Batches API")
            model = self.validate(params)
            profile = profile_for(model)
            try:
                inp = self.cache.account(model, params, profile.min_cacheable_tokens)
            except PromptError as exc:
                raise invalid(str(exc)) from None
        except ApiError as err:
            error = {"type": "error", "error": {"type": err.error_type, "message": err.message}}
            return {"type": "errored", "error": error}
        ans = gen.answer(params, rng)
        use = gen.usage(inp, ans, service_tier="batch")
        return {"type": "succeeded", "message": gen.message(gen.make_id("msg", rng), model, ans, use)}

    def _batches(self, rec: RecordedRequest, request: HttpRequest, path: str, delay: float) -> Reply:
        method = request.method
        base = f"http://{request.headers.get('host', 'localhost')}"
        if path == "/v1/messages/batches":
            if method == "POST":
                return self._json(rec, self.batches.create(self._parse(request, rec), base), delay=delay)
            if method == "GET":
                params = dict(p.partition("=")[::2] for p in request.query.split("&") if p)
                return self._json(rec, self.batches.list(params, base), delay=delay)
            raise ApiError(405, f"{method} not allowed", "invalid_request_error")
        match = _BATCH_PATH.match(path)
        if match is None:
            raise ApiError(404, f"Not found: {method} {request.path}")
        batch_id, action = match.group(1), match.group(2)
        if action is None and method == "GET":
            return self._json(rec, self.batches.get(batch_id, base), delay=delay)
        if action is None and method == "DELETE":
            return self._json(rec, self.batches.delete(batch_id), delay=delay)
        if action == "/cancel" and method == "POST":
            return self._json(rec, self.batches.cancel(batch_id, base), delay=delay)
        if action == "/results" and method == "GET":
            rec.status, rec.outcome = 200, rec.outcome or "ok"
            headers = [("content-type", "application/binary"), ("request-id", rec.request_id), _ORG]
            return Reply(200, headers, self.batches.results(batch_id), delay_s=delay)
        raise ApiError(404, f"Not found: {method} {request.path}")
