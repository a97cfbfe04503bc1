"""Tables as a person reads them: human column labels with units, numbers formatted, times in the viewer's time
zone, a dash where there is no value (never `None`), and a CSV download under each.

The frame keeps its query's column names and raw values (sorting, the CSV and the tests use them); only what is
displayed changes, through a pandas Styler that Streamlit draws cell by cell.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

from tracer import _money as money

MISSING = "–"
Format = Callable[[Any], str]


def _count(v: Any) -> str:
    return f"{int(v):,}"


def _ms(v: Any) -> str:
    return f"{v:.2f}" if 0 < abs(v) < 1 else f"{v:,.0f}"  # a tool that took 0.07 ms did not take "0"


def _pct(v: Any) -> str:
    return f"{v * 100:.2f}%"


def _ratio(v: Any) -> str:
    return f"{v:,.3f}"


def _seconds(v: Any) -> str:
    return f"{v:g}"


def _code(v: Any) -> str:
    return str(int(v))


def _yes_no(v: Any) -> str:
    return "yes" if v else "no"


def _tags(v: Any) -> str:
    items = v.items() if isinstance(v, dict) else v
    return ", ".join(f"{k}={val}" for k, val in items) or MISSING


def _text(v: Any) -> str:
    return str(v)


# column -> (label, format); a column not listed gets its name in words and a format from its type.
COLUMNS: dict[str, tuple[str, Format]] = {
    "model": ("Model", _text),
    "calls": ("Calls", _count),
    "cost_usd": ("Cost (USD)", _text),  # digits per column: see _usd_format
    "saved_usd": ("Saved (USD)", _text),
    "read_saved_usd": ("Saved on reads (USD)", _text),
    "write_premium_usd": ("Write premium (USD)", _text),
    "premium_usd": ("Premium paid (USD)", _text),
    "cache_unknown_calls": ("Calls not known", _count),  # cache tokens, no cache figures: left out of the sums
    "unknown_turns": ("Turns not known", _count),
    "saving_usd": ("Batch would save (USD)", _text),
    "target_usd": ("What-if cost (USD)", _text),
    "change_usd": ("Change (USD)", _text),
    "cache_write_5m_tokens": ("Cache write 5m tokens", _count),
    "budget": ("Budget", _text),
    "spent_usd": ("Spent (USD)", _text),
    "projected_usd": ("Projected (USD)", _text),
    "used": ("Used", _pct),
    "runs_out": ("Runs out", _text),
    "period_start": ("Period from", _text),
    "period_end": ("Period to", _text),
    "exceeded": ("Over", _yes_no),
    "projected_over": ("Projected over", _yes_no),
    "errors": ("Errors", _count),
    "unpriced_calls": ("Unpriced calls", _count),
    "input_tokens": ("Input tokens (uncached)", _count),
    "cache_read_tokens": ("Cache read tokens", _count),
    "cache_write_tokens": ("Cache write tokens", _count),
    "cache_write_1h_tokens": ("Cache write 1h tokens", _count),
    "output_tokens": ("Output tokens", _count),
    "thinking_tokens": ("Thinking tokens", _count),
    "tokens": ("Tokens", _count),
    "total_tokens": ("Tokens", _count),
    "p50_ms": ("Latency p50 (ms)", _ms),
    "p95_ms": ("Latency p95 (ms)", _ms),
    "p99_ms": ("Latency p99 (ms)", _ms),
    "streamed": ("Streamed calls", _count),
    "thin": ("Thin percentiles", _text),
    "ttft_p50_ms": ("TTFT p50 (ms)", _ms),
    "ttft_p95_ms": ("TTFT p95 (ms)", _ms),
    "ttft_p99_ms": ("TTFT p99 (ms)", _ms),
    "output_tokens_per_s": ("Output speed (tokens/s)", _ms),
    "attempts": ("Attempts", _count),
    "rate_limited": ("429s", _count),
    "overloaded": ("529s", _count),
    "server_errors": ("Other 5xx", _count),
    "timeouts": ("Timeouts", _count),
    "connection_errors": ("Connection errors", _count),
    "rate_429": ("429 rate", _pct),
    "rate_529": ("529 rate", _pct),
    "rate_5xx": ("5xx rate", _pct),
    "rate_timeout": ("Timeout rate", _pct),
    "rate_connection": ("Connection error rate", _pct),
    "retries": ("Retries", _count),
    "retries_per_call": ("Retries per call", _ratio),
    "retried_calls": ("Retried calls", _count),
    "time": ("Time", _text),
    "start_time": ("Started", _text),
    "first": ("First", _text),
    "last": ("Last", _text),
    "kind": ("Kind", _text),
    "name": ("Name", _text),
    "from_state": ("From", _text),
    "to_state": ("To", _text),
    "attributes": ("Details", _text),
    "events": ("Events", _count),
    "status": ("Status", _text),
    "http_status": ("HTTP status", _code),
    "error_type": ("Error", _text),
    "duration_ms": ("Duration (ms)", _ms),
    "ttft_ms": ("TTFT (ms)", _ms),
    "service_name": ("Service", _text),
    "operation": ("Operation", _text),
    "streaming": ("Streamed", _yes_no),
    "response_model": ("Response model", _text),
    "trace_id": ("Trace ID", _text),
    "span_id": ("Span ID", _text),
    "call_span_id": ("Call span ID", _text),
    "attempt": ("Attempt", _code),
    "retry_after_s": ("Retry-after (s)", _seconds),
    "ratelimit_requests_remaining": ("Requests left", _count),
    "ratelimit_tokens_remaining": ("Tokens left", _count),
    "request_id": ("Request ID", _text),
    "offset_ms": ("Starts at (ms)", _ms),
    "gap_ms": ("Waited before (ms)", _ms),
    "end_ms": ("Ends at (ms)", _ms),
    "tags": ("Tags", _tags),
    "tag": ("Tag", _text),
    "value": ("Value", _text),
    # Agent runs and conversations
    "root_name": ("Root span", _text),
    "tool_executions": ("Tool executions", _count),
    "conversation_id": ("Conversation", _text),
    "models": ("Models", _text),
    "turn": ("Turn", _count),
    "turns": ("Turns", _count),
    "first_time": ("First turn", _text),
    "last_time": ("Last turn", _text),
    "cache_rewrite": ("Cache miss", _yes_no),
    "cache_rewrites": ("Cache misses", _count),
    "cache": ("Cache", _text),
    "tool_name": ("Tool", _text),
    "tool_names": ("Tools asked for", _text),
    "executions": ("Executions", _count),
    "error_share": ("Error share", _pct),
    "depth": ("Depth", _count),
    "type": ("Kind", _text),
}


def label(column: str) -> str:
    """The column's heading: `COLUMNS`' label, else its name in words ("cache_hit_ratio" -> "Cache hit ratio")."""
    known = COLUMNS.get(column)
    return known[0] if known else column.replace("_", " ").strip().capitalize()


def _usd_format(values: pd.Series) -> Format:
    # Each amount with its own significant digits (`tracer._money.usd`): one number of decimals per column, enough
    # for its smallest amount, wrote "$0.03092840" beside "$0.00058600" (looked at in the screenshots).
    return money.usd


def _time_format(zone: dt.tzinfo | str) -> Format:
    def fmt(v: Any) -> str:
        stamp = pd.Timestamp(v)
        if stamp.tzinfo is not None:
            stamp = stamp.tz_convert(zone)
        return stamp.strftime("%Y-%m-%d %H:%M:%S")

    return fmt


def formats(frame: pd.DataFrame, zone: dt.tzinfo | str) -> dict[str, Format]:
    """The display format of each column of `frame` (times shown in `zone`)."""
    out: dict[str, Format] = {}
    for column in frame.columns:
        dtype = frame[column].dtype
        if column.endswith("_usd"):
            out[column] = _usd_format(frame[column])
        elif isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            out[column] = _time_format(zone)
        elif column in COLUMNS:
            out[column] = COLUMNS[column][1]
        elif pd.api.types.is_bool_dtype(dtype):
            out[column] = _yes_no
        elif pd.api.types.is_integer_dtype(dtype):
            out[column] = _count
        elif pd.api.types.is_float_dtype(dtype):
            out[column] = _ratio
        else:
            out[column] = _text
    return out


def visible(frame: pd.DataFrame, hide: Iterable[str] = ()) -> pd.DataFrame:
    """`frame` without the columns a person has no use for: internal keys (`_k`) and those named in `hide`."""
    drop = [c for c in frame.columns if c.startswith("_") or c in set(hide)]
    return frame.drop(columns=drop) if drop else frame


def csv(frame: pd.DataFrame) -> str:
    """The table as CSV with its human headings and raw values (full precision; times in ISO form with offset)."""
    return frame.rename(columns=label).to_csv(index=False)


def show(
    frame: pd.DataFrame, key: str, *, zone: dt.tzinfo | str, hide: Iterable[str] = (), caption: str | None = None,
    links: Mapping[str, str] | None = None,
) -> None:
    """Draw `frame` as a table with a "Download CSV" button under it (file `{key}.csv`). `links` names the columns
    holding URLs, each with the text its cells show (a regex with one group takes that part of the URL)."""
    shown = visible(frame, hide)
    styled = shown.style.format(formats(shown, zone), na_rep=MISSING)  # type: ignore[arg-type]
    config: dict[str, Any] = {c: label(c) for c in shown.columns}
    for column, text in (links or {}).items():
        config[column] = st.column_config.LinkColumn(label(column), display_text=text)
    # The placeholder too: Streamlit draws a missing value as "None" whatever the Styler says.
    st.dataframe(styled, hide_index=True, key=key, column_config=config, placeholder=MISSING)
    if caption:
        st.caption(caption)
    st.download_button(
        "Download CSV", csv(shown), file_name=f"{key.removesuffix('_table')}.csv", mime="text/csv",
        key=f"{key}_csv", icon=":material/download:", on_click="ignore", type="tertiary",
    )  # fmt: skip
