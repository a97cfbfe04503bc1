"""Synthetic calls, attempts and events written as real store segments, fast (vectorised numpy + pyarrow).

For the dashboard's tests and benchmarks/store.py (10,000,000 calls in well under a minute):

>>> from tracer.read.synthetic import write_synthetic
>>> write_synthetic("/tmp/store", 100_000, seed=1)          # doctest: +SKIP
{'calls': 100000, 'attempts': 108..., 'events': ..., 'spans': ...}

The data is shaped like real traffic: a mix of models with their own latency and token sizes, one unpriced
model (cost NULL, never 0), streaming calls with a time to first token, retries after 429/529/5xx with the
attempts of a call consistent with it (same trace, `call_span_id` = the call's span id, attempt 0..n-1, the
call's duration covering its attempts), prompt caching, tags, two services, rate-limit headroom, breaker and
budget events, and agent runs with their tool executions and conversations (`_agent_runs`). The same arguments always give the same data.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from tracer._derived import attempt_outcome, cache_read_saving, cache_write_premium, output_tokens_per_s
from tracer.read._segments import write_segment
from tracer.store.schema import TABLES, TIME_COLUMN

# (model, share, median latency ms, USD per Mtok input, output, cache read, cache write; None = unpriced)
MODELS: tuple[tuple[str, float, float, float | None, float | None], ...] = (
    ("claude-sonnet-4-5", 0.40, 2400.0, 3.0, 15.0),
    ("claude-haiku-4-5", 0.28, 800.0, 1.0, 5.0),
    ("claude-opus-4-5", 0.14, 5200.0, 5.0, 25.0),
    ("claude-sonnet-4-6", 0.10, 2100.0, 3.0, 15.0),
    ("claude-opus-4-7", 0.06, 4800.0, 5.0, 25.0),
    ("claude-internal-preview", 0.02, 3000.0, None, None),
)
SERVICES = ("search-api", "chat-worker", "nightly-batch")
FEATURES = ("search", "summarise", "chat", "classify")
CUSTOMERS = ("acme", "globex", "initech", "umbrella", "hooli")
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_US_PER_DAY = 86_400_000_000


def _hex_ids(rng: np.random.Generator, n: int, nbytes: int) -> pa.Array:
    raw = rng.integers(0, 256, size=(n, nbytes), dtype=np.uint8)
    chars = np.empty((n, nbytes * 2), dtype=np.uint8)
    chars[:, 0::2] = _HEX[raw >> 4]
    chars[:, 1::2] = _HEX[raw & 15]
    offsets = np.arange(0, (n + 1) * nbytes * 2, nbytes * 2, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def _dict_strings(codes: np.ndarray, values: tuple[str, ...] | list[str]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(list(values))).cast(pa.string())


def _nullable(values: np.ndarray, mask_null: np.ndarray, type_: pa.DataType) -> pa.Array:
    return pa.array(values, type=type_, mask=mask_null)


def _tags(rng: np.random.Generator, n: int) -> pa.Array:
    # 0, 1 or 2 tags per call: feature (85 %) and customer (60 %).
    has_feature = rng.random(n) < 0.85
    has_customer = rng.random(n) < 0.60
    feature = rng.integers(0, len(FEATURES), n)
    customer = rng.integers(0, len(CUSTOMERS), n)
    counts = has_feature.astype(np.int32) + has_customer.astype(np.int32)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    total = int(offsets[-1])
    keys_codes = np.empty(total, dtype=np.int32)
    value_codes = np.empty(total, dtype=np.int32)
    first = offsets[:-1]
    # feature first (when present), then customer
    keys_codes[first[has_feature]] = 0
    value_codes[first[has_feature]] = feature[has_feature]
    cust_pos = first[has_customer] + has_feature[has_customer].astype(np.int32)
    keys_codes[cust_pos] = 1
    value_codes[cust_pos] = len(FEATURES) + customer[has_customer]
    keys = _dict_strings(keys_codes, ["feature", "customer"])
    items = _dict_strings(value_codes, list(FEATURES) + list(CUSTOMERS))
    return pa.MapArray.from_arrays(pa.array(offsets), keys, items, type=TABLES["calls"].field("tags").type)


def generate(n_calls: int, *, seed: int = 0, end: dt.datetime | None = None, days: float = 7.0) -> dict[str, pa.Table]:
    """The four tables for `n_calls` calls spread over `days` before `end` (default: now), sorted by time."""
    rng = np.random.default_rng(seed)
    n = int(n_calls)
    end = end or dt.datetime.now(dt.UTC)
    end_us = int(end.timestamp() * 1e6)
    span_us = int(days * _US_PER_DAY)

    shares = np.array([m[1] for m in MODELS])
    model = rng.choice(len(MODELS), size=n, p=shares / shares.sum())
    start = np.sort(end_us - rng.integers(0, span_us, n)).astype(np.int64)
    median = np.array([m[2] for m in MODELS])[model]
    streaming = rng.random(n) < 0.45
    output_tokens = np.maximum(1, rng.lognormal(np.log(350), 0.9, n)).astype(np.int64)
    input_tokens = np.maximum(1, rng.lognormal(np.log(900), 1.1, n)).astype(np.int64)
    cached = rng.random(n) < 0.35
    cache_read = np.where(cached, rng.lognormal(np.log(4000), 0.8, n), 0).astype(np.int64)
    writes = rng.random(n) < 0.08
    cache_write = np.where(writes, rng.lognormal(np.log(3000), 0.8, n), 0).astype(np.int64)
    cache_write_1h = np.where(writes & (rng.random(n) < 0.3), cache_write, 0).astype(np.int64)
    thinking = np.where(rng.random(n) < 0.2, (output_tokens * rng.uniform(0.2, 0.7, n)).astype(np.int64), 0)

    # Attempts: most calls succeed first time; retries follow 429 / 529 / 500 / timeouts.
    r = rng.random(n)
    n_attempts = np.where(r < 0.90, 1, np.where(r < 0.97, 2, np.where(r < 0.995, 3, 4))).astype(np.int32)
    final_fail = rng.random(n) < 0.012
    final_status = np.where(final_fail, rng.choice(np.array([429, 529, 500, 400]), n), 200).astype(np.int32)
    timed_out = final_fail & (rng.random(n) < 0.2)
    error = final_fail
    error_type = np.where(timed_out, "timeout", final_status.astype(str))
    ttft = np.where(streaming, median * rng.uniform(0.08, 0.3, n), np.nan)
    attempt_ms = median * rng.lognormal(0.0, 0.35, n)
    backoff_ms = rng.uniform(400, 2500, n)
    duration = attempt_ms + (n_attempts - 1) * (backoff_ms + rng.uniform(5, 80, n))

    in_price = np.array([np.nan if m[3] is None else m[3] for m in MODELS])[model] / 1e6
    out_price = np.array([np.nan if m[4] is None else m[4] for m in MODELS])[model] / 1e6
    cost = (
        input_tokens * in_price
        + output_tokens * out_price
        + cache_read * in_price * 0.1
        + cache_write * in_price * 1.25
    )
    cost = np.where(error & (final_status != 200), 0.0, cost)
    unpriced = np.isnan(cost)
    # What capture records for a priced call with cache tokens, at the prices its cost used (every write at 1.25x).
    no_cache_figures = unpriced | (error & (final_status != 200)) | ((cache_read == 0) & (cache_write == 0))
    read_saved = cache_read_saving(cache_read, in_price, in_price * 0.1)
    write_premium = cache_write_premium(cache_write, 0, in_price, in_price * 1.25, 0.0)
    cost_scaled = np.round(np.nan_to_num(cost) * 1e12).astype(np.int64)

    cost_arr = _scale_cost(cost_scaled, unpriced)

    trace_ids = _hex_ids(rng, n, 16)
    span_ids = _hex_ids(rng, n, 8)
    service = rng.choice(len(SERVICES), size=n, p=[0.55, 0.35, 0.10])
    model_names = [m[0] for m in MODELS]
    ok = ~error
    calls = pa.Table.from_pydict(
        {
            "trace_id": trace_ids,
            "span_id": span_ids,
            "start_time": pa.array(start, type=TABLES["calls"].field("start_time").type),
            "duration_ms": duration,
            "operation": _dict_strings(np.zeros(n, np.int32), ["chat"]),
            "model": _dict_strings(model, model_names),
            "response_model": _dict_strings(model, model_names),
            "streaming": streaming,
            "status": _dict_strings(error.astype(np.int32), ["ok", "error"]),
            "error_type": pa.array(error_type, type=pa.string(), mask=~error),
            "http_status": final_status,
            "attempts": n_attempts,
            "input_tokens": _nullable(input_tokens, ~ok & (final_status != 200), pa.int64()),
            "cache_read_tokens": cache_read,
            "cache_write_tokens": cache_write,
            "cache_write_1h_tokens": cache_write_1h,
            "output_tokens": _nullable(output_tokens, ~ok, pa.int64()),
            "thinking_tokens": thinking,
            "ttft_ms": _nullable(np.nan_to_num(ttft), ~streaming | error, pa.float64()),
            "cost_usd": cost_arr,
            "service_name": _dict_strings(service, list(SERVICES)),
            "tags": _tags(rng, n),
            "unpriced": unpriced,
            "source": _dict_strings(np.zeros(n, np.int32), ["anthropic"]),
            "stop_reason": pa.array(np.where(ok, "end_turn", ""), mask=~ok),
            "output_tokens_per_s": _speeds(output_tokens, duration, ttft, streaming, ok),
            "cache_read_saved_usd": _nullable(np.nan_to_num(read_saved), no_cache_figures, pa.float64()),
            "cache_write_premium_usd": _nullable(np.nan_to_num(write_premium), no_cache_figures, pa.float64()),
        }
    )
    runs = _agent_runs(rng, start, duration, trace_ids, span_ids, service, error)
    calls = calls.append_column("parent_span_id", runs.pop("call_parent"))
    for name in ("conversation_id", "tool_use_count", "tool_names"):
        calls = calls.append_column(name, runs.pop(name))
    trace_ids = runs.pop("call_trace_ids")
    calls = calls.set_column(calls.schema.get_field_index("trace_id"), "trace_id", trace_ids)
    calls = _conform(calls, "calls")

    # One row per attempt: attempt k of call i starts at its call's start plus k * (attempt + backoff).
    call_idx = np.repeat(np.arange(n), n_attempts)
    first_of_call = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_attempts, out=first_of_call[1:])
    attempt_no = (np.arange(len(call_idx)) - first_of_call[call_idx]).astype(np.int32)
    last = attempt_no == n_attempts[call_idx] - 1
    m = len(call_idx)
    retry_status = rng.choice(np.array([429, 429, 429, 529, 529, 500, 0]), m).astype(np.int32)
    status = np.where(last, final_status[call_idx], retry_status)
    a_error_type = np.where(status == 0, "timeout", np.where(status == 200, "", status.astype(str)))
    a_start = start[call_idx] + (attempt_no * (attempt_ms[call_idx] + backoff_ms[call_idx]) * 1000).astype(np.int64)
    a_duration = np.where(last, attempt_ms[call_idx], rng.uniform(5, 80, m))
    rl_limit = np.array([4000, 4000, 2000, 4000, 2000, 1000])[model[call_idx]]
    phase = ((a_start // 60_000_000) % 60) / 60.0
    rl_remaining = (
        rl_limit * np.clip(0.9 - 0.8 * np.abs(np.sin(phase * np.pi)) + rng.normal(0, 0.05, m), 0, 1)
    ).astype(np.int64)
    tok_remaining = rl_remaining * 400
    retry_after = np.where((status == 429) & ~last, rng.uniform(0.5, 8.0, m), np.nan)
    attempts = pa.Table.from_pydict(
        {
            "trace_id": trace_ids.take(pa.array(call_idx)),
            "span_id": _hex_ids(rng, m, 8),
            "call_span_id": span_ids.take(pa.array(call_idx)),
            "start_time": pa.array(a_start, type=TABLES["attempts"].field("start_time").type),
            "duration_ms": a_duration,
            "attempt": attempt_no,
            "http_status": pa.array(status, mask=status == 0),
            "error_type": pa.array(a_error_type, mask=a_error_type == ""),
            "retry_after_s": pa.array(np.nan_to_num(retry_after), mask=np.isnan(retry_after)),
            "ratelimit_requests_remaining": pa.array(rl_remaining, mask=status == 0),
            "ratelimit_tokens_remaining": pa.array(tok_remaining, mask=status == 0),
            "request_id": _hex_ids(rng, m, 12),
            "model": _dict_strings(model[call_idx], model_names),
            "ratelimit_requests_limit": rl_limit.astype(np.int64),
            "service_name": _dict_strings(service[call_idx], list(SERVICES)),
            "outcome": _outcomes(status, a_error_type),
        }
    )
    attempts = _conform(attempts, "attempts").sort_by("start_time")

    # Breaker transitions (closed -> open -> half_open -> closed) and budget warnings/trips.
    n_cycles = max(2, n // 20_000)
    breaker_names = model_names[:4]
    t0 = np.sort(end_us - rng.integers(0, span_us, n_cycles))
    which = rng.integers(0, len(breaker_names), n_cycles)
    ev_time = np.concatenate([t0, t0 + 30_000_000, t0 + 31_000_000])
    ev_from: list[str | None] = [*["closed"] * n_cycles, *["open"] * n_cycles, *["half_open"] * n_cycles]
    ev_to: list[str | None] = [*["open"] * n_cycles, *["half_open"] * n_cycles, *["closed"] * n_cycles]
    ev_name = [breaker_names[i] for i in which] * 3
    ev_kind = ["breaker_transition"] * (3 * n_cycles)
    n_budget = max(1, n_cycles // 4)
    b_time = np.sort(end_us - rng.integers(0, span_us, n_budget))
    ev_time = np.concatenate([ev_time, b_time])
    ev_kind += ["budget_warning" if i % 3 else "budget_trip" for i in range(n_budget)]
    ev_name += ["daily-spend"] * n_budget
    ev_from += [None] * n_budget
    ev_to += [None] * n_budget
    attrs_type = TABLES["events"].field("attributes").type
    ev_attrs = [[("reason", "5 consecutive failures")]] * (3 * n_cycles) + [
        [("spent_usd", "412.50"), ("limit_usd", "500")]
    ] * n_budget
    events = pa.Table.from_pydict(
        {
            "time": pa.array(ev_time, type=TABLES["events"].field("time").type),
            "kind": ev_kind,
            "name": ev_name,
            "from_state": pa.array(ev_from, pa.string()),
            "to_state": pa.array(ev_to, pa.string()),
            "attributes": pa.array(ev_attrs, type=attrs_type),
        }
    )
    events = _conform(events, "events").sort_by("time")
    return {"calls": calls, "attempts": attempts, "events": events, "spans": runs["spans"]}


RUN_CALLS = 3  # calls per agent run
TOOLS = ("search_docs", "get_weather", "lookup_order", "run_sql")


def _agent_runs(
    rng: np.random.Generator,
    start: np.ndarray,
    duration: np.ndarray,
    trace_ids: pa.Array,
    span_ids: pa.Array,
    service: np.ndarray,
    error: np.ndarray,
) -> dict[str, Any]:
    """Half the calls in agent runs of `RUN_CALLS` consecutive calls: one trace each, an `agent.run` root, the SDK's
    tool-runner span under it, the calls under that, and a tool execution after each call but the last (asked for
    by that call). One run in four is a conversation (`conv-<n>`), its calls its turns. The other calls stay traces
    of their own. Returns the calls' new columns and the `spans` table."""
    n = len(start)
    idx = np.arange(n)
    group = idx // RUN_CALLS
    in_run = (group % 2 == 0) & (group * RUN_CALLS + RUN_CALLS - 1 < n)
    first = np.where(in_run, group * RUN_CALLS, idx)
    call_trace_ids = trace_ids.take(pa.array(first))
    runs = np.flatnonzero(np.arange(n // RUN_CALLS) % 2 == 0) * RUN_CALLS  # index of each run's first call
    r = len(runs)
    run_of_call = np.where(in_run, group // 2, 0)
    end_us = start + (duration * 1000).astype(np.int64)
    root_start = start[runs] - 5_000
    root_end = end_us[runs[:, None] + np.arange(RUN_CALLS)].max(axis=1) + 5_000
    root_ids, runner_ids = _hex_ids(rng, r, 8), _hex_ids(rng, r, 8)
    call_parent = runner_ids.take(pa.array(run_of_call, mask=~in_run))
    conversation_of = np.char.add("conv-", np.arange(r).astype(str)).astype(object)
    in_conversation = np.arange(r) % 4 == 0
    conv = in_run & in_conversation[run_of_call]
    conversation_id = pa.array(conversation_of[run_of_call], pa.string(), mask=~conv)
    run_error = error[runs[:, None] + np.arange(RUN_CALLS)].any(axis=1)

    # Tool executions: after each call of a run but the last, the tool that call asked for.
    asked = in_run & (idx % RUN_CALLS != RUN_CALLS - 1)
    tool_of_call = rng.integers(0, len(TOOLS), n)
    tool_names = pa.array(np.asarray(TOOLS, dtype=object)[tool_of_call], pa.string(), mask=~asked)
    t_calls = np.flatnonzero(asked)
    m = len(t_calls)
    t_run = run_of_call[t_calls]
    t_tool = np.asarray(TOOLS, dtype=object)[tool_of_call[t_calls]]
    t_error = rng.random(m) < 0.03

    # Roots, tool runners, tools; then sorted by start time, as segments are.
    kind = np.concatenate([np.zeros(r, np.int32), np.ones(r, np.int32), np.full(m, 2, np.int32)])
    run = np.concatenate([np.arange(r), np.arange(r), t_run])
    order = np.argsort(np.concatenate([root_start, root_start + 1_000, end_us[t_calls] + 1_000]), kind="stable")
    kind, run = kind[order], run[order]
    starts = np.concatenate([root_start, root_start + 1_000, end_us[t_calls] + 1_000])[order]
    root_ms = (root_end - root_start) / 1000.0
    durations = np.concatenate([root_ms, root_ms - 2.0, rng.lognormal(np.log(120), 0.8, m)])[order]
    failed = np.concatenate([run_error, run_error, t_error])[order]
    names = np.concatenate([np.full(r, "agent.run", dtype=object), np.full(r, "anthropic.messages.tool_runner", dtype=object),
                            np.char.add("anthropic.custom_tool_use ", t_tool.astype(str)).astype(object)])[order]  # fmt: skip
    take = pa.array(order)
    spans = pa.Table.from_pydict(
        {
            "trace_id": trace_ids.take(pa.array(runs[run])),
            "span_id": pa.concat_arrays([root_ids, runner_ids, _hex_ids(rng, m, 8)]).take(take),
            "parent_span_id": pa.concat_arrays(
                [pa.nulls(r, pa.string()), root_ids, runner_ids.take(pa.array(t_run))]
            ).take(take),
            "start_time": pa.array(starts, type=TABLES["spans"].field("start_time").type),
            "duration_ms": durations,
            "name": pa.array(names, pa.string()),
            "kind": _dict_strings(np.zeros(len(kind), np.int32), ["internal"]),
            # The application leaves its root's status unset; the SDK sets its spans' status.
            "status": _dict_strings(np.where(failed, 1, np.where(kind == 0, 0, 2)), ["unset", "error", "ok"]),
            "operation": pa.array(np.asarray([None, "invoke_agent", "execute_tool"], dtype=object)[kind], pa.string()),
            "tool_name": pa.array(np.concatenate([np.full(2 * r, None, dtype=object), t_tool])[order], pa.string()),
            "conversation_id": pa.array(conversation_of[run], pa.string(), mask=~in_conversation[run]),
            "scope": _dict_strings(np.minimum(kind, 1), ["app", "com.anthropic.sdk.python"]),
            "service_name": _dict_strings(service[runs[run]], list(SERVICES)),
        }
    )
    return {
        "call_trace_ids": call_trace_ids,
        "call_parent": call_parent,
        "conversation_id": conversation_id,
        "tool_use_count": pa.array(np.ones(n, np.int32), mask=~asked),
        "tool_names": tool_names,
        "spans": _conform(spans, "spans"),
    }


def _scale_cost(scaled: np.ndarray, null: np.ndarray) -> pa.Array:
    # Decimal(38,12) from integer picodollars: the 128-bit little-endian value with scale 12.
    n = len(scaled)
    words = np.zeros((n, 2), dtype=np.int64)
    words[:, 0] = scaled
    words[:, 1] = np.where(scaled < 0, -1, 0)
    validity = pa.array(~null).buffers()[1]
    return pa.Array.from_buffers(
        TABLES["calls"].field("cost_usd").type, n, [validity, pa.py_buffer(words.tobytes())], null_count=int(null.sum())
    )


def _speeds(output: np.ndarray, duration_ms: np.ndarray, ttft_ms: np.ndarray, streaming: np.ndarray, ok: np.ndarray) -> pa.Array:
    """Each call's output tokens per second, as capture decides it (`tracer._derived.output_tokens_per_s`)."""
    speed = np.frompyfunc(
        lambda o, d, t, s, k: output_tokens_per_s(int(o), d / 1000.0, t / 1000.0 if s and t == t else None, ok=bool(k)), 5, 1
    )(output, duration_ms, ttft_ms, streaming, ok)
    return pa.array(speed.tolist(), type=pa.float64())


def _outcomes(status: np.ndarray, error_type: np.ndarray) -> pa.Array:
    """Each attempt's outcome, as capture decides it (`tracer._derived.attempt_outcome`): a few distinct (status,
    error type) pairs, each classified once."""
    pairs, inverse = np.unique(np.stack([status.astype(str), error_type.astype(str)]), axis=1, return_inverse=True)
    kinds = [attempt_outcome(int(c) if c != "0" else None, e or None) for c, e in pairs.T]
    return pa.DictionaryArray.from_arrays(pa.array(np.asarray(inverse).reshape(-1).astype(np.int32)), pa.array(kinds))


def _conform(data: pa.Table, table: str) -> pa.Table:
    from tracer.read._segments import conform

    return conform(data, table)


def write_synthetic(
    path: str | os.PathLike[str],
    n_calls: int,
    seed: int = 0,
    *,
    end: dt.datetime | None = None,
    days: float = 7.0,
    chunk_calls: int = 2_000_000,
) -> dict[str, int]:
    """Write `n_calls` synthetic calls (with their attempts and events) into the store at `path` as segments,
    one per table and day per chunk. Returns the rows written per table."""
    root = Path(path)
    end = end or dt.datetime.now(dt.UTC)
    written = {name: 0 for name in TABLES}
    chunks = max(1, -(-int(n_calls) // chunk_calls))
    span_days = days / chunks
    for i in range(chunks):
        size = int(n_calls) // chunks + (1 if i < int(n_calls) % chunks else 0)
        chunk_end = end - dt.timedelta(days=span_days * (chunks - 1 - i))
        tables = generate(size, seed=seed * 1000 + i, end=chunk_end, days=span_days)
        for name, data in tables.items():
            _write_by_day(root, name, data)
            written[name] += data.num_rows
    return written


def _write_by_day(root: Path, table: str, data: pa.Table) -> None:
    if data.num_rows == 0:
        return
    times = data.column(TIME_COLUMN[table]).cast(pa.int64()).to_numpy()
    days = times // _US_PER_DAY
    bounds = np.flatnonzero(np.diff(days)) + 1
    starts = np.concatenate([[0], bounds])
    stops = np.concatenate([bounds, [len(days)]])
    for a, b in zip(starts, stops, strict=True):
        day = (dt.datetime(1970, 1, 1) + dt.timedelta(days=int(days[a]))).strftime("%Y-%m-%d")
        write_segment(root, table, data.slice(int(a), int(b - a)), day)
