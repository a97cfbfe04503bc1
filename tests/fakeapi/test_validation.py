"""Requests the real API rejects get the same typed errors here, in the API's error JSON shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tracer.fakeapi import FakeAPI

from ._sdk import HELLO, MODEL, ask, async_sdk, sdk


def post(client: anthropic.Anthropic, body: dict[str, Any]) -> Any:
    """POST /v1/messages with exactly this body (the SDK's typed `create` would refuse to send it)."""
    return client.post("/v1/messages", cast_to=object, body=body)


class TestBadRequests:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"max_tokens": 10, "messages": HELLO}, "model: Field required"),
            ({"model": MODEL, "messages": HELLO}, "max_tokens: Field required"),
            ({"model": MODEL, "max_tokens": 10}, "messages: Field required"),
            ({"model": MODEL, "max_tokens": 0, "messages": HELLO}, "max_tokens: Input should be greater than"),
            ({"model": MODEL, "max_tokens": 10, "messages": []}, "at least one message"),
            ({"model": MODEL, "max_tokens": 10, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
            ({"model": MODEL, "max_tokens": 999_999, "messages": HELLO}, "maximum allowed number of output tokens"),
            ({"model": MODEL, "max_tokens": 10, "messages": HELLO, "temperature": 3}, "temperature"),
        ],
    )
    def test_invalid_bodies_are_400_invalid_request_error(
        self, api: FakeAPI, body: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(anthropic.BadRequestError) as caught:
            post(sdk(api), body)
        error = caught.value
        assert error.status_code == 400 and message in error.message
        assert error.body == {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": error.body["error"]["message"]},  # type: ignore[index]
            "request_id": error.request_id,
        }
        assert error.request_id == error.response.headers["request-id"]
        assert api.requests[-1].status == 400 and api.requests[-1].outcome == "invalid"

    def test_a_400_is_not_retried(self, api: FakeAPI) -> None:
        with pytest.raises(anthropic.BadRequestError):
            post(sdk(api, max_retries=2), {"model": MODEL, "messages": HELLO})
        assert len(api.requests) == 1

    def test_thinking_budget_must_be_below_max_tokens(self, api: FakeAPI) -> None:
        with pytest.raises(anthropic.BadRequestError, match="budget_tokens"):
            sdk(api).messages.create(**ask(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 4000}))

    def test_more_than_four_cache_breakpoints(self, api: FakeAPI) -> None:
        block = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
        with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks with cache_control"):
            sdk(api).messages.create(**ask(system=[block] * 5))

    def test_invalid_json(self, api: FakeAPI) -> None:
        with pytest.raises(anthropic.BadRequestError, match="not valid JSON"):
            sdk(api).post(
                "/v1/messages",
                cast_to=object,
                content=b"{nope",
                options={"headers": {"content-type": "application/json"}},
            )


class TestUnknownModel:
    def test_is_404_not_found_error(self, api: FakeAPI) -> None:
        with pytest.raises(anthropic.NotFoundError) as caught:
            sdk(api).messages.create(**ask(model="claude-imaginary-9"))
        assert caught.value.body["error"] == {"type": "not_found_error", "message": "model: claude-imaginary-9"}  # type: ignore[index]
        assert len(api.requests) == 1  # 404 is not retried

    async def test_async_and_count_tokens(self, api: FakeAPI) -> None:
        with pytest.raises(anthropic.NotFoundError):
            await async_sdk(api).messages.count_tokens(model="claude-imaginary-9", messages=HELLO)


class TestApiKey:
    @pytest.fixture
    def keyed(self) -> Iterator[FakeAPI]:
        with FakeAPI(latency_scale=0.0, api_key="sk-right") as server:
            yield server

    def test_a_wrong_key_is_401_authentication_error(self, keyed: FakeAPI) -> None:
        client = anthropic.Anthropic(api_key="sk-wrong", base_url=keyed.base_url)
        with pytest.raises(anthropic.AuthenticationError) as caught:
            client.messages.create(**ask())
        assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]

    def test_the_right_key_passes(self, keyed: FakeAPI) -> None:
        client = anthropic.Anthropic(api_key="sk-right", base_url=keyed.base_url)
        assert client.messages.create(**ask()).content

    def test_without_a_configured_key_any_key_passes(self, api: FakeAPI) -> None:
        assert anthropic.Anthropic(api_key="anything", base_url=api.base_url).messages.create(**ask()).content


class TestUnknownPaths:
    def test_an_unknown_path_is_404(self, api: FakeAPI) -> None:
        with pytest.raises(anthropic.NotFoundError):
            sdk(api).get("/v1/nothing-here", cast_to=object)
