"""What the fake API billed, and the Admin API reports of it: the usage report
(`GET /v1/organizations/usage_report/messages`) and the cost report (`GET /v1/organizations/cost_report`).

Every answered Messages call is booked per iteration (model, workspace, tier, geography, tokens) and priced with the
same rules claude-tracer applies (`tracer.cost.price_iterations`): the fake is Anthropic's side of a reconciliation,
so a call it answered while nothing was watching shows up in these reports and nowhere else. The workspace is the
`x-fake-workspace` request header (none: the default workspace, reported as `null`, as the API does).

Report shapes follow platform.claude.com/docs/en/api/admin/cost_report and /usage_report (read 2026-11-29): daily
buckets `{starting_at, ending_at, results}`, `has_more` / `next_page`, `limit` buckets a page, the cost `amount` in
cents as a decimal string.
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

_KEEP = 200_000


@dataclass(frozen=True, slots=True)
class Booking:
    time: float  # epoch seconds
    model: str
    workspace: str | None
    service_tier: str
    inference_geo: str | None
    tokens: dict[str, int]  # input, cache_write_5m, cache_write_1h, cache_read, output
    web_search: int
    usd: Decimal  # what this iteration costs (0 when not billed)


class Ledger:
    """Bookings of answered calls (thread-safe), and the two reports over them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # the latest calls answered (a long-running server keeps a bounded history, as it does of requests)
        self._calls: deque[tuple[Any, ...]] = deque(maxlen=_KEEP)
        self._seen: dict[str, int] = defaultdict(int)  # admin URL -> times asked (for x-fake-script)

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()
            self._seen.clear()

    def attempt(self, url: str) -> int:
        """How many times this admin URL was asked before: its attempt number for `x-fake-script`."""
        with self._lock:
            n = self._seen[url]
            self._seen[url] = n + 1
            return n

    def record(
        self, headers: dict[str, str], model: str, usage: dict[str, Any], stop_reason: str | None = None,
        category: str | None = None, fallback_blocks: tuple[tuple[str, str | None], ...] = (),
    ) -> None:  # fmt: skip
        """Book one answered call, priced only when a report asks (the server's answer must not wait for it).
        `category` is a refusal's `stop_details.category`; `fallback_blocks` the (from model, category) of each
        `fallback` content block."""
        entry = (time.time(), headers.get("x-fake-workspace"), model, usage, stop_reason, category, fallback_blocks)
        with self._lock:
            self._calls.append(entry)

    @property
    def bookings(self) -> list[Booking]:
        """Every booked iteration, priced: one per iteration of each answered call (or one for a call without)."""
        with self._lock:
            calls = list(self._calls)
        return [booking for entry in calls for booking in _priced(*entry)]

    # -- reports ---------------------------------------------------------------------------------------------

    def _days(self, query: dict[str, list[str]]) -> list[dt.date]:
        start = _parse_time(query.get("starting_at", [""])[0])
        end = _parse_time(query.get("ending_at", [""])[0]) if query.get("ending_at") else None
        if start is None:
            raise ValueError("starting_at: Field required")
        first = start.date()
        last = (end - dt.timedelta(microseconds=1)).date() if end is not None else dt.datetime.now(dt.UTC).date()
        return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]

    def _page(self, query: dict[str, list[str]], build: Any) -> dict[str, Any]:
        days = self._days(query)
        limit = int(query.get("limit", ["7"])[0])
        page = query.get("page", [None])[0]
        offset = int(base64.urlsafe_b64decode(page.encode()).decode()) if page else 0
        chosen = days[offset : offset + limit]
        bookings = self.bookings
        data = []
        for day in chosen:
            start = dt.datetime.combine(day, dt.time(), dt.UTC)
            end = start + dt.timedelta(days=1)
            todays = [b for b in bookings if start.timestamp() <= b.time < end.timestamp()]
            data.append({"starting_at": _iso(start), "ending_at": _iso(end), "results": build(todays)})
        more = offset + limit < len(days)
        next_page = base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if more else None
        return {"data": data, "has_more": more, "next_page": next_page}

    def usage_report(self, query: dict[str, list[str]]) -> dict[str, Any]:
        groups = set(query.get("group_by[]", []))

        def build(bookings: list[Booking]) -> list[dict[str, Any]]:
            sums: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for b in bookings:
                key = (
                    b.model if "model" in groups else None,
                    b.workspace if "workspace_id" in groups else None,
                    b.service_tier if "service_tier" in groups else None,
                    b.inference_geo if "inference_geo" in groups else None,
                )
                row = sums[key]
                for name, value in b.tokens.items():
                    row[name] += value
                row["web_search"] += b.web_search
            return [
                {
                    "model": key[0],
                    "workspace_id": key[1],
                    "service_tier": key[2],
                    "inference_geo": key[3],
                    "api_key_id": None,
                    "context_window": None,
                    "uncached_input_tokens": row["input"],
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": row["cache_write_5m"],
                        "ephemeral_1h_input_tokens": row["cache_write_1h"],
                    },
                    "cache_read_input_tokens": row["cache_read"],
                    "output_tokens": row["output"],
                    "server_tool_use": {"web_search_requests": row["web_search"]},
                }
                for key, row in sorted(sums.items(), key=lambda kv: tuple(str(k) for k in kv[0]))
            ]

        return self._page(query, build)

    def cost_report(self, query: dict[str, list[str]]) -> dict[str, Any]:
        groups = set(query.get("group_by[]", []))
        by_description = "description" in groups

        def build(bookings: list[Booking]) -> list[dict[str, Any]]:
            cents: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
            for b in bookings:
                workspace = b.workspace if "workspace_id" in groups else None
                if not by_description:
                    cents[(workspace, None, None, None)] += b.usd * 100
                    continue
                # The whole iteration's cost goes on its model's token line (the split across token types is not
                # needed to reconcile per model, and keeps every cent exact).
                cents[(workspace, b.model, b.service_tier, "tokens")] += b.usd * 100
            out = []
            for (workspace, model, tier, cost_type), amount in sorted(cents.items(), key=lambda kv: str(kv[0])):
                out.append(
                    {
                        "currency": "USD",
                        "amount": str(amount.normalize()) if amount else "0",
                        "workspace_id": workspace,
                        "description": f"{model} Usage" if model else None,
                        "cost_type": cost_type,
                        "context_window": None,
                        "model": model,
                        "service_tier": tier,
                        "token_type": None,
                        "inference_geo": None,
                    }
                )
            return out

        return self._page(query, build)


def _priced(
    at: float, workspace: str | None, model: str, usage: dict[str, Any], stop_reason: str | None,
    category: str | None, fallback_blocks: tuple[tuple[str, str | None], ...],
) -> list[Booking]:  # fmt: skip
    """One booked call's iterations, each priced as Anthropic bills it (unbilled refusals at 0 tokens and $0)."""
    from tracer.cost import default_table
    from tracer.cost._billed import Iteration, counts_of, iterations_from, iterations_of, price_iterations

    tier = usage.get("service_tier") or "standard"
    geo = usage.get("inference_geo")
    top = counts_of(usage, tier, geo, usage.get("speed"))
    rows = usage.get("iterations")
    if rows:
        iterations = iterations_of(iterations_from(rows, fallback_blocks), top)
    else:
        refusal = (category or "null") if stop_reason == "refusal" else None
        iterations = [Iteration("message", model, top, refusal)]
    table = default_table()
    day = dt.datetime.fromtimestamp(at, dt.UTC).date()  # the refusal rules of the day it was answered
    bill = price_iterations(table, iterations, default_model=model, refusal_rules=table.refusal_rules, day=day)
    server = usage.get("server_tool_use") or {}
    web = server.get("web_search_requests") or 0 if isinstance(server, dict) else 0
    out = []
    for i, line in enumerate(bill.lines):
        c = line.counts
        billed = line.billed
        tokens = {
            "input": c.input if billed else 0,
            "cache_write_5m": c.cache_write_5m if billed else 0,
            "cache_write_1h": c.cache_write_1h if billed else 0,
            "cache_read": c.cache_read if billed else 0,
            "output": c.output if billed else 0,
        }
        usd = line.usd if (billed and line.usd is not None) else Decimal(0)
        out.append(
            Booking(at, line.model, workspace, tier, geo, tokens, web if i == len(bill.lines) - 1 else 0, usd)
        )
    return out


def _parse_time(text: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an RFC 3339 time: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
