"""GenAI metrics with the semantic conventions' names, units and buckets; our attempt, retry, cost and rate-limit
metrics with the labels the Grafana dashboards query."""

from __future__ import annotations

from typing import Any

import pytest

from tracer import semconv

from .conftest import HELLO, MODEL, script, sync_client


def by(points: list[tuple[dict[str, Any], Any]], **labels: Any) -> list[Any]:
    return [p for attrs, p in points if all(attrs.get(k.replace("__", ".")) == v for k, v in labels.items())]


class TestGenAIMetrics:
    def test_duration_and_token_usage_histograms(self, fake_api: Any, telemetry: Any) -> None:
        client = sync_client(fake_api)
        messages = [client.messages.create(model=MODEL, max_tokens=32, messages=HELLO) for _ in range(3)]
        (duration,) = telemetry.metric(semconv.METRIC_OPERATION_DURATION)
        attrs, point = duration
        assert attrs[semconv.GEN_AI_REQUEST_MODEL] == MODEL and attrs[semconv.GEN_AI_OPERATION_NAME] == "chat"
        assert point.count == 3
        assert tuple(point.explicit_bounds) == semconv.DURATION_BUCKETS
        tokens = telemetry.metric(semconv.METRIC_TOKEN_USAGE)
        (out,) = [p for a, p in tokens if a[semconv.GEN_AI_TOKEN_TYPE] == "output"]
        assert out.sum == sum(m.usage.output_tokens for m in messages)
        assert tuple(out.explicit_bounds) == tuple(float(b) for b in semconv.TOKEN_BUCKETS)

    def test_time_to_first_chunk_for_streams(self, fake_api: Any, telemetry: Any) -> None:
        with sync_client(fake_api).messages.stream(model=MODEL, max_tokens=32, messages=HELLO) as stream:
            stream.get_final_message()
        ((attrs, point),) = telemetry.metric(semconv.METRIC_TIME_TO_FIRST_CHUNK)
        assert point.count == 1 and attrs[semconv.GEN_AI_REQUEST_MODEL] == MODEL


class TestOurMetrics:
    def test_attempts_by_outcome_and_retries_by_cause(self, fake_api: Any, telemetry: Any) -> None:
        sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO, **script("429:1,529,ok"))
        points = telemetry.metric(semconv.METRIC_ATTEMPTS)
        assert {a[semconv.ATTEMPT_OUTCOME]: p.value for a, p in points} == {"429": 1, "529": 1, "ok": 1}
        # The outcome beside the status it is made from (which queries written before the outcome read).
        assert {a[semconv.ATTEMPT_OUTCOME]: a[semconv.HTTP_RESPONSE_STATUS_CODE] for a, _ in points} == {
            "429": 429, "529": 529, "ok": 200
        }
        assert all(a[semconv.GEN_AI_REQUEST_MODEL] == MODEL for a, _ in points)
        retries = {a[semconv.ERROR_TYPE]: p.value for a, p in telemetry.metric(semconv.METRIC_RETRIES)}
        assert retries == {"429": 1, "529": 1}

    def test_attempts_without_an_answer_count_by_their_outcome(self, fake_api: Any, telemetry: Any) -> None:
        """A dropped connection and a timeout have no status: the counter tells them apart by the outcome the
        attempt span and the store carry."""
        sync_client(fake_api, max_retries=1).messages.create(model=MODEL, max_tokens=32, messages=HELLO, **script("drop,ok"))
        sync_client(fake_api, max_retries=1, timeout=0.2).messages.create(
            model=MODEL, max_tokens=32, messages=HELLO, **script("slow:600,ok")
        )
        points = telemetry.metric(semconv.METRIC_ATTEMPTS)
        assert {a[semconv.ATTEMPT_OUTCOME]: p.value for a, p in points} == {"connection": 1, "timeout": 1, "ok": 2}
        spans = [(s.attributes or {})[semconv.ATTEMPT_OUTCOME] for s in telemetry.attempts()]
        assert sorted(spans) == ["connection", "ok", "ok", "timeout"]

    def test_cost_counter_has_no_tag_labels_by_default_while_spans_keep_every_tag(self, fake_api: Any, telemetry: Any) -> None:
        import tracer

        client = sync_client(fake_api)
        with tracer.tags(feature="search", customer="acme"):
            for _ in range(2):
                client.messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        ((attrs, point),) = telemetry.metric(semconv.METRIC_COST)
        assert attrs == {semconv.GEN_AI_REQUEST_MODEL: MODEL}
        assert point.value == pytest.approx(sum(c.attributes[semconv.COST_USD] for c in telemetry.calls()))
        assert all(c.attributes[semconv.TAG_PREFIX + "customer"] == "acme" for c in telemetry.calls())


class TestTagLabels:
    """Which tag keys label the cost counter is a choice (`metric_tags=` or TRACER_METRIC_TAGS), and each chosen key
    has a cap on distinct values past which calls count under `_other`."""

    @pytest.fixture
    def instrumented(self, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        import tracer
        from tests._telemetry import EXPORTER, join_provider
        from tests.conftest import metric_points

        def start(**options: Any) -> Any:
            join_provider()
            reader = InMemoryMetricReader()
            tracer.instrument(store=False, meter_provider=MeterProvider(metric_readers=[reader]), **options)

            def cost() -> dict[Any, float]:
                from tracer.capture import _worker

                _worker.drain()
                return {tuple(sorted(a.items())): p.value for a, p in metric_points(reader, semconv.METRIC_COST)}

            return cost

        yield start
        tracer.uninstrument()
        EXPORTER.clear()

    def _calls(self, api: Any, **tags: str) -> None:
        import tracer

        with tracer.tags(**tags):
            sync_client(api).messages.create(model=MODEL, max_tokens=16, messages=HELLO)

    def test_a_chosen_key_becomes_a_label_and_the_others_do_not(self, fake_api: Any, instrumented: Any) -> None:
        cost = instrumented(metric_tags=["feature"])
        self._calls(fake_api, feature="search", customer="acme")
        (labels,) = cost()
        assert dict(labels) == {semconv.GEN_AI_REQUEST_MODEL: MODEL, semconv.TAG_PREFIX + "feature": "search"}

    def test_the_environment_chooses_when_the_option_does_not(self, fake_api: Any, instrumented: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACER_METRIC_TAGS", "customer, feature")
        cost = instrumented()
        self._calls(fake_api, feature="search", customer="acme", user="u1")
        (labels,) = cost()
        assert {k for k, _ in labels} == {semconv.GEN_AI_REQUEST_MODEL, semconv.TAG_PREFIX + "customer", semconv.TAG_PREFIX + "feature"}

    def test_values_past_the_cap_count_under_other(self, fake_api: Any, instrumented: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("TRACER_METRIC_TAG_VALUES_MAX", "2")
        cost = instrumented(metric_tags="customer")
        for customer in ("a", "b", "c", "d", "a"):
            self._calls(fake_api, customer=customer)
        values = {dict(labels)[semconv.TAG_PREFIX + "customer"] for labels in cost()}
        assert values == {"a", "b", semconv.TAG_LABEL_OVERFLOW}
        assert len(cost()) == 3  # one series per kept value and one for the rest, however many customers come


class TestConventions:
    """The GenAI metric attributes and names: the released conventions by default, the newest on opt-in."""

    def test_metric_points_carry_provider_server_and_response_model(self, fake_api: Any, telemetry: Any) -> None:
        message = sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        ((attrs, _),) = telemetry.metric(semconv.METRIC_OPERATION_DURATION)
        host, port = fake_api.base_url.split("//")[1].split(":")
        assert attrs[semconv.GEN_AI_PROVIDER_NAME] == "anthropic"
        assert attrs[semconv.GEN_AI_RESPONSE_MODEL] == message.model
        assert attrs[semconv.SERVER_ADDRESS] == host and attrs[semconv.SERVER_PORT] == int(port.rstrip("/"))
        for attrs, _ in telemetry.metric(semconv.METRIC_TOKEN_USAGE):
            assert attrs[semconv.SERVER_ADDRESS] == host and attrs[semconv.GEN_AI_RESPONSE_MODEL] == message.model

    def test_the_call_span_has_the_finish_reasons(self, fake_api: Any, telemetry: Any) -> None:
        message = sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        assert telemetry.call().attributes[semconv.GEN_AI_RESPONSE_FINISH_REASONS] == (message.stop_reason,)

    def test_billed_tokens_add_up_to_the_usage(self, fake_api: Any, telemetry: Any) -> None:
        message = sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        by_kind = {a[semconv.TOKEN_KIND]: p.value for a, p in telemetry.metric(semconv.METRIC_TOKENS)}
        usage = message.usage
        assert by_kind.get("input", 0) == usage.input_tokens
        assert by_kind.get("output", 0) + by_kind.get("thinking", 0) == usage.output_tokens
        assert sum(by_kind.values()) == (usage.input_tokens + usage.output_tokens + (usage.cache_read_input_tokens or 0)
                                         + (usage.cache_creation_input_tokens or 0))  # fmt: skip

    @pytest.mark.parametrize(("opt_in", "released", "latest"), [
        (None, True, False),
        ("gen_ai_latest_experimental", False, True),
        ("http,gen_ai_latest_experimental/dup", True, True),
    ])  # fmt: skip
    def test_opt_in_emits_the_newest_names(self, fake_api: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
                                           opt_in: str | None, released: bool, latest: bool) -> None:  # fmt: skip
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        import tracer
        from tests.conftest import metric_points
        from tracer.capture import _worker

        if opt_in is None:
            monkeypatch.delenv("OTEL_SEMCONV_STABILITY_OPT_IN", raising=False)
        else:
            monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", opt_in)
        reader = InMemoryMetricReader()
        tracer.instrument(store=False, meter_provider=MeterProvider(metric_readers=[reader]))
        try:
            client = sync_client(fake_api)
            message = client.messages.create(model=MODEL, max_tokens=32, messages=HELLO)
            with client.messages.stream(model=MODEL, max_tokens=32, messages=HELLO) as stream:
                streamed = stream.get_final_message()
            client.messages.count_tokens(model=MODEL, messages=HELLO)
            _worker.drain()
        finally:
            tracer.uninstrument()
        assert bool(metric_points(reader, semconv.METRIC_TOKEN_USAGE)) is released
        inputs = metric_points(reader, semconv.METRIC_INFERENCE_INPUT_TOKENS)
        outputs = metric_points(reader, semconv.METRIC_INFERENCE_OUTPUT_TOKENS)
        per_call = metric_points(reader, semconv.METRIC_INFERENCE_OPERATION_OUTPUT_TOKENS)
        assert bool(inputs) is latest and bool(per_call) is latest
        if latest:
            ((attrs, point),) = outputs
            assert point.value == message.usage.output_tokens + streamed.usage.output_tokens
            assert attrs[semconv.GEN_AI_TOKEN_MODALITY] == semconv.TOKEN_MODALITY_UNKNOWN
            assert semconv.GEN_AI_TOKEN_MODALITY not in per_call[0][0]  # percentiles across modalities do not add up
        # Latency and time to first chunk (#521): inference on the inference names with the opt-in, on the operation
        # names without it (and both with /dup); count_tokens is no inference and stays on the operation name.
        def operations(name: str) -> list[str]:
            return sorted(a[semconv.GEN_AI_OPERATION_NAME] for a, _ in metric_points(reader, name))

        chat = [o for o in operations(semconv.METRIC_INFERENCE_DURATION) if o == "chat"]
        assert len(chat) == (1 if latest else 0)  # one series: the plain call and the stream share their labels
        assert ("chat" in operations(semconv.METRIC_OPERATION_DURATION)) is released
        assert len([o for o in operations(semconv.METRIC_OPERATION_DURATION) if o != "chat"]) == 1  # count_tokens
        assert bool(metric_points(reader, semconv.METRIC_INFERENCE_TIME_TO_FIRST_CHUNK)) is latest
        assert bool(metric_points(reader, semconv.METRIC_TIME_TO_FIRST_CHUNK)) is released


class TestPlatformProviders:
    """Bedrock and Vertex clients (fake credentials, pointed at the fake API, which answers their URLs 404): their
    metric points carry the provider their client names, as the SDK's spans do."""

    def _provider_of_points(self, client: Any, telemetry: Any) -> set[str]:
        import contextlib

        with contextlib.suppress(Exception):
            client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        return {a[semconv.GEN_AI_PROVIDER_NAME] for a, _ in telemetry.metric(semconv.METRIC_OPERATION_DURATION)}

    def test_vertex(self, fake_api: Any, telemetry: Any) -> None:
        from anthropic import AnthropicVertex

        client = AnthropicVertex(region="us-east5", project_id="p", access_token="tok", base_url=fake_api.base_url, max_retries=0)
        assert self._provider_of_points(client, telemetry) == {"gcp.vertex_ai"}

    def test_bedrock(self, fake_api: Any, telemetry: Any) -> None:
        from anthropic import AnthropicBedrock

        client = AnthropicBedrock(aws_region="us-east-1", aws_access_key="a", aws_secret_key="b",
                                  base_url=fake_api.base_url, max_retries=0)  # fmt: skip
        assert self._provider_of_points(client, telemetry) == {"aws.bedrock"}


class TestUnknownModel:
    def test_an_unknown_model_is_left_out_never_labelled_unknown(self) -> None:
        """A call span without a model (a request the conventions cannot name) gives points without the attribute."""
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        from tests.conftest import metric_points
        from tracer.capture import _metrics, _worker

        reader = InMemoryMetricReader()
        _metrics.configure(MeterProvider(metric_readers=[reader]).get_meter(semconv.SCOPE))
        try:
            attrs = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_USAGE_INPUT_TOKENS: 5}
            _metrics._record_call(attrs, {semconv.COST_UNPRICED: True}, 0.5)
            _metrics.record_attempt(None, 503, None, "5xx", None)
            _metrics._record_retry(None, "500")
            _worker.drain()
            for name in (semconv.METRIC_OPERATION_DURATION, semconv.METRIC_TOKEN_USAGE, semconv.METRIC_ATTEMPTS,
                         semconv.METRIC_RETRIES, semconv.METRIC_UNPRICED_CALLS, semconv.METRIC_TOKENS):  # fmt: skip
                points = metric_points(reader, name)
                assert points, name
                assert all(semconv.GEN_AI_REQUEST_MODEL not in a for a, _ in points), name
        finally:
            _metrics.reset()

    def test_rate_limit_remaining_gauges(self, fake_api: Any, telemetry: Any) -> None:
        sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        (attempt,) = telemetry.attempts()
        gauges = {a[semconv.METRIC_ATTR_RATELIMIT_KIND]: p.value for a, p in telemetry.metric(semconv.METRIC_RATELIMIT_REMAINING)}
        assert set(gauges) == set(semconv.RATELIMIT_KINDS)
        assert gauges["requests"] == attempt.attributes[semconv.ratelimit_attribute("requests", "remaining")]
        limits = {a[semconv.METRIC_ATTR_RATELIMIT_KIND]: p.value for a, p in telemetry.metric(semconv.METRIC_RATELIMIT_LIMIT)}
        assert limits["tokens"] == attempt.attributes[semconv.ratelimit_attribute("tokens", "limit")] >= gauges["tokens"]

    def test_an_unknown_model_counts_as_unpriced_never_zero(self, fake_api: Any, telemetry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        from tracer import cost

        # A model the fake API serves but the price table does not know (mock: every real model has a price).
        table = cost.default_table()
        monkeypatch.setattr(table, "cost_of", lambda *a, **k: None)
        monkeypatch.setattr(table, "resolve_model", lambda model: None)
        sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
        call = telemetry.call()
        assert call.attributes[semconv.COST_UNPRICED] is True and semconv.COST_USD not in call.attributes
        assert [p.value for _, p in telemetry.metric(semconv.METRIC_UNPRICED_CALLS)] == [1]
        assert telemetry.metric(semconv.METRIC_COST) == []


def test_latency_points_keep_an_exemplar_of_their_trace(fake_api: Any, telemetry: Any) -> None:
    """Recorded off the caller's thread, yet the duration histogram's exemplar names the call span (Grafana's
    trace link from a latency point)."""
    sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
    call = telemetry.call()
    ((_, point),) = telemetry.metric(semconv.METRIC_OPERATION_DURATION)
    assert [(e.trace_id, e.span_id) for e in point.exemplars] == [(call.context.trace_id, call.context.span_id)]


def test_no_meter_provider_means_nothing_is_recorded_until_one_is_registered(fake_api: Any) -> None:
    """Without a MeterProvider the instruments are the API's proxies: nothing is computed or queued per call. Once
    the application registers one, the proxies get real instruments and the calls after that are recorded."""
    from opentelemetry.metrics._internal import _ProxyMeterProvider
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    import tracer
    from tests.conftest import metric_points
    from tracer.capture import _metrics, _worker

    proxy = _ProxyMeterProvider()  # what `metrics.get_meter_provider()` is before the application sets one
    tracer.instrument(store=False)
    try:
        _metrics.configure(proxy.get_meter(semconv.SCOPE))
        queued: list[Any] = []
        real_defer = _worker.defer
        _worker.defer = lambda fn, *args: (queued.append(fn), real_defer(fn, *args))  # type: ignore[assignment]
        try:
            sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
            _worker.drain()
            assert _metrics._record_call not in queued
            reader = InMemoryMetricReader()
            proxy.on_set_meter_provider(MeterProvider(metric_readers=[reader]))
            sync_client(fake_api).messages.create(model=MODEL, max_tokens=32, messages=HELLO)
            _worker.drain()
            assert _metrics._record_call in queued
            assert len(metric_points(reader, semconv.METRIC_OPERATION_DURATION)) == 1
            assert metric_points(reader, semconv.METRIC_ATTEMPTS)
        finally:
            _worker.defer = real_defer  # type: ignore[assignment]
    finally:
        tracer.uninstrument()
