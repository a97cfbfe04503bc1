"""Overview: what Claude costs, per model and over time; tokens, caching, tags, unpriced calls."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboard import charts, state


@st.cache_data(ttl=state.TTL_S, show_spinner=False)
def _firing(path: str, end: dt.datetime | None) -> list[str]:
    """The alert conditions of `tracer.alerts` (the Prometheus rules' thresholds) that hold at the window's end."""
    from tracer import alerts

    return [f.text for f in alerts.evaluate(state.store(), now=end) if f.firing]


def panels() -> None:
    filters = state.current()
    if state.no_calls_here(filters):
        return
    firing = _firing(state.store_path(), filters.end)
    if firing:  # the strip at the top: what would page someone, from the same thresholds as the Prometheus rules
        st.error("**Alerts:** " + "; ".join(firing), icon=":material/notifications_active:")
    head = state.run("headline", filters).iloc[0]
    cache = state.run("cache_savings", filters)
    all_input = cache[["input_tokens", "cache_read_tokens", "cache_write_tokens"]].to_numpy().sum()
    hit_ratio = cache["cache_read_tokens"].sum() / all_input if all_input else None
    saved = cache["saved_usd"].sum(min_count=1)

    cols = st.columns(6)
    cols[0].metric("Total cost", state.usd(head["cost_usd"]), help="Priced calls only: unpriced calls have no cost (not $0)")
    cols[1].metric("Calls", state.count(head["calls"]))
    cols[2].metric("Error rate", state.pct(head["error_rate"]), help="Calls that ended in an error, after retries")
    cols[3].metric("Tokens", state.count(head["total_tokens"]), help="Input (uncached), cache read, cache write and output")
    cols[4].metric("Cache hit ratio", state.pct(hit_ratio), help="Cache-read tokens / all input tokens")
    cols[5].metric("Caching saved", state.usd(saved), help="At list prices: cheaper cache reads minus the cache-write premium")

    if int(head["unpriced_calls"]):
        unpriced = state.run("unpriced_calls", filters)
        st.warning(
            f"{state.count(head['unpriced_calls'])} calls used models without a known price "
            f"({', '.join(unpriced['model'])}): their cost is unknown and not included above. "
            "Add the prices with `tracer prices` or `tracer.instrument(prices=FILE)`.",
            icon=":material/warning:",
        )
        st.dataframe(unpriced, hide_index=True, key="unpriced_table")

    by_model = state.run("cost_by_model", filters)
    left, right = st.columns(2)
    left.plotly_chart(charts.cost_by_model(by_model), key="cost_by_model")
    right.plotly_chart(charts.tokens_by_kind(by_model), key="tokens_by_kind")
    st.plotly_chart(charts.cost_over_time(state.run("cost_over_time", filters)), key="cost_over_time")
    left, right = st.columns(2)
    left.plotly_chart(charts.cache_savings(cache), key="cache_savings")
    right.plotly_chart(charts.cost_by_tag(state.run("cost_by_tag", filters)), key="cost_by_tag")

    st.subheader("Per model")
    st.dataframe(
        by_model,
        hide_index=True,
        key="cost_by_model_table",
        column_config={"cost_usd": st.column_config.NumberColumn("cost (USD)", format="$%.4f")},
    )


if state.ready():
    st.title("Overview")
    state.live(panels)
