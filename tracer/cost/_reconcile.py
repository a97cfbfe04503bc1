"""Reconciliation: what claude-tracer recorded against what Anthropic reports, per day x model x workspace.

Anthropic's side comes from the Admin API: the usage report (`GET /v1/organizations/usage_report/messages`, tokens
grouped by model and workspace) and the cost report (`GET /v1/organizations/cost_report`, cents grouped by workspace
and description). Ours comes from the store's `calls` (read through `tracer.read.Store`), split by model with each
call's priced iterations (`calls.cost_iterations`), its workspace the call's `workspace` tag (none: the default
workspace, which the reports give as null).

`fetch_reports` pages through both reports (following `next_page`, retrying a 429 after its `retry-after`), with
an admin key it is handed and never logs or keeps; `reconcile` is pure; `reconciliation` puts them together for
`tracer reconcile` and a dashboard page.

>>> theirs = {("2026-11-28", "claude-haiku-4-5", None): Totals(tokens=120, usd=Decimal("0.0012"))}
>>> ours = {("2026-11-28", "claude-haiku-4-5", None): Totals(tokens=100, usd=Decimal("0.001"), calls=1)}
>>> (row,) = reconcile(ours, theirs)
>>> (row.diff_usd, row.unexplained_usd, row.note)
(Decimal('0.0002'), Decimal('0.0002'), 'more than claude-tracer recorded (an uninstrumented process?)')
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"
ENV_ADMIN_KEY = "ANTHROPIC_ADMIN_API_KEY"
CODE_EXECUTION = "(code execution)"
WORKSPACE_TAG = "workspace"
_CENT = Decimal("0.01")

Key = tuple[str, str, str | None]  # (UTC day, canonical model, workspace id or None for the default)


@dataclass
class Totals:
    tokens: int = 0
    usd: Decimal = field(default_factory=Decimal)
    calls: int = 0
    unpriced: int = 0  # our calls with no price (their cost is unknown here, not zero)


@dataclass(frozen=True)
class Row:
    day: str
    model: str
    workspace: str | None
    our_tokens: int
    their_tokens: int
    our_usd: Decimal
    their_usd: Decimal
    diff_usd: Decimal  # theirs - ours
    unexplained_usd: Decimal  # the part of diff no known cause accounts for
    note: str


class AdminAPIError(Exception):
    """The Admin API answered with an error (the message never contains the key)."""


def reconcile(ours: Mapping[Key, Totals], theirs: Mapping[Key, Totals]) -> list[Row]:
    """One row per key seen on either side, sorted. A difference is explained by code execution (only Anthropic
    reports it) or by our unpriced calls; what remains is unexplained: calls claude-tracer did not see."""
    rows = []
    for key in sorted(set(ours) | set(theirs), key=lambda k: (k[0], k[1], k[2] or "")):
        mine, reported = ours.get(key, Totals()), theirs.get(key, Totals())
        diff = reported.usd - mine.usd
        if key[1] == CODE_EXECUTION:
            note, unexplained = "code execution: billed per container-hour, only Anthropic's report has it", Decimal(0)
        elif mine.unpriced:
            note, unexplained = f"{mine.unpriced} call(s) recorded without a price (unpriced model or mode)", Decimal(0)
        elif diff == 0 and reported.tokens == mine.tokens:
            note, unexplained = "", Decimal(0)
        elif mine.calls == 0:
            note, unexplained = "not recorded by claude-tracer (an uninstrumented process?)", diff
        else:
            note, unexplained = "more than claude-tracer recorded (an uninstrumented process?)", diff
        rows.append(
            Row(key[0], key[1], key[2], mine.tokens, reported.tokens, mine.usd, reported.usd, diff, unexplained, note)
        )
    return rows


def ours_from_calls(rows: Iterable[tuple[Any, ...]], resolve: Callable[[str], str | None]) -> dict[Key, Totals]:
    """Our totals from `calls` rows (start_time, model, response_model, tags, cost_usd, unpriced, cost_iterations,
    input_tokens, cache_read_tokens, cache_write_tokens, output_tokens)."""
    out: dict[Key, Totals] = defaultdict(Totals)
    for start, model, response_model, tags, cost, unpriced, iterations, inp, cr, cw, outp in rows:
        day = _day(start)
        workspace = _workspace(tags)
        lines = _lines(iterations)
        if lines:
            for line in lines:
                if not line.get("billed"):
                    continue
                name = resolve(str(line.get("model") or "")) or str(line.get("model"))
                t = out[(day, name, workspace)]
                t.tokens += sum(int(line.get(k) or 0) for k in ("in", "cw5m", "cw1h", "cr", "out"))
                t.calls += 1
                if line.get("usd") is None:
                    t.unpriced += 1
                else:
                    t.usd += Decimal(str(line["usd"]))
            continue
        name = str(response_model or model or "")
        t = out[(day, resolve(name) or name, workspace)]
        t.calls += 1
        t.tokens += sum(int(v or 0) for v in (inp, cr, cw, outp))
        if unpriced or cost is None:
            t.unpriced += 1 if unpriced else 0
        else:
            t.usd += Decimal(str(cost))
    return dict(out)


def theirs_from_reports(
    usage_pages: Iterable[Mapping[str, Any]], cost_pages: Iterable[Mapping[str, Any]], resolve: Callable[[str], str | None]
) -> dict[Key, Totals]:
    """Anthropic's totals: tokens from the usage report, USD (from cents) from the cost report."""
    out: dict[Key, Totals] = defaultdict(Totals)
    for page in usage_pages:
        for bucket in page.get("data", []):
            day = str(bucket["starting_at"])[:10]
            for r in bucket.get("results", []):
                name = str(r.get("model") or "")
                creation = r.get("cache_creation") or {}
                tokens = (
                    int(r.get("uncached_input_tokens") or 0)
                    + int(creation.get("ephemeral_5m_input_tokens") or 0)
                    + int(creation.get("ephemeral_1h_input_tokens") or 0)
                    + int(r.get("cache_read_input_tokens") or 0)
                    + int(r.get("output_tokens") or 0)
                )
                out[(day, resolve(name) or name, r.get("workspace_id"))].tokens += tokens
    for page in cost_pages:
        for bucket in page.get("data", []):
            day = str(bucket["starting_at"])[:10]
            for r in bucket.get("results", []):
                if r.get("cost_type") == "code_execution":
                    name = CODE_EXECUTION
                else:
                    raw = str(r.get("model") or "")
                    name = resolve(raw) or raw
                out[(day, name, r.get("workspace_id"))].usd += Decimal(str(r.get("amount") or "0")) * _CENT
    return dict(out)


def _day(value: Any) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.date().isoformat()
    return str(value)[:10]


def _workspace(tags: Any) -> str | None:
    items: Iterable[Any]
    if isinstance(tags, Mapping):
        items = tags.items()
    elif isinstance(tags, list | tuple):
        items = tags  # DuckDB may hand a MAP over as key/value pairs
    else:
        return None
    for key, value in items:
        if key in (WORKSPACE_TAG, f"tracer.tag.{WORKSPACE_TAG}"):
            return str(value)
    return None


def _lines(iterations: Any) -> list[dict[str, Any]]:
    if not isinstance(iterations, str) or not iterations:
        return []
    try:
        rows = json.loads(iterations)
    except ValueError:
        return []
    return [r for r in rows if isinstance(r, dict) and r.get("kind") != "more"] if isinstance(rows, list) else []


# -- the Admin API --------------------------------------------------------------------------------------------


def fetch_pages(
    base_url: str,
    path: str,
    params: list[tuple[str, str]],
    admin_key: str,
    *,
    headers: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_retries: int = 5,
    timeout: float = 30.0,
) -> Iterator[dict[str, Any]]:
    """Every page of one report: follows `next_page` while `has_more`; a 429 (or 529) is retried after its
    `retry-after` seconds (1 s when absent), up to `max_retries` times. The key goes in `x-api-key` only."""
    page: str | None = None
    while True:
        query = list(params) + ([("page", page)] if page else [])
        url = f"{base_url.rstrip('/')}{path}?{urllib.parse.urlencode(query)}"
        request = urllib.request.Request(
            url, headers={"x-api-key": admin_key, "anthropic-version": "2023-06-01", **(headers or {})}
        )
        body = _get(request, sleep=sleep, max_retries=max_retries, timeout=timeout)
        yield body
        if not body.get("has_more") or not body.get("next_page"):
            return
        page = str(body["next_page"])


def _get(request: urllib.request.Request, *, sleep: Callable[[float], None], max_retries: int, timeout: float) -> Any:
    for attempt in range(max_retries + 1):
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code in (429, 529) and attempt < max_retries:
                sleep(_retry_after(exc.headers))
                continue
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise AdminAPIError(f"{exc.code} from {request.full_url.split('?')[0]}: {detail}") from None
    raise AdminAPIError("gave up after retries")  # pragma: no cover - the loop returns or raises


def _retry_after(headers: Any) -> float:
    try:
        return max(0.0, float(headers.get("retry-after") or 1))
    except (TypeError, ValueError):
        return 1.0


def fetch_reports(
    base_url: str, admin_key: str, start: dt.datetime, end: dt.datetime, **options: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both reports for [start, end), daily buckets, grouped as reconciliation needs."""
    window = [("starting_at", _rfc3339(start)), ("ending_at", _rfc3339(end)), ("bucket_width", "1d"), ("limit", "7")]
    usage = list(
        fetch_pages(base_url, USAGE_PATH, [*window, ("group_by[]", "model"), ("group_by[]", "workspace_id")],
                    admin_key, **options)
    )
    cost = list(
        fetch_pages(base_url, COST_PATH, [*window, ("group_by[]", "workspace_id"), ("group_by[]", "description")],
                    admin_key, **options)
    )
    return usage, cost


def _rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reconciliation(
    store: Any, *, since: dt.timedelta, base_url: str, admin_key: str, now: dt.datetime | None = None,
    **options: Any,
) -> list[Row]:
    """The rows of `tracer reconcile`: the store's calls since `now - since` (whole UTC days) against Anthropic's
    reports for the same days. `store` is a `tracer.read.Store`. The data function a dashboard page can call."""
    from tracer.cost import resolve_model

    now = now or dt.datetime.now(dt.UTC)
    start = dt.datetime.combine((now - since).date(), dt.time(), dt.UTC)
    end = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), dt.UTC)
    calls = store.rows(
        "SELECT start_time, model, response_model, tags, cost_usd, unpriced, cost_iterations, input_tokens, "
        "cache_read_tokens, cache_write_tokens, output_tokens FROM calls "
        "WHERE start_time >= ? AND start_time < ? AND operation = 'chat'",
        [start, end],
    )
    usage, cost = fetch_reports(base_url, admin_key, start, end, **options)
    return reconcile(ours_from_calls(calls, resolve_model), theirs_from_reports(usage, cost, resolve_model))
