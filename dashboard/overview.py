"""Overview: what Claude costs, per model and over time; tokens, caching, tags, unpriced calls."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from claude_tracer_dashboard import charts, state
from tracer._models import NO_MODEL, retiring


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

    by_model = state.run("cost_by_model", filters)
    for model in retiring(by_model):
        st.warning(
            f"**{model.model}** retires {model.when()}: {state.count(model.calls)} calls and "
            f"{state.usd(model.cost_usd)} in this window still go to it. The installed anthropic SDK lists it as "
            "deprecated; move these calls to a current model before then.",
            icon=":material/event_busy:",
        )
    if int(head["unpriced_calls"]):
        unpriced = state.run("unpriced_calls", filters)
        st.warning(
            f"{state.count(head['unpriced_calls'])} calls used models without a known price "
            f"({', '.join(unpriced['model'])}): their cost is unknown and not included above. "
            "Add the prices with `tracer prices` or `tracer.instrument(prices=FILE)`.",
            icon=":material/warning:",
        )
        state.table(unpriced, "unpriced_table")

    colours = state.colours()
    left, right = st.columns(2)
    left.plotly_chart(charts.cost_by_model(by_model, colours), key="cost_by_model")
    right.plotly_chart(charts.tokens_by_kind(by_model), key="tokens_by_kind")
    st.plotly_chart(charts.cost_over_time(state.run("cost_over_time", filters), colours), key="cost_over_time")
    left, right = st.columns(2)
    left.plotly_chart(charts.cache_savings(cache), key="cache_savings")
    right.plotly_chart(charts.cost_by_tag(state.run("cost_by_tag", filters)), key="cost_by_tag")

    st.subheader("Per model")
    no_model = f"{NO_MODEL}: batch and other management calls, which name none." if NO_MODEL in set(by_model["model"]) else None
    state.table(by_model, "cost_by_model_table", caption=no_model)


if state.ready():
    st.title("Overview")
    state.live(panels)
