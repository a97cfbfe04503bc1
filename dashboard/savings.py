"""Savings: what would save money. Each figure states its method in one line and shows the calls behind it:
caching's saving, cache rewrites' cost, spend the Batch API would halve, the same calls on another model (a
what-if), and time lost to retries and 429s."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from claude_tracer_dashboard import state
from tracer.read import savings


def _method(key: str) -> None:
    st.caption(f"Method: {savings.METHODS[key]}")


def _figure_first(frame: pd.DataFrame, *first: str) -> pd.DataFrame:
    """The figure's own columns first: the money is what a person came to read (as in every list)."""
    return frame[[*first, *[c for c in frame.columns if c not in first]]]


def _unknown(n: int, what: str) -> None:
    """Say how many calls the figure leaves out for want of their cache figures: not known is not $0."""
    if n:
        st.caption(f"Not known for {state.count(n)} {what} (unpriced, or stored before claude-tracer recorded cache "
                   "figures): left out of this figure.")  # fmt: skip


def panels() -> None:
    filters = state.current()
    if state.no_calls_here(filters):
        return

    st.subheader("Prompt caching")
    caching = state.run_of(savings.caching, filters)
    rewrites = state.run_of(savings.cache_rewrites, filters)
    left, right = st.columns(2)
    left.metric("Caching saved", state.usd(caching["saved_usd"].sum(min_count=1)))
    right.metric("Cache rewrites cost", state.usd(rewrites["premium_usd"].sum(min_count=1) if len(rewrites) else 0.0),
                 help=f"{state.count(rewrites['turns'].sum())} conversation turns wrote their cached prefix again")  # fmt: skip
    with left:
        _method("caching")
        _unknown(int(caching["cache_unknown_calls"].sum()), "calls with cache tokens")
        state.table(_figure_first(caching, "saved_usd", "model"), "savings_caching_table")
    with right:
        _method("rewrites")
        _unknown(int(rewrites["unknown_turns"].sum()) if len(rewrites) else 0, "turns")
        if rewrites.empty:
            st.caption("No conversation wrote its cached prefix again in this window.")
        else:
            state.table(_figure_first(rewrites, "premium_usd", "model"), "savings_rewrites_table")

    st.subheader("Batch API")
    total = state.run_of(savings.batch_total, filters).iloc[0]
    left, right = st.columns(2)
    left.metric("Spend that could have been batched", state.usd(total["cost_usd"]), help=f"{state.count(total['calls'])} calls")
    right.metric("Batching would have saved", state.usd(total["saving_usd"]))
    _method("batch")
    state.table(_figure_first(state.run_of(savings.batch_candidates, filters), "saving_usd", "cost_usd"), "savings_batch_table",
                caption="Per tag: a call with two tags counts under each.")  # fmt: skip

    st.subheader("On another model (what-if)")
    models = state.run_of(savings.priced_models, filters)["model"].tolist()
    if models:
        target = st.selectbox("Same calls on", models, key="savings_target")
        what_if = state.run_of(savings.what_if, filters, target)
        left, right = st.columns(2)
        left.metric("Cost of these calls", state.usd(what_if["cost_usd"].sum(min_count=1)))
        right.metric(f"On {target} (what-if)", state.usd(what_if["target_usd"].sum(min_count=1)))
        _method("what_if")
        state.table(_figure_first(what_if, "cost_usd", "target_usd", "change_usd", "model"), "savings_what_if_table")
    else:
        st.caption("No model with list prices in this window: the what-if needs a price table.")

    st.subheader("Retries and 429s")
    lost = state.run_of(savings.retry_time, filters).iloc[0]
    left, right = st.columns(2)
    left.metric("Time lost to retries", f"{lost['lost_s']:,.1f} s", help=f"{state.count(lost['retried_calls'])} retried calls")
    right.metric("Of it, after 429s", f"{lost['after_429_s']:,.1f} s", help=f"{state.count(lost['answers_429'])} answers 429")
    _method("retries")


if state.ready():
    st.title("Savings")
    state.live(panels)
