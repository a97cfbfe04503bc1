"""Latency: p50/p95/p99 per model or operation and over time, time to first token, output speed, distribution. The
operations timed are a choice on the page (Messages calls unless another is picked), and what is left out is said."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from claude_tracer_dashboard import charts, state
from tracer.read import Filters, latency

SPLIT_WORDS = {"model": "Model", "operation": "Operation"}


def _left_out(found: object, chosen: tuple[str, ...]) -> str:
    """The sentence naming every operation of the window the page does not time, with its calls."""
    parts = []
    for operation, calls, timed in found.itertuples(index=False):  # type: ignore[attr-defined]
        if operation in chosen:
            continue
        why = "" if timed else ": no latency of their own, their time is the batch queue's"
        parts.append(f"{latency.operation_label(operation)} ({int(calls):,} call{'' if calls == 1 else 's'}{why})")
    return "Left out: " + "; ".join(parts) + "." if parts else "Nothing left out."


def panels() -> None:
    filters = state.current()
    if state.no_calls_here(filters):
        return
    # The choices are the whole store's, so that a choice survives a change of time range.
    everywhere = state.run_of(latency.operations, Filters(), name_models=False)
    timed = [o for o, t in zip(everywhere["operation"], everywhere["timed"], strict=True) if t and isinstance(o, str)]
    left, right = st.columns([3, 1])
    chosen = left.multiselect("Operations timed", timed, default=list(latency.default_operations(everywhere)),
                              format_func=latency.operation_label, key="latency_ops",
                              help="Messages calls by default: count_tokens and the batch API's calls are other "
                                   "things to time.")  # fmt: skip
    by = right.segmented_control("Split by", list(SPLIT_WORDS), default="model", format_func=lambda s: SPLIT_WORDS[s],
                                 key="latency_split") or "model"  # fmt: skip
    operations = tuple(chosen) or tuple(timed)
    here = state.run_of(latency.operations, filters, name_models=False)
    st.caption(f"Timing {', '.join(latency.operation_label(o) for o in operations)}. {_left_out(here, operations)}")

    head = state.run_of(latency.latency_summary, filters, operations).iloc[0]
    unit, _ = charts.latency_unit(head["p99_ms"])  # one unit for the three tiles
    cols = st.columns(3)
    for col, percentile in zip(cols, charts.LATENCY_PERCENTILES, strict=True):
        thin = " (thin)" if latency.is_thin(head["calls"], percentile) else ""
        col.metric(f"{percentile} latency{thin}", charts.in_unit(head[f"{percentile}_ms"], unit),
                   help=f"Over {int(head['calls']):,} calls. {latency.THIN_METHOD}")  # fmt: skip

    extra = {"operations": operations, "split": by}

    def named(frame: pd.DataFrame) -> pd.DataFrame:  # operations by the names the page uses
        return frame.assign(operation=frame["operation"].map(latency.operation_label)) if by == "operation" else frame

    over_time = named(state.run("latency_over_time", filters, **extra))
    colours = state.colours()
    # One percentile at a time, one line per model: all of them on one chart was a tangle of a dozen lines.
    shown = st.segmented_control("Call latency percentile", charts.LATENCY_PERCENTILES, default="p95", key="latency_pct")
    st.plotly_chart(charts.latency_over_time(over_time, shown or "p95", colours, by), key="latency_over_time")
    left, right = st.columns(2)
    with left:
        shown = st.segmented_control("Time to first token percentile", charts.TTFT_PERCENTILES, default="p95", key="ttft_pct")
        st.plotly_chart(charts.ttft_over_time(over_time, shown or "p95", colours, by), key="ttft_over_time")
    histogram = named(state.run("latency_histogram", filters, **extra))
    right.plotly_chart(charts.latency_histogram(histogram, colours, by), key="latency_histogram")
    per_group = named(state.run("latency_by_model", filters, **extra))
    st.plotly_chart(charts.percentiles_by_model(per_group, by), key="percentiles_by_model")
    st.caption(f"{latency.THIN_METHOD} Axes stop at {charts.AXIS_METHOD} when one value would flatten the rest, and "
               "the title says so.")  # fmt: skip

    st.subheader(f"Per {by}")
    # Beside the calls that make a percentile thin or not, where the eye is (the table is wider than the screen).
    per_group.insert(2, "thin", [", ".join(p for p in charts.LATENCY_PERCENTILES if latency.is_thin(n, p)) or "no"
                                 for n in per_group["calls"]])  # fmt: skip
    state.table(per_group, "latency_table", caption="Whole calls, retries included, in ms. Time to first token: "
                "streamed calls only. Output speed: output tokens per second after the first token.")  # fmt: skip


if state.ready():
    st.title("Latency")
    state.live(panels)
