"""A span per API call (the SDK's own, completed by us) and per HTTP attempt."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from opentelemetry.trace import StatusCode

import tracer
from tracer import semconv

from .conftest import HELLO, MODEL, async_client, script, sync_client


class TestAttempts:
    def test_429_529_ok_is_one_call_span_with_three_attempt_children(self, fake_api: Any, telemetry: Any) -> None:
        client = sync_client(fake_api)
        message = client.messages.create(model=MODEL, max_tokens=32, messages=HELLO, **script("429:10,529,ok"))
        assert message.content
        call = telemetry.call()
        attempts = telemetry.attempts(call)
        assert [a.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] for a in attempts] == [429, 529, 200]
        assert [a.attributes.get(semconv.HTTP_REQUEST_RESEND_COUNT) for a in attempts] == [None, 1, 2]
        assert [a.attributes.get(semconv.ERROR_TYPE) for a in attempts] == ["429", "529", None]
        assert attempts[0].attributes[semconv.ATTEMPT_RETRY_AFTER_S] == pytest.approx(0.010)
        assert call.attributes[semconv.CALL_ATTEMPTS] == 3
        assert call.attributes[semconv.CALL_SPAN_SOURCE] == "anthropic"
        assert call.status.status_code is StatusCode.OK
        assert all(a.context.trace_id == call.context.trace_id for a in attempts)
        assert all(a.start_time >= call.start_time and a.end_time <= call.end_time for a in attempts)  # type: ignore[operator]

    async def test_async_client_the_same(self, fake_api: Any, telemetry: Any) -> None:
        client = async_client(fake_api)
        await client.messages.create(model=MODEL, max_tokens=32, messages=HELLO, **script("429:10,529,ok"))
        call = telemetry.call()
        assert [a.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] for a in telemetry.attempts(call)] == [429, 529, 200]
        assert call.attributes[semconv.CALL_ATTEMPTS] == 3

    def test_attempt_records_request_id_and_rate_limit_headroom(self, fake_api: Any, telemetry: Any) -> None:
        sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        (attempt,) = telemetry.attempts()
        attrs = attempt.attributes
        assert attrs[semconv.ANTHROPIC_REQUEST_ID].startswith("req_")
        for kind in semconv.RATELIMIT_KINDS:
            assert attrs[semconv.ratelimit_attribute(kind, "limit")] >= attrs[semconv.ratelimit_attribute(kind, "remaining")] >= 0
            assert isinstance(attrs[semconv.ratelimit_attribute(kind, "reset")], str)
        assert attrs[semconv.GEN_AI_REQUEST_MODEL] == MODEL

    def test_attempts_carry_the_http_client_attributes(self, fake_api: Any, telemetry: Any) -> None:
        """The HTTP client conventions' required attributes on every attempt; the resend count only on retries."""
        client = sync_client(fake_api, max_retries=1)
        client.messages.create(model=MODEL, max_tokens=32, messages=HELLO, **script("429:1,ok"))
        first, second = telemetry.attempts(telemetry.call())
        host, port = fake_api.base_url.split("//")[1].rstrip("/").split(":")
        for attempt in (first, second):
            attrs = attempt.attributes
            assert attrs[semconv.HTTP_REQUEST_METHOD] == "POST"
            assert (attrs[semconv.SERVER_ADDRESS], attrs[semconv.SERVER_PORT]) == (host, int(port))
            assert attrs[semconv.URL_FULL] == fake_api.base_url.rstrip("/") + "/v1/messages"
        assert semconv.HTTP_REQUEST_RESEND_COUNT not in first.attributes
        assert second.attributes[semconv.HTTP_REQUEST_RESEND_COUNT] == 1

    def test_url_full_never_carries_credentials_or_signatures(self) -> None:
        from tracer.capture._attempts import safe_url

        url = safe_url("https://me:s3cret@bedrock.example.com/model/x/invoke?X-Goog-Signature=abc&Signature=d&keep=1")
        assert "s3cret" not in url and "abc" not in url and "=d" not in url
        assert url.endswith("keep=1") and "bedrock.example.com/model/x/invoke" in url
        assert safe_url("http://127.0.0.1:8080/v1/messages") == "http://127.0.0.1:8080/v1/messages"

    def test_exhausted_retries_end_the_call_in_error(self, fake_api: Any, telemetry: Any) -> None:
        client = sync_client(fake_api, max_retries=2)
        # OverloadedError (529) subclasses InternalServerError only from anthropic 2.5.0 on.
        with pytest.raises((anthropic.InternalServerError, anthropic.OverloadedError)) as caught:
            client.messages.create(model=MODEL, max_tokens=32, messages=HELLO, **script("529:1"))  # retried after 1 ms
        assert caught.value.status_code == 529
        call = telemetry.call()
        assert call.status.status_code is StatusCode.ERROR
        assert call.attributes[semconv.ERROR_TYPE]
        assert call.attributes[semconv.CALL_ATTEMPTS] == 3
        assert [a.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] for a in telemetry.attempts(call)] == [529] * 3

    def test_a_dropped_connection_is_an_attempt_with_error_type_connection(self, fake_api: Any, telemetry: Any) -> None:
        client = sync_client(fake_api, max_retries=1)
        client.messages.create(model=MODEL, max_tokens=32, messages=HELLO, **script("drop,ok"))
        first, second = telemetry.attempts(telemetry.call())
        assert first.attributes[semconv.ERROR_TYPE] == semconv.ERROR_TYPE_CONNECTION
        assert semconv.HTTP_RESPONSE_STATUS_CODE not in first.attributes
        assert second.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 200

    def test_a_slow_answer_past_the_timeout_is_an_attempt_with_error_type_timeout(self, fake_api: Any, telemetry: Any) -> None:
        client = sync_client(fake_api, max_retries=1, timeout=0.2)
        client.messages.create(model=MODEL, max_tokens=32, messages=HELLO, **script("slow:600,ok"))
        first, second = telemetry.attempts(telemetry.call())
        assert first.attributes[semconv.ERROR_TYPE] == semconv.ERROR_TYPE_TIMEOUT
        assert second.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 200


class TestCallSpan:
    def test_carries_genai_attributes_tokens_and_cost(self, fake_api: Any, telemetry: Any) -> None:
        message = sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        attrs = telemetry.call().attributes
        usage = message.usage
        assert attrs[semconv.GEN_AI_OPERATION_NAME] == "chat"
        assert attrs[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"
        assert attrs[semconv.GEN_AI_REQUEST_MODEL] == MODEL
        assert attrs[semconv.GEN_AI_RESPONSE_ID] == message.id
        cached = (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
        assert attrs[semconv.GEN_AI_USAGE_INPUT_TOKENS] == usage.input_tokens + cached
        assert attrs[semconv.USAGE_UNCACHED_INPUT_TOKENS] == usage.input_tokens
        assert attrs[semconv.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.output_tokens
        assert attrs[semconv.ANTHROPIC_STOP_REASON] == message.stop_reason
        assert attrs[semconv.CALL_STREAMING] is False
        assert float(attrs[semconv.COST_USD_EXACT]) > 0

    def test_cache_writes_then_reads_and_thinking_tokens(self, fake_api: Any, telemetry: Any) -> None:
        client = sync_client(fake_api)
        system = [{"type": "text", "text": "You are terse. " * 400, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
        ask = {"model": "claude-sonnet-4-6", "max_tokens": 2048, "system": system, "messages": HELLO,
               "thinking": {"type": "enabled", "budget_tokens": 1024}}  # fmt: skip
        first = client.messages.create(**ask)
        second = client.messages.create(**ask)
        a, b = sorted(telemetry.calls(), key=lambda s: s.start_time)
        assert a.attributes[semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == first.usage.cache_creation_input_tokens > 0
        assert a.attributes[semconv.ANTHROPIC_CACHE_WRITE_1H_TOKENS] == first.usage.cache_creation_input_tokens
        assert b.attributes[semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == second.usage.cache_read_input_tokens > 0
        # what the write cost beyond the input price (1-hour: $6 against $3 per MTok), and what the read saved
        assert a.attributes[semconv.COST_CACHE_WRITE_PREMIUM_USD] == pytest.approx(first.usage.cache_creation_input_tokens * 3e-6)
        assert b.attributes[semconv.COST_CACHE_READ_SAVED_USD] == pytest.approx(second.usage.cache_read_input_tokens * 2.7e-6)
        thinking = second.usage.output_tokens_details.thinking_tokens if second.usage.output_tokens_details else None
        if thinking:
            assert b.attributes[semconv.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == thinking

    def test_tags_of_the_block_are_on_the_call(self, fake_api: Any, telemetry: Any) -> None:
        client = sync_client(fake_api)
        with tracer.tags(feature="search", customer="acme"):
            client.messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        client.messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        tagged, untagged = sorted(telemetry.calls(), key=lambda s: s.start_time)
        assert tagged.attributes[semconv.TAG_PREFIX + "feature"] == "search"
        assert tagged.attributes[semconv.TAG_PREFIX + "customer"] == "acme"
        assert not any(k.startswith(semconv.TAG_PREFIX) for k in untagged.attributes)

    async def test_tags_follow_asyncio_tasks(self, fake_api: Any, telemetry: Any) -> None:
        import asyncio

        client = async_client(fake_api)

        async def one(customer: str) -> None:
            with tracer.tags(customer=customer):
                await client.messages.create(model=MODEL, max_tokens=32, messages=HELLO)

        await asyncio.gather(*(one(f"c{i}") for i in range(5)))
        assert sorted(c.attributes[semconv.TAG_PREFIX + "customer"] for c in telemetry.calls()) == [f"c{i}" for i in range(5)]


class TestCoverage:
    def test_count_tokens(self, fake_api: Any, telemetry: Any) -> None:
        result = sync_client(fake_api).messages.count_tokens(model=MODEL, messages=HELLO)
        call = telemetry.call()
        assert call.name == semconv.SPAN_MESSAGES_COUNT_TOKENS
        assert call.attributes[semconv.ANTHROPIC_COUNT_TOKENS_INPUT_TOKENS] == result.input_tokens
        assert len(telemetry.attempts(call)) == 1

    def test_batches_round_trip(self, fake_api: Any, telemetry: Any) -> None:
        client = sync_client(fake_api)
        batch = client.messages.batches.create(
            requests=[{"custom_id": f"r{i}", "params": {"model": MODEL, "max_tokens": 16, "messages": HELLO}} for i in range(3)]
        )
        client.messages.batches.retrieve(batch.id)
        list(client.messages.batches.list(limit=5))
        results = list(client.messages.batches.results(batch.id))
        assert len(results) == 3
        names = sorted(c.name for c in telemetry.calls())
        assert "anthropic.messages.batches.create" in names
        assert "anthropic.messages.batches.retrieve" in names
        assert "anthropic.messages.batches.list" in names
        assert "anthropic.messages.batches.results" in names
        for call in telemetry.calls():
            if not call.attributes.get(semconv.CALL_BATCH):  # a billed result line is a call without HTTP of its own
                assert len(telemetry.attempts(call)) >= 1

    def test_beta_messages(self, fake_api: Any, telemetry: Any) -> None:
        sync_client(fake_api).beta.messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        call = telemetry.call()
        assert call.attributes[semconv.GEN_AI_REQUEST_MODEL] == MODEL
        assert len(telemetry.attempts(call)) == 1

    def test_raw_response_mode(self, fake_api: Any, telemetry: Any) -> None:
        raw = sync_client(fake_api).messages.with_raw_response.create(model=MODEL, max_tokens=32, messages=HELLO)
        assert raw.parse().content
        assert len(telemetry.attempts(telemetry.call())) == 1

    def test_clients_made_before_instrument_and_copies_are_covered(self, fake_api: Any) -> None:
        from tests._telemetry import EXPORTER, Telemetry, join_provider

        join_provider()
        EXPORTER.clear()
        before = sync_client(fake_api)
        tracer.instrument(store=False)
        try:
            copies = [before, before.with_options(max_retries=0), before.copy(), before.with_middleware(lambda r, n: n(r)),
                      sync_client(fake_api)]  # fmt: skip
            for client in copies:
                client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)
            spans = Telemetry().spans()
            calls = [s for s in spans if s.attributes.get(semconv.SPAN_TYPE) == semconv.SPAN_TYPE_CALL]
            attempts = [s for s in spans if s.attributes.get(semconv.SPAN_TYPE) == semconv.SPAN_TYPE_ATTEMPT]
            assert len(calls) == len(copies) and len(attempts) == len(copies)
        finally:
            tracer.uninstrument()
            EXPORTER.clear()


class TestPlatformClients:
    """Bedrock and Vertex clients subclass the same base client: their calls get the same spans. The fake API does
    not speak their URL schemes, so it answers 404; what matters is that the call and its attempt are recorded and
    the error is the SDK's own."""

    def _call(self, client: Any) -> type[BaseException] | None:
        try:
            client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        except Exception as exc:
            return type(exc)
        return None

    def test_vertex(self, fake_api: Any, telemetry: Any) -> None:
        from anthropic import AnthropicVertex

        client = AnthropicVertex(region="us-east5", project_id="p", access_token="tok", base_url=fake_api.base_url, max_retries=0)
        assert self._call(client) is anthropic.NotFoundError
        call = telemetry.call()
        (attempt,) = telemetry.attempts(call)
        assert attempt.attributes[semconv.HTTP_RESPONSE_STATUS_CODE] == 404

    def test_bedrock(self, fake_api: Any, telemetry: Any) -> None:
        from anthropic import AnthropicBedrock

        def client() -> Any:
            return AnthropicBedrock(aws_region="us-east-1", aws_access_key="a", aws_secret_key="b",
                                    base_url=fake_api.base_url, max_retries=0)  # fmt: skip

        tracer.uninstrument()
        bare = self._call(client())  # 404, or an error of the signing step where botocore is missing
        telemetry.clear()
        tracer.instrument(store=False)
        assert self._call(client()) is bare
        call = telemetry.call()
        assert len(telemetry.attempts(call)) == 1


class TestBatchResults:
    def test_each_billed_result_is_a_call_priced_at_the_batch_rate(self, fake_api: Any, telemetry: Any) -> None:
        from decimal import Decimal

        from tracer.cost import cost_of

        client = sync_client(fake_api)
        batch = client.messages.batches.create(
            requests=[{"custom_id": f"r{i}", "params": {"model": MODEL, "max_tokens": 16, "messages": HELLO}} for i in range(3)]
        )
        with tracer.tags(feature="nightly"):
            results = list(client.messages.batches.results(batch.id))
        billed = [r for r in results if r.result.type == "succeeded"]
        assert billed
        spans = {c.attributes["anthropic.message.batch.custom_id"]: c for c in telemetry.calls() if c.attributes.get(semconv.CALL_BATCH)}
        assert set(spans) == {r.custom_id for r in billed}
        for r in billed:
            attrs = spans[r.custom_id].attributes
            usage = r.result.message.usage
            expected = cost_of(MODEL, usage, batch=True)
            standard = usage.model_copy(update={"service_tier": "standard"})
            assert Decimal(attrs[semconv.COST_USD_EXACT]) == expected == cost_of(MODEL, standard) / 2
            assert attrs[semconv.GEN_AI_OPERATION_NAME] == "batch"
            assert attrs[semconv.TAG_PREFIX + "feature"] == "nightly"

    async def test_async_results(self, fake_api: Any, telemetry: Any) -> None:
        client = async_client(fake_api)
        batch = await client.messages.batches.create(
            requests=[{"custom_id": "only", "params": {"model": MODEL, "max_tokens": 16, "messages": HELLO}}]
        )
        results = [r async for r in await client.messages.batches.results(batch.id)]
        assert [c.attributes["anthropic.message.batch.custom_id"] for c in telemetry.calls() if c.attributes.get(semconv.CALL_BATCH)] == [
            r.custom_id for r in results if r.result.type == "succeeded"
        ]


class TestCallAttributesPricing:
    """`call_attributes` prices through `PriceTable.quote`, which keeps each (model, mode) resolved for the day."""

    MODES = (
        {},
        {semconv.ANTHROPIC_RESPONSE_SERVICE_TIER: "batch"},
        {semconv.ANTHROPIC_RESPONSE_SERVICE_TIER: "priority"},
        {semconv.USAGE_INFERENCE_GEO: "us"},
        {semconv.USAGE_SPEED: "fast"},
        {semconv.GEN_AI_RESPONSE_MODEL: "claude-opus-4-6-20990101"},
        {semconv.GEN_AI_RESPONSE_MODEL: "claude-nope-9"},
    )

    @pytest.mark.parametrize("mode", MODES, ids=lambda m: "-".join(map(str, m.values())) or "standard")
    def test_same_cost_as_cost_of_twice_in_a_row(self, mode: dict[str, Any]) -> None:
        from tracer.capture import call_attributes
        from tracer.cost import TokenCounts, default_table

        table = default_table()
        attrs = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
                 semconv.GEN_AI_USAGE_INPUT_TOKENS: 250_000, semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 1000,
                 semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 700, **mode}  # fmt: skip
        model = attrs.get(semconv.GEN_AI_RESPONSE_MODEL) or attrs[semconv.GEN_AI_REQUEST_MODEL]
        counts = TokenCounts(249_000, 0, 0, 1000, 700, 0, 0, attrs.get(semconv.ANTHROPIC_RESPONSE_SERVICE_TIER),
                             attrs.get(semconv.USAGE_INFERENCE_GEO), attrs.get(semconv.USAGE_SPEED))  # fmt: skip
        expected = table.cost_of(model, counts)
        for _ in range(2):  # the second from the memo
            out = call_attributes(attrs, duration_s=1.0, prices=table)
            if expected is None:
                assert out[semconv.COST_UNPRICED] is True and semconv.COST_USD not in out
            else:
                assert out[semconv.COST_USD_EXACT] == str(expected)
                assert out[semconv.COST_USD] == float(expected)
                canonical = table.resolve_model(model)
                assert canonical is not None and out[semconv.COST_PRICE_SOURCE] == table.entry(canonical).source

    @pytest.mark.parametrize("mode", MODES, ids=lambda m: "-".join(map(str, m.values())) or "standard")
    def test_cache_figures_are_the_cost_with_the_tokens_at_the_input_price(self, mode: dict[str, Any]) -> None:
        """What the reads saved is what the call would have cost with them as plain input, less its cost; what the
        writes cost beyond the input price is its cost less what it would have cost with them as plain input: the
        cost engine's own answers, in every mode and in the long-context tier (250k prompt tokens)."""
        from tracer.capture import call_attributes
        from tracer.cost import TokenCounts, default_table

        table = default_table()
        attrs = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
                 semconv.GEN_AI_USAGE_INPUT_TOKENS: 250_000, semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 100_000,
                 semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 30_000, semconv.ANTHROPIC_CACHE_WRITE_1H_TOKENS: 10_000,
                 semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 700, **mode}  # fmt: skip
        model = attrs.get(semconv.GEN_AI_RESPONSE_MODEL) or attrs[semconv.GEN_AI_REQUEST_MODEL]
        mode_of = (attrs.get(semconv.ANTHROPIC_RESPONSE_SERVICE_TIER), attrs.get(semconv.USAGE_INFERENCE_GEO), attrs.get(semconv.USAGE_SPEED))
        billed = table.cost_of(model, TokenCounts(120_000, 20_000, 10_000, 100_000, 700, 0, 0, *mode_of))
        reads_plain = table.cost_of(model, TokenCounts(220_000, 20_000, 10_000, 0, 700, 0, 0, *mode_of))
        writes_plain = table.cost_of(model, TokenCounts(150_000, 0, 0, 100_000, 700, 0, 0, *mode_of))
        out = call_attributes(attrs, duration_s=1.0, prices=table)
        if billed is None:
            assert semconv.COST_CACHE_READ_SAVED_USD not in out and semconv.COST_CACHE_WRITE_PREMIUM_USD not in out
            return
        assert reads_plain is not None and writes_plain is not None
        assert out[semconv.COST_CACHE_READ_SAVED_USD] == float(reads_plain - billed)
        assert out[semconv.COST_CACHE_WRITE_PREMIUM_USD] == float(billed - writes_plain)
        assert table.cache_usd(model, TokenCounts(120_000, 20_000, 10_000, 100_000, 700, 0, 0, *mode_of)) == (
            out[semconv.COST_CACHE_READ_SAVED_USD], out[semconv.COST_CACHE_WRITE_PREMIUM_USD])

    def test_no_cache_figures_without_cache_tokens(self) -> None:
        from tracer.capture import call_attributes
        from tracer.cost import default_table

        attrs = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
                 semconv.GEN_AI_USAGE_INPUT_TOKENS: 1000, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 70}  # fmt: skip
        out = call_attributes(attrs, duration_s=1.0, prices=default_table())
        assert semconv.COST_USD in out and semconv.COST_CACHE_READ_SAVED_USD not in out
        assert semconv.COST_CACHE_WRITE_PREMIUM_USD not in out

    def test_cache_figures_of_billed_iterations_add_up(self) -> None:
        """A call with `usage.iterations` (here a compaction and the message, on two models): each billed
        iteration's cache figures at its own model's prices, summed."""
        import json

        from tracer.capture import call_attributes
        from tracer.cost import TokenCounts, default_table

        table = default_table()
        rows = [{"type": "compaction", "model": "claude-haiku-4-5", "input_tokens": 10, "cache_read_input_tokens": 4000,
                 "output_tokens": 50},
                {"type": "message", "model": "claude-sonnet-4-5", "input_tokens": 20, "cache_read_input_tokens": 2000,
                 "cache_creation_input_tokens": 500, "output_tokens": 70}]  # fmt: skip
        attrs = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
                 semconv.GEN_AI_USAGE_INPUT_TOKENS: 2520, semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 2000,
                 semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: 500, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 70,
                 semconv.USAGE_ITERATIONS: json.dumps(rows)}  # fmt: skip
        out = call_attributes(attrs, duration_s=1.0, prices=table)
        haiku = table.cache_usd("claude-haiku-4-5", TokenCounts(10, 0, 0, 4000, 50))
        sonnet = table.cache_usd("claude-sonnet-4-5", TokenCounts(20, 500, 0, 2000, 70))
        assert haiku is not None and sonnet is not None
        assert out[semconv.COST_CACHE_READ_SAVED_USD] == pytest.approx(haiku[0] + sonnet[0])
        assert out[semconv.COST_CACHE_WRITE_PREMIUM_USD] == pytest.approx(sonnet[1])

    def test_cost_text_and_float_are_those_of_the_decimal(self) -> None:
        """The hot path prints the exact cost without building a Decimal: the same text and float as the Decimal's."""
        import random

        from tracer.capture import call_attributes
        from tracer.cost import TokenCounts, default_table

        table = default_table()
        rng = random.Random(7)
        for _ in range(2000):
            model = rng.choice(["claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-6", "claude-3-haiku-20240307"])
            counts = TokenCounts(rng.choice([0, 1, rng.randrange(10**rng.randrange(1, 7))]), rng.randrange(3) * rng.randrange(10**5),
                                 0, rng.randrange(2) * rng.randrange(10**5), rng.choice([0, 1, rng.randrange(10**5)]), 0,
                                 rng.randrange(2) * rng.randrange(30), None, rng.choice([None, "us", "global"]), None)  # fmt: skip
            attrs = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: model,
                     semconv.GEN_AI_USAGE_INPUT_TOKENS: counts.input + counts.cache_write_5m + counts.cache_read,
                     semconv.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: counts.cache_write_5m,
                     semconv.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: counts.cache_read,
                     semconv.GEN_AI_USAGE_OUTPUT_TOKENS: counts.output,
                     semconv.USAGE_WEB_SEARCH_REQUESTS: counts.web_search}  # fmt: skip
            if counts.inference_geo:
                attrs[semconv.USAGE_INFERENCE_GEO] = counts.inference_geo
            expected = table.cost_of(model, counts)
            out = call_attributes(attrs, duration_s=1.0, prices=table)
            assert expected is not None
            assert (out[semconv.COST_USD_EXACT], out[semconv.COST_USD]) == (str(expected), float(expected))
