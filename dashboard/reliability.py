"""Reliability: 429/529/5xx/timeout rates, retries, rate-limit headroom, circuit breakers, budget trips."""

from __future__ import annotations

import streamlit as st

from claude_tracer_dashboard import charts, state


def panels() -> None:
    filters = state.current()
    if state.no_calls_here(filters):
        return
    rates = state.run("error_rates", filters)
    attempts = rates["attempts"].sum()
    head = state.run("headline", filters).iloc[0]

    def share(column: str) -> float | None:
        return rates[column].sum() / attempts if attempts else None

    cols = st.columns(5)
    cols[0].metric("429 rate", state.pct(share("rate_limited")), help="Share of HTTP attempts answered 429")
    cols[1].metric("529 rate", state.pct(share("overloaded")), help="Share of HTTP attempts answered 529 (overloaded)")
    cols[2].metric("5xx rate", state.pct(share("server_errors")), help="Other 5xx answers")
    cols[3].metric("Timeout rate", state.pct(share("timeouts")))
    cols[4].metric("Retries per call", f"{head['retries'] / head['calls']:.3f}" if head["calls"] else "n/a")

    colours = state.colours()
    st.plotly_chart(charts.error_rates_over_time(state.run("error_rates_over_time", filters), colours), key="error_rates_over_time")
    left, right = st.columns(2)
    left.plotly_chart(charts.attempts_distribution(state.run("attempts_distribution", filters)), key="attempts_distribution")
    right.plotly_chart(charts.retries_by_model(state.run("retries_by_model", filters), colours), key="retries_by_model")
    st.plotly_chart(charts.ratelimit_headroom(state.run("ratelimit_headroom", filters), colours), key="ratelimit_headroom")
    st.plotly_chart(charts.breaker_timeline(state.run("breaker_timeline", filters)), key="breaker_timeline")

    st.subheader("Per model")
    state.table(rates, "error_rates_table")
    left, right = st.columns(2)
    with left:
        st.subheader("Budget events")
        budget = state.run("budget_events", filters)
        if budget.empty:
            st.caption("No budget warnings or trips in this window.")
        else:
            state.table(budget, "budget_table")
    with right:
        st.subheader("Resilience events")
        events = state.run("events_summary", filters)
        if events.empty:
            st.caption("No resilience events in this window (tracer.resilience records them).")
        else:
            state.table(events, "events_table")


if state.ready():
    st.title("Reliability")
    state.live(panels)
