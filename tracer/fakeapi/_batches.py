"""Message Batches: create, retrieve, list, cancel, delete, and results as JSONL, enough for the SDK to round-trip.

A batch is `in_progress` when created and ends, all at once, the first time it is retrieved, listed or its results
read after its processing time (about a second plus 10 ms a request, times the latency scale: at scale 0, the next
retrieve). A batch cancelled before that is `canceling`, then `ended` with every request `canceled`. Each request's params are validated when the
batch is processed, as the real API does: a bad one becomes an `errored` result, not a failed create.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tracer.fakeapi._errors import ApiError, invalid
from tracer.fakeapi._generate import make_id

_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_REQUESTS = 100_000

ResultFn = Callable[[Any, random.Random], dict[str, Any]]


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class _Batch:
    id: str
    requests: list[tuple[str, Any]]
    created_at: dt.datetime
    ready_at: float
    status: str = "in_progress"
    cancel_initiated_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    results: list[dict[str, Any]] = field(default_factory=list)


class BatchStore:
    """The batches of one server; thread-safe."""

    def __init__(self, result: ResultFn, *, seed: int, latency_scale: float, clock: Callable[[], float]) -> None:
        self._result = result
        self._seed = seed
        self._scale = latency_scale
        self._clock = clock
        self._lock = threading.Lock()
        self._batches: dict[str, _Batch] = {}  # in creation order
        self._count = 0

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()
            self._count = 0

    def create(self, body: dict[str, Any], base: str) -> dict[str, Any]:
        requests = body.get("requests")
        if requests is None:
            raise invalid("requests: Field required")
        if not isinstance(requests, list) or not requests:
            raise invalid("requests: List should have at least 1 item")
        if len(requests) > MAX_REQUESTS:
            raise invalid(f"requests: List should have at most {MAX_REQUESTS} items")
        seen: set[str] = set()
        parsed: list[tuple[str, Any]] = []
        for i, item in enumerate(requests):
            if not isinstance(item, dict):
                raise invalid(f"requests.{i}: Input should be a valid dictionary")
            custom_id = item.get("custom_id")
            if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
                raise invalid(f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
            if custom_id in seen:
                raise invalid(f"requests.{i}.custom_id: duplicate custom_id {custom_id!r}")
            if "params" not in item:
                raise invalid(f"requests.{i}.params: Field required")
            seen.add(custom_id)
            parsed.append((custom_id, item["params"]))
        with self._lock:
            self._count += 1
            batch_id = make_id("msgbatch", random.Random(f"{self._seed}:batch:{self._count}"))
            batch = _Batch(
                batch_id,
                parsed,
                dt.datetime.now(dt.UTC),
                self._clock() + self._scale * (1.0 + 0.01 * len(parsed)),
            )
            self._batches[batch_id] = batch
            return self._view(batch, base)

    def _find(self, batch_id: str) -> _Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise ApiError(404, f"message_batch: {batch_id} not found")
        return batch

    def _advance(self, batch: _Batch) -> None:
        if batch.status == "ended":
            return
        if batch.status == "canceling":
            batch.results = [{"custom_id": cid, "result": {"type": "canceled"}} for cid, _ in batch.requests]
        elif self._clock() >= batch.ready_at:
            batch.results = [
                {"custom_id": cid, "result": self._result(params, self._rng(cid, params))}
                for cid, params in batch.requests
            ]
        else:
            return
        batch.status = "ended"
        batch.ended_at = dt.datetime.now(dt.UTC)

    def _rng(self, custom_id: str, params: Any) -> random.Random:
        key = json.dumps([self._seed, custom_id, params], sort_keys=True, default=str).encode()
        return random.Random(int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big"))

    def _view(self, batch: _Batch, base: str) -> dict[str, Any]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if batch.status == "ended":
            for row in batch.results:
                counts[row["result"]["type"]] += 1
        else:
            counts["processing"] = len(batch.requests)
        ended = batch.status == "ended"
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": batch.status,
            "request_counts": counts,
            "created_at": _iso(batch.created_at),
            "expires_at": _iso(batch.created_at + dt.timedelta(hours=24)),
            "ended_at": _iso(batch.ended_at) if batch.ended_at else None,
            "cancel_initiated_at": _iso(batch.cancel_initiated_at) if batch.cancel_initiated_at else None,
            "archived_at": None,
            "results_url": f"{base}/v1/messages/batches/{batch.id}/results" if ended else None,
        }

    def get(self, batch_id: str, base: str) -> dict[str, Any]:
        with self._lock:
            batch = self._find(batch_id)
            self._advance(batch)
            return self._view(batch, base)

    def list(self, params: dict[str, str], base: str) -> dict[str, Any]:
        try:
            limit = int(params.get("limit", "20"))
        except ValueError:
            raise invalid("limit: Input should be a valid integer") from None
        if not 1 <= limit <= 1000:
            raise invalid("limit: Input should be between 1 and 1000")
        with self._lock:
            ordered = list(reversed(self._batches.values()))  # the API lists the most recent first
            ids = [b.id for b in ordered]
            if params.get("after_id"):
                start = ids.index(params["after_id"]) + 1 if params["after_id"] in ids else len(ids)
                chosen = ordered[start : start + limit]
                has_more = start + limit < len(ordered)
            elif params.get("before_id"):
                end = ids.index(params["before_id"]) if params["before_id"] in ids else 0
                chosen = ordered[max(0, end - limit) : end]
                has_more = end - limit > 0
            else:
                chosen = ordered[:limit]
                has_more = limit < len(ordered)
            for batch in chosen:
                self._advance(batch)
            data = [self._view(b, base) for b in chosen]
        return {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }

    def cancel(self, batch_id: str, base: str) -> dict[str, Any]:
        with self._lock:
            batch = self._find(batch_id)
            # no _advance first: a batch nobody has looked at since it was created can still be cancelled (at
            # latency scale 0 it would otherwise always have ended already)
            if batch.status == "in_progress":
                batch.status = "canceling"
                batch.cancel_initiated_at = dt.datetime.now(dt.UTC)
            return self._view(batch, base)

    def delete(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            batch = self._find(batch_id)
            self._advance(batch)
            if batch.status != "ended":
                raise invalid(f"Message Batch {batch_id} cannot be deleted while it is processing; cancel it first.")
            del self._batches[batch_id]
        return {"id": batch_id, "type": "message_batch_deleted"}

    def results(self, batch_id: str) -> bytes:
        with self._lock:
            batch = self._find(batch_id)
            self._advance(batch)
            if batch.status != "ended":
                raise invalid(f"Message Batch {batch_id} has not finished processing; its results are not available.")
            rows = list(batch.results)
        return b"".join(json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in rows)
