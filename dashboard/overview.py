"""Overview: what Claude costs, per model and over time; tokens, caching, tags, unpriced calls."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from claude_tracer_dashboard import charts, state
from tracer._models import NO_MODEL, retiring
from tracer.read import overview


@st.cache_data(ttl=state.TTL_S, show_spinner=False)
def _firing(path: str, end: dt.datetime | None) -> list[str]:
    """The alert conditions of `tracer.alerts` (the Prometheus rules' thresholds) that hold at the window's end,
    each with its threshold and the window the rule looks at."""
    from tracer import alerts

    def threshold(f: alerts.Finding) -> str:
        if f.alert.endswith("ShareHigh") or f.alert.endswith("HeadroomLow"):
            return f"{f.threshold:.0%}"
        if "Latency" in f.alert:
            return f"{f.threshold:g} s"
        if "Spend" in f.alert:
            return f"{state.usd(f.threshold)} a day"
        return f"{f.threshold:g}"

    def window(f: alerts.Finding) -> str:
        if f.alert.endswith("ShareHigh") or "Latency" in f.alert:
            return f", last {alerts.SHARE_WINDOW.total_seconds() / 60:g} min"
        if "Spend" in f.alert or "Unpriced" in f.alert:
            return f", last {alerts.SPEND_WINDOW.total_seconds() / 60:g} min"
        return ""

    return [f"{f.text} (threshold {threshold(f)}{window(f)})" for f in alerts.evaluate(state.store(), now=end) if f.firing]


def _cache_figures(cache: pd.DataFrame) -> tuple[float | None, float | None]:
    """The cache hit ratio (cache-read tokens over all input tokens) and what caching saved, from `cache_savings`."""
    all_input = cache[["input_tokens", "cache_read_tokens", "cache_write_tokens"]].to_numpy().sum()
    hit_ratio = cache["cache_read_tokens"].sum() / all_input if all_input else None
    saved = cache["saved_usd"].sum(min_count=1)
    return hit_ratio, (None if pd.isna(saved) else float(saved))


def _unknown_note(n: int) -> str:
    return f" Not known for {state.count(n)} calls with cache tokens (unpriced, or stored before claude-tracer recorded cache figures): left out." if n else ""


def panels() -> None:
    filters = state.current()
    if state.no_calls_here(filters):
        return
    firing = _firing(state.store_path(), filters.end)
    if firing:  # the strip at the top: what would page someone, from the same thresholds as the Prometheus rules
        st.error("**Alerts** (the Prometheus rules over the whole store at the window's end; the model, service and "
                 "tag filters do not apply): " + "; ".join(firing), icon=":material/notifications_active:")  # fmt: skip
    head = state.run("headline", filters).iloc[0]
    cache = state.run("cache_savings", filters)
    hit_ratio, saved = _cache_figures(cache)
    before = state.previous(filters)
    old = state.run("headline", before).iloc[0] if before is not None else None
    old_hit, old_saved = _cache_figures(state.run("cache_savings", before)) if before is not None else (None, None)

    def was(column: str) -> float | None:
        return None if old is None else float(old[column])

    # The change against the period of the same length just before ("All time" has none). More cost, errors
    # or tokens read red; a better cache, green.
    vs = f"Change against the {state.RANGES[state.current_range()].lower().replace('last', 'previous')}" if before else None
    cols = st.columns(6)
    unknown = int(cache["cache_unknown_calls"].sum())
    cost, calls, tokens = head["cost_usd"], head["calls"], head["total_tokens"]
    shown = state.tile_usd(cost), state.tile_count(calls), state.tile_count(tokens), state.tile_usd(saved)
    cols[0].metric("Total cost", shown[0], state.change(cost, was("cost_usd")), delta_color="inverse",
                   help=f"Priced calls only: unpriced calls have no cost (not $0).{state.exactly(shown[0], state.usd(cost))} "
                   f"{vs or ''}")  # fmt: skip
    cols[1].metric("Calls", shown[1], state.change(calls, was("calls")), delta_color="off",
                   help=f"{state.exactly(shown[1], state.count(calls))} {vs or ''}".strip() or None)  # fmt: skip
    cols[2].metric("Error rate", state.pct(head["error_rate"]), state.change(head["error_rate"], was("error_rate")),
                   delta_color="inverse", help=f"Calls that ended in an error, after retries. {vs or ''}")  # fmt: skip
    cols[3].metric("Tokens", shown[2], state.change(tokens, was("total_tokens")), delta_color="inverse",
                   help=f"Input (uncached), cache read, cache write and output.{state.exactly(shown[2], state.count(tokens))} "
                   f"{vs or ''}")  # fmt: skip
    cols[4].metric("Cache hit ratio", state.pct(hit_ratio), state.change(hit_ratio, old_hit), help="Cache-read tokens / all input tokens")
    cols[5].metric("Caching saved", shown[3], state.change(saved, old_saved),
                   help="Cheaper cache reads minus the cache-write premium, at the prices each call was billed at."
                   + state.exactly(shown[3], state.usd(saved)) + _unknown_note(unknown))  # fmt: skip
    if unknown:  # under the tile, not only in its help: a figure that leaves calls out says so where it is read
        cols[5].caption(f"Not known for {state.count(unknown)} calls with cache tokens: left out.")

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
    keys = state.run("tag_keys", filters)["tag"].tolist()
    if keys:
        key = st.selectbox("Tag key", keys, key="tag_key", help="Spend per value of this tag; calls without it are 'untagged'")
        by_value = state.run_of(overview.cost_by_tag_over_time, filters, key)
        st.plotly_chart(charts.cost_by_tag_over_time(by_value, key, overview.UNTAGGED), key="cost_by_tag_over_time")
    else:
        st.plotly_chart(charts.empty("Spend rate per tag", "No tagged calls in this window (tracer.tags(feature=...))"), key="cost_by_tag_over_time")

    st.subheader("Per model")
    no_model = f"{NO_MODEL}: batch and other management calls, which name none." if NO_MODEL in set(by_model["model"]) else None
    first = ["cost_usd", "model"]  # cost first, as in every list
    state.table(by_model[[*first, *[c for c in by_model.columns if c not in first]]], "cost_by_model_table", caption=no_model)


if state.ready():
    st.title("Overview")
    state.live(panels)
