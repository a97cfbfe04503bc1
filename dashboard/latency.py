"""Latency: p50/p95/p99 per model and over time, time to first token, output speed, distribution."""

from __future__ import annotations

import streamlit as st

from claude_tracer_dashboard import charts, state


def panels() -> None:
    filters = state.current()
    if state.no_calls_here(filters):
        return
    head = state.run("headline", filters).iloc[0]
    by_model = state.run("latency_by_model", filters)
    cols = st.columns(3)
    cols[0].metric("p50 latency", state.ms(head["p50_ms"]))
    cols[1].metric("p95 latency", state.ms(head["p95_ms"]))
    cols[2].metric("p99 latency", state.ms(head["p99_ms"]))
    st.caption("Every latency here leaves out Message Batches results (their time is the batch queue's, not a "
               "call's) and counts every other operation, count_tokens included. All charts in ms.")  # fmt: skip

    over_time = state.run("latency_over_time", filters)
    colours = state.colours()
    # One percentile at a time, one line per model: all of them on one chart was a tangle of a dozen lines.
    shown = st.segmented_control("Call latency percentile", charts.LATENCY_PERCENTILES, default="p95", key="latency_pct")
    st.plotly_chart(charts.latency_over_time(over_time, shown or "p95", colours), key="latency_over_time")
    left, right = st.columns(2)
    with left:
        shown = st.segmented_control("Time to first token percentile", charts.TTFT_PERCENTILES, default="p95", key="ttft_pct")
        st.plotly_chart(charts.ttft_over_time(over_time, shown or "p95", colours), key="ttft_over_time")
    right.plotly_chart(charts.latency_histogram(state.run("latency_histogram", filters), colours), key="latency_histogram")
    st.plotly_chart(charts.percentiles_by_model(by_model), key="percentiles_by_model")

    st.subheader("Per model")
    state.table(by_model, "latency_table", caption="Whole calls, retries included. Time to first token: streamed calls "
                "only. Output speed: output tokens per second after the first token.")  # fmt: skip


if state.ready():
    st.title("Latency")
    state.live(panels)
