"""Calls: the recent, slowest and costliest calls, and one call's attempts as a waterfall."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from claude_tracer_dashboard import charts, state

TABLES = {"recent_calls": "Recent", "slowest_calls": "Slowest", "costliest_calls": "Costliest"}
# An attempt's own columns: its call's (call_model, call_tags...) are the call's, shown above it.
CALL_COLUMNS_OF_ATTEMPTS = ("call_start_time", "call_model", "call_service_name", "call_tags", "trace_id", "call_span_id")


def _label(row: pd.Series) -> str:
    cost = state.usd(row["cost_usd"]) if pd.notna(row["cost_usd"]) else "unpriced"
    return f"{row['start_time']:%m-%d %H:%M:%S} · {row['model']} · {state.ms(row['duration_ms'])} · {row['attempts']} attempts · {cost} · {row['span_id']}"


def panels() -> None:
    filters = state.current()
    if state.no_calls_here(filters):
        return
    frames = {name: state.run(name, filters) for name in TABLES}
    for tab, (name, frame) in zip(st.tabs(list(TABLES.values())), frames.items(), strict=True):
        with tab:
            # Each call's own URL, and its run's (the trace it was part of).
            linked = frame.assign(call=state.links("calls", "call", frame["span_id"]), run=state.links("traces", "trace", frame["trace_id"]))
            linked = linked[["call", "run", *frame.columns]]
            state.table(linked, f"{name}_table", links={"call": r"call=([0-9a-f]{8})", "run": r"trace=([0-9a-f]{8})"})

    st.subheader("One call")
    choices = pd.concat(frames.values()).drop_duplicates("span_id")
    labels = {row["span_id"]: _label(row) for _, row in choices.iterrows()}
    wanted = st.query_params.get("call")
    options = list(labels)
    if wanted and wanted not in labels:
        options.insert(0, wanted)  # a shared link to a call outside these lists still opens it
    default = options.index(wanted) if wanted in options else options.index(frames["slowest_calls"]["span_id"].iloc[0])
    span_id = st.selectbox("Call", options, index=default, format_func=lambda s: labels.get(s, s), key="call_choice")
    if st.query_params.get("call") != span_id:
        st.query_params["call"] = span_id

    attempts = state.run("call_attempts", filters, span_id=span_id)
    call = choices[choices["span_id"] == span_id]
    if not call.empty:
        row = call.iloc[0]
        cols = st.columns(5)
        cols[0].metric("Duration", state.ms(row["duration_ms"]))
        cols[1].metric("Attempts", state.count(row["attempts"]))
        cols[2].metric("Status", f"{row['status']} {'' if pd.isna(row['http_status']) else int(row['http_status'])}".strip())
        cols[3].metric("Cost", state.usd(row["cost_usd"]) if pd.notna(row["cost_usd"]) else "unpriced")
        cols[4].metric("Output tokens", state.count(row["output_tokens"]))
    st.plotly_chart(charts.attempts_waterfall(attempts), key="waterfall")
    state.table(attempts, "attempts_table", hide=CALL_COLUMNS_OF_ATTEMPTS)


if state.ready():
    st.title("Calls")
    state.live(panels)
