"""Calls: every call in the filters, newest, slowest or costliest first, a page of 50 at a time, narrowed by status,
error type, operation, an id, or a selection on the chart; one call's summary and attempts as a waterfall
(`?call=<span id>` opens it, in the list or not)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import replace
from typing import Any

import pandas as pd
import streamlit as st

from claude_tracer_dashboard import charts, state
from tracer._models import NO_MODEL
from tracer.read import calls
from tracer.read.calls import Narrowing

ORDERS = {"recent": "Recent", "slowest": "Slowest", "costliest": "Costliest"}
# An attempt's own columns: its call's (call_model, call_tags...) are the call's, shown above it.
CALL_COLUMNS_OF_ATTEMPTS = ("call_start_time", "call_model", "call_service_name", "call_tags", "trace_id", "call_span_id")
FIRST_COLUMNS = ["cost_usd", "tags", "call", "run"]  # who spent it, before anything else
SEARCH_HELP = "An exact id: a request id (of the call or any of its attempts), response id, trace id, conversation id or span id"


def _label(row: pd.Series) -> str:
    cost = state.usd(row["cost_usd"]) if pd.notna(row["cost_usd"]) else "unpriced"
    return f"{row['start_time']:%m-%d %H:%M:%S} · {row['model']} · {state.ms(row['duration_ms'])} · {row['attempts']} attempts · {cost} · {row['span_id']}"


def _options(column: pd.Series) -> list[str]:
    return sorted({str(v) for v in column.dropna()})


def _selected_window(event: Any) -> tuple[dt.datetime, dt.datetime, tuple[str, ...]] | None:
    """The time span and statuses of the bars selected on the calls-over-time chart (None when none is)."""
    try:
        points = event.selection.points
    except AttributeError:
        return None
    picked = [p["customdata"] for p in points if isinstance(p.get("customdata"), list | tuple) and len(p["customdata"]) == 3]
    if not picked:
        return None
    start = min(float(c[0]) for c in picked)
    end = max(float(c[0]) + float(c[1]) for c in picked)
    statuses = tuple(sorted({str(c[2]) for c in picked}))
    return dt.datetime.fromtimestamp(start, dt.UTC), dt.datetime.fromtimestamp(end, dt.UTC), statuses


def call_list(filters: state.Filters) -> pd.DataFrame:
    """The list the controls ask for, drawn with its chart and pager; returns the rows shown."""
    st.text_input("Find a call", key="calls_search", placeholder="req_…, msg_…, a trace id or a conversation id", help=SEARCH_HELP)
    choices = state.run_of(calls.narrowing_choices, filters)
    left, middle, right = st.columns(3)
    narrowing = Narrowing(
        statuses=tuple(left.multiselect("Status", _options(choices["status"]), key="calls_status", placeholder="Any status")),
        error_types=tuple(middle.multiselect("Error type", _options(choices["error_type"]), key="calls_error", placeholder="Any error")),
        operations=tuple(right.multiselect("Operation", _options(choices["operation"]), key="calls_operation", placeholder="Any operation")),
        search=st.session_state.get("calls_search", "").strip(),
    )  # fmt: skip

    over_time = state.run_of(calls.calls_over_time, filters, narrowing)
    event = st.plotly_chart(charts.calls_over_time(over_time), key="calls_over_time", on_select="rerun", selection_mode=("points", "box"))
    selected = _selected_window(event)
    if selected is not None:
        lo, hi, statuses = selected
        filters = replace(filters, start=max(filters.start, lo) if filters.start else lo, end=min(filters.end, hi) if filters.end else hi)
        narrowing = replace(narrowing, statuses=statuses)
        st.info(f"The list shows the calls behind the {len(event.selection.points)} bar(s) selected on the chart: status "
                f"{', '.join(statuses)}, from {lo:%Y-%m-%dT%H:%M:%SZ} to {hi:%Y-%m-%dT%H:%M:%SZ} (UTC). Double-click the "
                "chart to clear the selection.", icon=":material/filter_alt:")  # fmt: skip

    order_column, page_column = st.columns([3, 1], vertical_alignment="bottom")
    with order_column:
        order = st.segmented_control("Calls", list(ORDERS), format_func=ORDERS.__getitem__, default="recent", key="calls_order") or "recent"
    total = int(state.value_of(calls.count_calls, filters, narrowing))
    pages = max(1, math.ceil(total / calls.PAGE_SIZE))
    listing = (state.filters_key(), narrowing, selected, order)  # not `filters`: its window moves with the clock
    if st.session_state.get("_calls_list") not in (None, listing):  # another list: its first page
        st.session_state["calls_page"] = 1
    st.session_state["_calls_list"] = listing
    if st.session_state.get("calls_page", 1) > pages:
        st.session_state["calls_page"] = pages
    page = int(page_column.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="calls_page"))
    found = state.run_of(calls.ORDERS[order], filters, offset=(page - 1) * calls.PAGE_SIZE, narrowing=narrowing)
    # Each call's own URL, and its run's (the trace it was part of).
    linked = found.assign(call=state.links("calls", "call", found["span_id"]), run=state.links("traces", "trace", found["trace_id"]))
    linked = linked[[*FIRST_COLUMNS, *[c for c in linked.columns if c not in FIRST_COLUMNS]]]
    first = (page - 1) * calls.PAGE_SIZE
    caption = f"Calls {first + 1:,}–{first + len(found):,} of {total:,}" if total else "No calls match these filters."
    state.table(linked, "calls_table", caption=caption, links={"call": r"call=([0-9a-f]{8})", "run": r"trace=([0-9a-f]{8})"})
    st.session_state["_calls_signature"] = (*listing, page)
    return found


def one_call(found: pd.DataFrame) -> None:
    """The call the URL names, else the list's first: its summary whatever the list holds, then its attempts. When
    the list changes, the detail follows it to its first call; a linked call outside the list is kept, and says so."""
    listed = list(found["span_id"])
    wanted = st.query_params.get("call")
    signature = st.session_state.get("_calls_signature")
    changed = st.session_state.get("_calls_seen") not in (None, signature)
    st.session_state["_calls_seen"] = signature
    if changed and wanted not in listed:
        wanted = listed[0] if listed else None
        st.session_state.pop("call_choice", None)
    options = list(listed)
    if wanted and wanted not in listed:
        options.insert(0, wanted)  # a shared link to a call outside this list still opens it
    if not options:
        st.info("No call in this list: widen the filters above.")
        return
    labels = {row["span_id"]: _label(row) for _, row in found.iterrows()}
    if st.session_state.get("call_choice") not in options:
        st.session_state["call_choice"] = wanted if wanted in options else options[0]
    span_id = st.selectbox("Call", options, format_func=lambda s: labels.get(s, s), key="call_choice")
    if st.query_params.get("call") != span_id:
        st.query_params["call"] = span_id
    if span_id not in listed:
        st.caption("This call is not in the list above (it was opened by its link); its summary is read from the store.")

    detail = state.run_of(calls.call_detail, span_id)
    if detail.empty:
        st.warning(f"No call with span id `{span_id}` in this store.")
        return
    row = detail.iloc[0]
    cost = None if pd.isna(row["cost_usd"]) else float(row["cost_usd"])
    tokens = sum(int(row[c]) for c in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens") if pd.notna(row[c]))
    # Two rows of three: a model's name and a cost of six decimals need the width of two tiles.
    top, bottom = st.columns([2, 1.4, 1]), st.columns([2, 1.4, 1])
    top[0].metric("Model", str(row["model"]) if isinstance(row["model"], str) else NO_MODEL)
    top[1].metric("Cost", state.usd(cost) if cost is not None else "unpriced")
    top[2].metric("Status", f"{row['status']} {'' if pd.isna(row['http_status']) else int(row['http_status'])}".strip())
    bottom[0].metric("Duration", state.ms(row["duration_ms"]))
    bottom[1].metric("Tokens", state.count(tokens), help="Input (uncached), cache read, cache write and output")
    bottom[2].metric("Attempts", state.count(row["attempts"]))
    facts = [f"Run [{row['trace_id'][:8]}]({state.link('traces', trace=row['trace_id'])})"]
    if isinstance(row["conversation_id"], str):
        facts.append(f"conversation [{row['conversation_id']}]({state.link('conversations', conversation=row['conversation_id'])})")
    tags = row["tags"]
    items = list(tags.items()) if isinstance(tags, dict) else []
    facts.append("tags " + (", ".join(f"`{k}={v}`" for k, v in items) or "none"))
    facts.append(f"operation `{row['operation']}`")
    if isinstance(row.get("error_type"), str):
        facts.append(f"error `{row['error_type']}`")
    if isinstance(row.get("request_id"), str):
        facts.append(f"request id `{row['request_id']}`")
    st.markdown(" · ".join(facts))

    attempts = state.run("call_attempts", state.Filters(), span_id=span_id)
    st.plotly_chart(charts.attempts_waterfall(attempts), key="waterfall")
    state.table(attempts, "attempts_table", hide=CALL_COLUMNS_OF_ATTEMPTS)


def panels() -> None:
    filters = state.current()
    if state.no_calls_here(filters):
        return
    found = call_list(filters)
    st.subheader("One call")
    one_call(found)


if state.ready():
    st.title("Calls")
    state.live(panels)
