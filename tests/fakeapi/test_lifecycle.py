"""Starting, stopping and resetting a FakeAPI, as tests and the demo use it in-process."""

from __future__ import annotations

import threading
import time

import anthropic
import pytest

from tracer.fakeapi import FakeAPI

from ._sdk import STREAM_BROKEN, ask, script, sdk
from .test_messages import cached_system


class TestLifecycle:
    def test_start_stop_and_the_address(self) -> None:
        api = FakeAPI(latency_scale=0.0)
        assert not api.running
        with pytest.raises(RuntimeError, match="not started"):
            _ = api.port
        assert api.start() is api and api.start() is api  # starting twice is harmless
        assert api.port > 0 and api.base_url == f"http://127.0.0.1:{api.port}"
        url = api.base_url
        assert sdk(api).messages.create(**ask()).content
        api.stop()
        api.stop()
        assert not api.running
        with pytest.raises(anthropic.APIConnectionError):  # nothing listens there any more
            anthropic.Anthropic(api_key="k", base_url=url, max_retries=0).messages.create(**ask())

    def test_stop_releases_a_client_stuck_on_a_stalled_stream(self) -> None:
        api = FakeAPI(latency_scale=0.0).start()
        stream = sdk(api, timeout=30).messages.create(**ask(), stream=True, **script("stall:3"))
        threading.Timer(0.1, api.stop).start()
        started = time.perf_counter()
        with pytest.raises(STREAM_BROKEN):  # the connection closes mid-body
            list(stream)
        assert time.perf_counter() - started < 5

    def test_servers_are_independent(self) -> None:
        with FakeAPI(latency_scale=0.0) as one, FakeAPI(latency_scale=0.0) as two:
            sdk(one).messages.create(**ask())
            assert len(one.requests) == 1 and len(two.requests) == 0 and one.port != two.port

    def test_reset_forgets_requests_cache_and_rate_limit_usage(self, api: FakeAPI) -> None:
        client = sdk(api)
        assert client.messages.create(**ask(system=cached_system())).usage.cache_creation_input_tokens > 0
        api.reset()
        assert len(api.requests) == 0
        assert client.messages.create(**ask(system=cached_system())).usage.cache_creation_input_tokens > 0

    def test_keep_requests_records_only_the_latest(self) -> None:
        with FakeAPI(latency_scale=0.0, keep_requests=3) as api:
            client = sdk(api)
            for i in range(5):
                client.messages.create(**ask(max_tokens=i + 1))
            assert [r.body["max_tokens"] for r in api.requests] == [3, 4, 5]

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError, match="latency_scale"):
            FakeAPI(latency_scale=-1)
        with pytest.raises(ValueError, match="unknown rate limit kinds"):
            FakeAPI(rate_limits={"rpm": 5})
