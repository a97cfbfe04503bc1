"""Traces: agent runs (every trace with a Claude call), the recent, slowest or costliest; one run's tree as a
waterfall (`?trace=<id>` opens it); tool executions by name."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from claude_tracer_dashboard import charts, state
from tracer.read import runs

ORDERS = {"recent": "Recent", "slowest": "Slowest", "costliest": "Costliest"}
ALL_ROOTS = "All root spans"
# A run row's columns a person has no use for in the list (the link shows the trace id's start).
HIDDEN_RUN_COLUMNS = ("trace_id", "service_name", "thinking_tokens", "unpriced_calls", "cache_write_tokens")
TREE_COLUMNS = ("span", "type", "offset_ms", "duration_ms", "status", "error_type", "http_status", "input_tokens",
                "cache_read_tokens", "cache_write_tokens", "output_tokens", "cost_usd", "tool_names")  # fmt: skip


def _float(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]


def _label(row: Mapping[str, Any]) -> str:
    cost = state.usd(row["cost_usd"]) if pd.notna(row["cost_usd"]) else "unpriced"
    return (f"{row['start_time']:%m-%d %H:%M:%S} · {row['root_name']} · {state.ms(row['duration_ms'])} · "
            f"{state.count(row['calls'])} calls · {cost} · {row['trace_id'][:8]}")  # fmt: skip


def run_list(filters: state.Filters) -> pd.DataFrame:
    """The runs the controls ask for, with a link to each."""
    left, middle, right = st.columns([2, 3, 2], vertical_alignment="bottom")
    with left:
        order = st.segmented_control("Runs", list(ORDERS), format_func=ORDERS.__getitem__, default="recent", key="run_order")
    roots = state.run_of(runs.root_names, filters)["root_name"].tolist()
    root = middle.selectbox("Root span", [ALL_ROOTS, *roots], key="run_root")
    errors_only = right.toggle("Errors only", key="run_errors")
    found = state.run_of(runs.traces, filters, order or "recent", root=None if root == ALL_ROOTS else root,
                         errors_only=errors_only)  # fmt: skip
    shown = found.assign(run=state.links("traces", "trace", found["trace_id"]),
                         conversation=state.links("conversations", "conversation", found["conversation_id"]))  # fmt: skip
    first = ["cost_usd", "run"]  # cost first: a list of runs answers "who spent it" before anything else
    shown = shown[[*first, *[c for c in shown.columns if c not in (*first, "conversation_id")]]]
    state.table(shown, "runs_table", hide=HIDDEN_RUN_COLUMNS,
                links={"run": r"trace=([0-9a-f]{8})", "conversation": r"conversation=([^&]+)"})  # fmt: skip
    st.session_state["_runs_list"] = (state.filters_key(), order, root, errors_only)
    return found


def one_run(found: pd.DataFrame) -> None:
    """The run the URL names, else the list's richest. When the list changes (another order, root span, errors
    only, filters), the detail follows it; a linked run outside an unchanged list is kept, and says so."""
    labels = {row["trace_id"]: _label(row) for _, row in found.iterrows()}
    wanted = st.query_params.get("trace")
    signature = st.session_state.get("_runs_list")
    changed = st.session_state.get("_runs_seen") not in (None, signature)
    st.session_state["_runs_seen"] = signature
    if changed and wanted not in labels:
        wanted = None
        st.session_state.pop("trace_choice", None)
    options = list(labels)
    if wanted and wanted not in labels:
        options.insert(0, wanted)  # a shared link to a run outside this list still opens it
        linked = state.run_of(runs.trace_summary, wanted)
        if not linked.empty:
            labels[wanted] = _label(linked.iloc[0].to_dict() | {"cost_usd": _float(linked["cost_usd"].iloc[0])})
    if not options:
        st.info("No runs match these filters.")
        return
    # Without a link, the first run of the list that used tools (the most to look at), else the first.
    richest = next((t for t, n in zip(found["trace_id"], found["tool_executions"], strict=True) if n), options[0])
    if st.session_state.get("trace_choice") not in options:
        st.session_state["trace_choice"] = wanted if wanted in options else richest
    trace_id = st.selectbox("Run", options, format_func=lambda t: labels.get(t, t), key="trace_choice")
    if st.query_params.get("trace") != trace_id:
        st.query_params["trace"] = trace_id
    if trace_id not in set(found["trace_id"]):
        st.caption("This run is not in the list above (it was opened by its link); change the list and the detail follows it.")

    summary = state.run_of(runs.trace_summary, trace_id)
    tree = state.run_of(runs.trace_tree, trace_id, name_models=False)
    if summary.empty or tree.empty:
        st.warning(f"No run with trace id `{trace_id}` in this store.")
        return
    head = summary.iloc[0]
    cost = _float(head["cost_usd"])
    tokens = sum(int(head[c]) for c in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens") if pd.notna(head[c]))
    cols = st.columns([1, 1, 1, 1, 1, 1.5])  # room for a cost of six decimals
    cols[0].metric("Duration", state.ms(head["duration_ms"]))
    cols[1].metric("Calls", state.count(head["calls"]))
    cols[2].metric("Tool executions", state.count(head["tool_executions"]))
    cols[3].metric("Errors", state.count(head["errors"]))
    cols[4].metric("Tokens", shown := state.tile_count(tokens), help=state.exactly(shown, state.count(tokens)).strip() or None)
    cols[5].metric("Cost", state.usd(cost) if cost is not None else "unpriced")
    conversation = head["conversation_id"]
    if isinstance(conversation, str):
        st.markdown(f"Part of conversation [{conversation}]({state.link('conversations', conversation=conversation)}).")

    st.plotly_chart(charts.run_waterfall(tree, state.colours()), key="run_waterfall")
    table = tree.assign(
        span=["\u2003" * int(d) + charts.span_label(r) for d, r in zip(tree["depth"], tree.to_dict("records"), strict=True)],
        cost_usd=tree["cost_usd_double"],
    )
    state.table(table[list(TREE_COLUMNS)], "spans_table",
                caption="Tokens: input (uncached), cache read, cache write, output. Cost: the calls' (spans cost nothing).")  # fmt: skip

    captured = tree[tree["content"].notna()]
    if captured.empty:
        st.caption("Content (prompts, answers, tool inputs) was not captured for this run: `tracer.instrument(capture_content=True)` keeps it.")
    for _, row in captured.iterrows():
        with st.expander(f"Content of {charts.span_label(row.to_dict())}"):
            try:
                st.json(json.loads(row["content"]))
            except (TypeError, ValueError):
                st.code(str(row["content"]))


def panels() -> None:
    filters = state.current()
    if state.no_calls_here(filters):
        return
    found = run_list(filters)
    st.subheader("One run")
    one_run(found)
    st.subheader("Tool executions by name")
    state.table(state.run_of(runs.tool_executions, filters), "tools_table",
                caption="The SDK's tool-execution spans in this window (model and tag filters do not apply: a tool has none).")  # fmt: skip


if state.ready():
    st.title("Traces")
    state.live(panels)
