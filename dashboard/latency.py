"""Latency: p50/p95/p99 per model and over time, time to first token, output speed, distribution."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, state


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

    over_time = state.run("latency_over_time", filters)
    st.plotly_chart(charts.latency_over_time(over_time), key="latency_over_time")
    left, right = st.columns(2)
    left.plotly_chart(charts.ttft_over_time(over_time), key="ttft_over_time")
    right.plotly_chart(charts.latency_histogram(state.run("latency_histogram", filters)), key="latency_histogram")
    st.plotly_chart(charts.percentiles_by_model(by_model), key="percentiles_by_model")

    st.subheader("Per model")
    st.caption("Whole calls, retries included. Time to first token: streamed calls only. Output speed: output tokens per second after the first token.")
    st.dataframe(by_model, hide_index=True, key="latency_table")


if state.ready():
    st.title("Latency")
    state.live(panels)
