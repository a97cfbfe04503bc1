"""Message Batches through the SDK: create, retrieve, list, cancel, results (JSONL), delete."""

from __future__ import annotations

import anthropic
import pytest

from tracer.fakeapi import FakeAPI

from ._sdk import MODEL, async_sdk, sdk


def requests(n: int, bad: bool = False) -> list[dict]:
    out = [
        {
            "custom_id": f"req-{i}",
            "params": {"model": MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": f"q{i}"}]},
        }
        for i in range(n)
    ]
    if bad:
        out.append({"custom_id": "bad", "params": {"model": "claude-imaginary-9", "max_tokens": 32, "messages": []}})
    return out


class TestRoundTrip:
    def test_create_retrieve_results_list_delete(self, api: FakeAPI) -> None:
        client = sdk(api)
        batch = client.messages.batches.create(requests=requests(3, bad=True))  # type: ignore[arg-type]
        assert batch.id.startswith("msgbatch_01") and batch.processing_status == "in_progress"
        assert batch.request_counts.processing == 4 and batch.results_url is None
        done = client.messages.batches.retrieve(batch.id)  # at latency scale 0 it is processed by now
        assert done.processing_status == "ended" and done.ended_at is not None
        assert (done.request_counts.succeeded, done.request_counts.errored, done.request_counts.processing) == (3, 1, 0)
        assert done.results_url == f"{api.base_url}/v1/messages/batches/{batch.id}/results"
        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
        assert set(results) == {"req-0", "req-1", "req-2", "bad"}
        ok = results["req-0"]
        assert ok.type == "succeeded" and ok.message.usage.service_tier == "batch"
        bad = results["bad"]
        assert bad.type == "errored" and bad.error.error.type == "invalid_request_error"
        assert [b.id for b in client.messages.batches.list()] == [batch.id]
        assert client.messages.batches.delete(batch.id).type == "message_batch_deleted"
        with pytest.raises(anthropic.NotFoundError):
            client.messages.batches.retrieve(batch.id)

    def test_cancel_before_processing(self, api: FakeAPI) -> None:
        client = sdk(api)
        batch = client.messages.batches.create(requests=requests(2))  # type: ignore[arg-type]
        canceling = client.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended" and ended.request_counts.canceled == 2
        assert {r.result.type for r in client.messages.batches.results(batch.id)} == {"canceled"}

    def test_list_pages_newest_first(self, api: FakeAPI) -> None:
        client = sdk(api)
        ids = [client.messages.batches.create(requests=requests(1)).id for _ in range(5)]  # type: ignore[arg-type]
        page = client.messages.batches.list(limit=2)
        assert [b.id for b in page.data] == ids[::-1][:2] and page.has_more
        assert [b.id for b in client.messages.batches.list(limit=2)] == ids[::-1]  # auto-pagination via after_id

    def test_invalid_creates(self, api: FakeAPI) -> None:
        client = sdk(api)
        with pytest.raises(anthropic.BadRequestError, match="duplicate custom_id"):
            client.messages.batches.create(requests=requests(1) + requests(1))  # type: ignore[arg-type]

    async def test_async_round_trip(self, api: FakeAPI) -> None:
        client = async_sdk(api)
        batch = await client.messages.batches.create(requests=requests(2))  # type: ignore[arg-type]
        assert (await client.messages.batches.retrieve(batch.id)).processing_status == "ended"
        rows = [r async for r in await client.messages.batches.results(batch.id)]
        assert sorted(r.custom_id for r in rows) == ["req-0", "req-1"]
