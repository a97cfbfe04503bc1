"""Plotly figures from the DataFrames of `tracer.read`. Pure: no `st.*`, no SQL, no I/O.

Each builder takes the frame its query returns and gives back a figure; an empty frame gives a figure that says
there is nothing to show (a panel never disappears, so the layout does not jump while data arrives).

One visual language: a model has one colour in every figure (`model_colours`, which pages compute once from every
model in the store and pass to each builder as `colours`), and so has an HTTP outcome (`STATUS_COLOURS`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from tracer import _money as money
from tracer._models import NO_MODEL
from tracer.read import latency

HEIGHT = 340
# Tableau 10 without its grey, which is kept for the calls that name no model.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
NO_MODEL_COLOUR = "#bab0ac"
STATE_COLOURS = {"closed": "#2ca02c", "half_open": "#ff9f1c", "open": "#d62728"}
# An attempt's or a call's outcome, the same on every chart ("error": a call that failed after its retries).
STATUS_COLOURS = {"ok": "#2ca02c", "429": "#ff9f1c", "529": "#9467bd", "5xx": "#d62728", "timeout": "#8c564b",
                  "connection": "#e377c2", "error": "#d62728", "other": "#7f7f7f"}  # fmt: skip
# Percentiles side by side: light to dark, so they read as one quantity growing and never as models.
PERCENTILE_COLOURS = {"p50": "#c6dbef", "p95": "#6baed6", "p99": "#08519c"}
Colours = Mapping[str, str]


def model_colours(models: Iterable[object]) -> dict[str, str]:
    """Each model's colour: the palette slot its name hashes to (crc32: the same in every process and session),
    or the next free slot when another model took it; grey for `NO_MODEL`. Give it every model in the store, not
    one chart's, so that a model keeps its colour whatever the filters leave on a chart.

    >>> colours = model_colours(["claude-opus-4-8", "claude-haiku-4-5", None])
    >>> colours == model_colours(["claude-haiku-4-5", "claude-opus-4-8"]) | {NO_MODEL: NO_MODEL_COLOUR}
    True
    >>> nine = model_colours(f"m{i}" for i in range(len(PALETTE)))      # as many models as colours: all differ
    >>> len({nine[f"m{i}"] for i in range(len(PALETTE))}) == len(PALETTE)
    True
    """
    out = {NO_MODEL: NO_MODEL_COLOUR}
    free = list(range(len(PALETTE)))
    for name in sorted({m for m in models if isinstance(m, str) and m != NO_MODEL}):
        slot = zlib.crc32(name.encode()) % len(PALETTE)
        if free:  # past nine models colours repeat: there is no tenth distinguishable one
            while slot not in free:
                slot = (slot + 1) % len(PALETTE)
            free.remove(slot)
        out[name] = PALETTE[slot]
    return out


def _colours(frame: pd.DataFrame, colours: Colours | None) -> dict[str, str]:
    """`colours` with any model of `frame` it lacks (one that arrived after the page computed it) added."""
    given = dict(colours or {})
    missing = [m for m in frame["model"].unique() if m not in given] if "model" in frame else []
    return given | {m: c for m, c in model_colours(missing).items() if m not in given} if missing else given


def _layout(fig: go.Figure, title: str, *, height: int = HEIGHT, legend: bool = True) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "font": {"size": 15}},
        height=height,
        margin={"l": 10, "r": 10, "t": 45, "b": 10},
        showlegend=legend,
        # Anchored at its top below the axis title, so that it grows downwards instead of over the axis title.
        legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0, "title": None},
        hovermode="closest",
    )
    return fig


def empty(title: str, message: str) -> go.Figure:
    """A figure that says why it has nothing to show (a panel never disappears, so the layout does not jump)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 14, "color": "#888"}, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, legend=False)


def bucket_words(seconds: int) -> str:
    """A bucket width as a person says it.

    >>> bucket_words(900), bucket_words(3600), bucket_words(86400), bucket_words(5), bucket_words(10800)
    ('15-minute', '1-hour', '1-day', '5-second', '3-hour')
    """
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}-{unit}"
    return f"{seconds}-second"


def _width(frame: pd.DataFrame) -> int | None:
    return int(frame["bucket_s"].iloc[0]) if "bucket_s" in frame and not frame.empty else None


def _per(frame: pd.DataFrame) -> tuple[str, float]:
    """The rate a cost over time reads best in, and what turns one bucket's sum into it: per hour for buckets up to
    a few hours, per day beyond (a day of one-week buckets is a smaller number than a week, and still a rate)."""
    width = _width(frame) or 3600
    return ("day", 86400 / width) if width >= 86400 else ("hour", 3600 / width)


def _in_buckets(title: str, frame: pd.DataFrame) -> str:
    width = _width(frame)
    return f"{title}, {bucket_words(width)} buckets" if width else title


# --------------------------------------------------------------------------------------------------------------
# Overview
# --------------------------------------------------------------------------------------------------------------


def cost_by_model(frame: pd.DataFrame, colours: Colours | None = None) -> go.Figure:
    title = "Cost per model (USD)"
    priced = frame.dropna(subset=["cost_usd"]) if not frame.empty else frame
    if priced.empty:
        return empty(title, "No priced calls in this window (unpriced models have no cost, not $0)")
    fig = px.bar(priced, x="model", y="cost_usd", color="model", hover_data=["calls"], color_discrete_map=_colours(priced, colours))
    # Enough digits for the cheapest model's bar too: ".2f" labels a $0.003 model "0.00".
    fig.update_traces(texttemplate=f"$%{{y:{money.plotly_format(priced['cost_usd'])}}}", textposition="auto")
    fig.update_yaxes(title="USD", tickprefix="$")
    fig.update_xaxes(title=None)
    return _layout(fig, title, legend=False)


def cost_over_time(frame: pd.DataFrame, colours: Colours | None = None) -> go.Figure:
    """Spend as a rate (USD per hour, or per day for day-wide buckets) per model, stacked: a rate reads the same
    whatever bucket the window chose, and a bucket's own sum is in the hover."""
    unit, factor = _per(frame)
    title = _in_buckets(f"Spend rate (USD per {unit}) per model", frame)
    priced = frame.dropna(subset=["cost_usd"]) if not frame.empty else frame
    if priced.empty:
        return empty(title, "No priced calls in this window")
    rate = f"usd_per_{unit}"
    shown = priced.assign(**{rate: priced["cost_usd"] * factor})
    fig = px.bar(shown, x="bucket", y=rate, color="model", hover_data={"calls": True, "tokens": True, "cost_usd": ":$.6f"},
                 color_discrete_map=_colours(shown, colours), labels={rate: f"USD/{unit[0]}", "cost_usd": "USD in bucket"})
    fig.update_layout(barmode="stack", bargap=0.05)
    fig.update_yaxes(title=f"USD per {unit}", tickprefix="$")
    fig.update_xaxes(title=None)
    return _layout(fig, title)


TOKEN_KINDS = {
    "input_tokens": "input (uncached)",
    "cache_read_tokens": "cache read",
    "cache_write_tokens": "cache write",
    "output_tokens": "output",
}
TOKEN_COLOURS = {"input (uncached)": "#9ecae1", "cache read": "#3182bd", "cache write": "#fdae6b", "output": "#636363"}


def tokens_by_kind(frame: pd.DataFrame) -> go.Figure:
    """Stacked bars per model from the `cost_by_model` frame."""
    title = "Tokens by kind per model"
    if frame.empty:
        return empty(title, "No calls in this window")
    long = frame.melt(id_vars=["model"], value_vars=list(TOKEN_KINDS), var_name="kind", value_name="tokens")
    long["kind"] = long["kind"].map(TOKEN_KINDS)
    fig = px.bar(long, y="model", x="tokens", color="kind", orientation="h", color_discrete_map=TOKEN_COLOURS)
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title=None)
    return _layout(fig, title)


def cache_savings(frame: pd.DataFrame) -> go.Figure:
    title = "What prompt caching saved (USD)"
    priced = frame.dropna(subset=["saved_usd"]) if not frame.empty else frame
    if priced.empty or not priced["cache_read_tokens"].any():
        return empty(title, "No cache reads in this window")
    long = pd.DataFrame(
        {
            "model": list(priced["model"]) * 2,
            "part": ["cheaper cache reads"] * len(priced) + ["cache write premium"] * len(priced),
            "usd": list(priced["read_saved_usd"]) + list(-priced["write_premium_usd"]),
        }
    )
    fig = px.bar(long, x="model", y="usd", color="part", color_discrete_map={"cheaper cache reads": "#2ca02c", "cache write premium": "#d62728"})
    fig.update_layout(barmode="relative")
    fig.update_yaxes(title="USD", tickprefix="$")
    fig.update_xaxes(title=None)
    return _layout(fig, title)


UNTAGGED_COLOUR = "#d0d0d0"


def cost_by_tag_over_time(frame: pd.DataFrame, key: str, untagged: str = "(untagged)") -> go.Figure:
    """Spend rate per value of one tag key, stacked, the calls without the key in grey: the stack is the whole
    spend, so the untagged share is what attribution still misses. Its share of the window is in the title."""
    unit, factor = _per(frame)
    title = _in_buckets(f"Spend rate per {key} (USD per {unit})", frame)
    priced = frame.dropna(subset=["cost_usd"]) if not frame.empty else frame
    if priced.empty:
        return empty(title, "No priced calls in this window")
    total = priced["cost_usd"].sum()
    share = priced.loc[priced["value"] == untagged, "cost_usd"].sum() / total if total else 0.0
    title = f"{title}: {share:.1%} untagged"
    rate = f"usd_per_{unit}"
    shown = priced.assign(**{rate: priced["cost_usd"] * factor})
    values = [v for v in shown.groupby("value")["cost_usd"].sum().sort_values(ascending=False).index if v != untagged]
    palette = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(values)} | {untagged: UNTAGGED_COLOUR}
    fig = px.bar(shown, x="bucket", y=rate, color="value", hover_data={"calls": True, "cost_usd": ":$.6f"},
                 category_orders={"value": [*values, untagged]}, color_discrete_map=palette,
                 labels={rate: f"USD/{unit[0]}", "cost_usd": "USD in bucket", "value": key})  # fmt: skip
    fig.update_layout(barmode="stack", bargap=0.05)
    fig.update_yaxes(title=f"USD per {unit}", tickprefix="$")
    fig.update_xaxes(title=None)
    return _layout(fig, title)


def hourly_spend(frame: pd.DataFrame) -> go.Figure:
    """Spend per hour (USD per hour, 1-hour buckets) with its trailing baseline (mean + 3 standard deviations: the
    anomaly threshold) and the anomalous hours in red."""
    title = "Spend rate (USD per hour), 1-hour buckets, against the trailing baseline"
    if frame.empty or not frame["spend_usd"].any():
        return empty(title, "No spend in the last 48 hours")
    colours = [MISS_COLOUR if a else PALETTE[0] for a in frame["anomaly"]]
    fig = go.Figure()
    fig.add_bar(x=frame["hour"], y=frame["spend_usd"], name="spend", marker_color=colours,
                hovertemplate="%{x}: $%{y:,.6f}<extra></extra>")  # fmt: skip
    limit = frame["baseline_usd"].astype("float64") + 3 * frame["baseline_sd_usd"].astype("float64")
    if limit.notna().any():
        fig.add_scatter(x=frame["hour"], y=limit, mode="lines", name="anomaly threshold (baseline + 3 sd)",
                        line={"color": "#7f7f7f", "dash": "dot"})  # fmt: skip
    fig.update_yaxes(title="USD per hour", tickprefix="$")
    fig.update_xaxes(title=None)
    return _layout(fig, title)


def cost_by_tag(frame: pd.DataFrame) -> go.Figure:
    title = "Cost by tag"
    priced = frame.dropna(subset=["cost_usd"]) if not frame.empty else frame
    if priced.empty:
        return empty(title, "No tagged calls in this window (tracer.tags(feature=...))")
    priced = priced.assign(label=priced["tag"] + "=" + priced["value"].astype(str))
    fig = px.bar(priced, y="label", x="cost_usd", color="tag", orientation="h", hover_data=["calls"])
    fig.update_yaxes(title=None, categoryorder="total ascending")
    fig.update_xaxes(title="USD", tickprefix="$")
    return _layout(fig, title)


# --------------------------------------------------------------------------------------------------------------
# Latency
# --------------------------------------------------------------------------------------------------------------


LATENCY_PERCENTILES = ("p50", "p95", "p99")
TTFT_PERCENTILES = ("p50", "p95")
THIN_COLOUR = "#7f7f7f"
AXIS_METHOD = "Q3 + 3 x IQR of the values drawn (Tukey's far-out fence), when the largest is over twice that"


def robust_top(values: Iterable[float]) -> float | None:
    """Where a latency axis stops so that one very slow value does not flatten the rest: Tukey's far-out fence
    (Q3 + 3 IQR) of the values drawn, when the largest is over twice the fence (the others would get under half the
    height); None otherwise: a value just past the fence flattens nothing, and clipping it would only hide it.

    >>> robust_top([900, 1000, 1100, 1200, 70_000])
    1800.0
    >>> robust_top([900, 1000, 1100, 1200, 1300]) is None, robust_top([900, 1000, 1100, 1200, 3000]) is None
    (True, True)
    """
    found = sorted(float(v) for v in values if v is not None and pd.notna(v))
    if len(found) < 4:
        return None
    q1, q3 = (float(q) for q in pd.Series(found).quantile([0.25, 0.75]))
    fence = q3 + 3 * (q3 - q1)
    return fence if fence > 0 and found[-1] > 2 * fence else None


def latency_unit(top_ms: float | None) -> tuple[str, float]:
    """One unit for a whole chart (or row of tiles): seconds when its axis reaches 10 s, else ms.

    >>> latency_unit(9_000), latency_unit(70_000)
    (('ms', 1.0), ('s', 1000.0))
    """
    return ("s", 1000.0) if top_ms is not None and top_ms >= 10_000 else ("ms", 1.0)


def _fmt(unit: str) -> str:
    return ",.2f" if unit == "s" else ",.0f"


def in_unit(value_ms: float | None, unit: str) -> str:
    """A latency in `unit` ("ms" or "s", from `latency_unit`), as the charts write it.

    >>> in_unit(1234.5, "ms"), in_unit(70_123, "s"), in_unit(None, "s")
    ('1,234 ms', '70.12 s', 'n/a')
    """
    if value_ms is None or pd.isna(value_ms):
        return "n/a"
    return f"{value_ms / (1000.0 if unit == 's' else 1.0):{_fmt(unit)}} {unit}"


def _group_colours(frame: pd.DataFrame, by: str, colours: Colours | None) -> dict[str, str]:
    return _colours(frame, colours) if by == "model" else model_colours(frame[by].dropna().unique())


def _percentile_line(
    frame: pd.DataFrame, column: str, title: str, colours: Colours | None, by: str = "model", count: str = "calls"
) -> go.Figure:
    """One line per model (or operation, `by`) for one percentile: a person compares them, then switches
    percentile. A point from a bucket with too few calls (`count`) for its percentile is drawn hollow ("thin"); the
    axis stops at `robust_top` when one point would flatten the others, and says so."""
    title = _in_buckets(title, frame)
    if frame.empty or column not in frame or not frame[column].notna().any():
        return empty(title, "No timed calls in this window" if column.startswith("p") else "No streamed calls in this window")
    shown = frame.dropna(subset=[column]).copy()
    top = robust_top(shown[column])
    unit, per = latency_unit(top if top is not None else shown[column].max())
    shown["value"] = shown[column] / per
    percentile = column.removeprefix("ttft_").removesuffix("_ms")
    fig = px.line(shown, x="bucket", y="value", color=by, markers=len(frame) < 40, hover_data=[count],
                  color_discrete_map=_group_colours(shown, by, colours))  # fmt: skip
    thin = shown[shown[count] < latency.min_calls(int(percentile[1:]) / 100)]
    if not thin.empty:
        fig.add_scatter(x=thin["bucket"], y=thin["value"], mode="markers", name=f"thin: < {latency.min_calls(int(percentile[1:]) / 100)} {count}",
                        marker={"symbol": "circle-open", "size": 9, "color": THIN_COLOUR, "line": {"width": 2}},
                        customdata=thin[[count]], hovertemplate=f"thin: %{{customdata[0]}} {count}<extra></extra>")  # fmt: skip
    if top is not None:
        above = shown[shown[column] > top]
        fig.add_scatter(x=above["bucket"], y=[top / per] * len(above), mode="markers", name="above the axis",
                        marker={"symbol": "triangle-up", "size": 11, "color": "#d62728"}, customdata=above[["value"]],
                        hovertemplate=f"%{{customdata[0]:{_fmt(unit)}}} {unit}<extra>above the axis</extra>")  # fmt: skip
        fig.update_yaxes(range=[0, top / per * 1.04])
        title += f"; axis clipped at {top / per:{_fmt(unit)}} {unit}: {len(above)} point(s) above"
    fig.update_yaxes(title=unit, rangemode="tozero")
    fig.update_xaxes(title=None)
    return _layout(fig, title, height=380)


def latency_over_time(frame: pd.DataFrame, percentile: str = "p95", colours: Colours | None = None, by: str = "model") -> go.Figure:
    """Call duration over time, one line per model (or operation), at `percentile` (one of `LATENCY_PERCENTILES`)."""
    return _percentile_line(frame, f"{percentile}_ms", f"Call latency {percentile} per {by}", colours, by)


def ttft_over_time(frame: pd.DataFrame, percentile: str = "p95", colours: Colours | None = None, by: str = "model") -> go.Figure:
    """Time to first token over time (streamed calls), one line per model (or operation), at `percentile`."""
    return _percentile_line(frame, f"ttft_{percentile}_ms", f"Time to first token {percentile} per {by} (streams)",
                            colours, by, count="streams")  # fmt: skip


def latency_histogram(frame: pd.DataFrame, colours: Colours | None = None, by: str = "model") -> go.Figure:
    title = "Latency distribution"
    if frame.empty:
        return empty(title, "No timed calls in this window (Message Batches results have no latency)")
    palette = _group_colours(frame, by, colours)
    unit, per = latency_unit(frame["bin_end_ms"].max())
    fig = go.Figure()
    for group, rows in frame.groupby(by, sort=True):
        fig.add_bar(
            name=str(group),
            x=(rows["bin_start_ms"] + rows["bin_end_ms"]) / 2 / per,
            y=rows["calls"],
            width=(rows["bin_end_ms"] - rows["bin_start_ms"]) / per,
            opacity=0.65,
            marker_color=palette.get(str(group)),
            customdata=rows[["bin_start_ms", "bin_end_ms"]] / per,
            hovertemplate=f"%{{customdata[0]:{_fmt(unit)}}}-%{{customdata[1]:{_fmt(unit)}}} {unit}: %{{y}} calls",
        )
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title=f"{unit} (slowest 1% in the last bin)")
    fig.update_yaxes(title="calls")
    return _layout(fig, title)


def percentiles_by_model(frame: pd.DataFrame, by: str = "model") -> go.Figure:
    """p50/p95/p99 side by side per model (or operation). A thin percentile (too few calls behind it) is hatched
    and labelled; the axis stops at `robust_top` when one bar would flatten the rest (its label keeps the value)."""
    title = f"Latency percentiles per {by}"
    if frame.empty:
        return empty(title, "No timed calls in this window (Message Batches results have no latency)")
    values = frame[["p50_ms", "p95_ms", "p99_ms"]].to_numpy().ravel()
    top = robust_top(values)
    unit, per = latency_unit(top if top is not None else pd.Series(values).max())
    fig = go.Figure()
    names = [str(v) for v in frame[by]]
    for percentile in LATENCY_PERCENTILES:
        ms = frame[f"{percentile}_ms"]
        thin = [latency.is_thin(n, percentile) for n in frame["calls"]]
        fig.add_bar(
            name=percentile, x=names, y=ms / per, marker_color=PERCENTILE_COLOURS[percentile],
            marker_pattern_shape=["/" if t else "" for t in thin],
            text=[("n/a" if pd.isna(v) else f"{v / per:{_fmt(unit)}}") + (" thin" if t else "") for v, t in zip(ms, thin, strict=True)],
            textposition=["inside" if top is not None and v > top else "outside" for v in ms], cliponaxis=False,
            hovertemplate=f"%{{x}} {percentile}: %{{y:{_fmt(unit)}}} {unit}<extra></extra>",
        )  # fmt: skip
    fig.update_layout(barmode="group")
    if top is not None:
        fig.update_yaxes(range=[0, top / per * 1.08])
        title += f"; axis clipped at {top / per:{_fmt(unit)}} {unit} (taller bars keep their value)"
    elif pd.Series(values).notna().any():  # room above the tallest bar for its label
        fig.update_yaxes(range=[0, float(pd.Series(values).max()) / per * 1.12])
    fig.update_yaxes(title=unit)
    fig.update_xaxes(title=None)
    return _layout(fig, title)


# --------------------------------------------------------------------------------------------------------------
# Reliability
# --------------------------------------------------------------------------------------------------------------

RATE_KINDS = {"rate_429": "429 rate limited", "rate_529": "529 overloaded", "rate_5xx": "other 5xx", "rate_timeout": "timeouts"}


def error_rates_over_time(frame: pd.DataFrame, colours: Colours | None = None) -> go.Figure:
    title = _in_buckets("Share of HTTP attempts failing, by kind", frame)
    if frame.empty:
        return empty(title, "No HTTP attempts recorded in this window")
    long = frame.melt(id_vars=["bucket", "model"], value_vars=list(RATE_KINDS), var_name="kind", value_name="rate")
    long["kind"] = long["kind"].map(RATE_KINDS)
    fig = px.line(long, x="bucket", y="rate", color="model", facet_row="kind", category_orders={"kind": list(RATE_KINDS.values())},
                  color_discrete_map=_colours(long, colours))
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_yaxes(title=None, tickformat=".0%", rangemode="tozero", matches=None)
    fig.update_xaxes(title=None)
    return _layout(fig, title, height=560)


def attempts_distribution(frame: pd.DataFrame) -> go.Figure:
    title = "HTTP attempts per call"
    if frame.empty:
        return empty(title, "No calls in this window")
    # Side by side: stacked bars on a log axis draw the upper segment's height meaninglessly.
    fig = px.bar(frame.assign(attempts=frame["attempts"].astype(str)), x="attempts", y="calls", color="status",
                 color_discrete_map=STATUS_COLOURS, text_auto=True, barmode="group")
    # Ticks at powers of ten only, written out: Plotly's default log ticks read "2, 1000, 5, 2, 100".
    fig.update_yaxes(type="log", title="calls (log scale)", dtick=1, tickformat=",d", minor={"showgrid": False})
    order = sorted({str(a) for a in frame["attempts"]}, key=int)  # else categories follow first appearance
    fig.update_xaxes(title="attempts", type="category", categoryorder="array", categoryarray=order)
    return _layout(fig, title)


def retries_by_model(frame: pd.DataFrame, colours: Colours | None = None) -> go.Figure:
    title = "Retries per call"
    if frame.empty:
        return empty(title, "No calls in this window")
    fig = px.bar(frame, x="model", y="retries_per_call", color="model", text_auto=".3f", hover_data=["calls", "retries", "retried_calls"],
                 color_discrete_map=_colours(frame, colours))
    fig.update_xaxes(title=None)
    fig.update_yaxes(title="retries / call")
    return _layout(fig, title, legend=False)


def ratelimit_headroom(frame: pd.DataFrame, colours: Colours | None = None) -> go.Figure:
    title = _in_buckets("Rate-limit headroom (lowest remaining per bucket)", frame)
    if frame.empty:
        return empty(title, "No rate-limit headers recorded in this window")
    long = frame.melt(id_vars=["bucket", "model"], value_vars=["requests_remaining", "tokens_remaining"], var_name="limit", value_name="remaining")
    long["limit"] = long["limit"].map({"requests_remaining": "requests", "tokens_remaining": "tokens"})
    shown = long.dropna(subset=["remaining"])
    fig = px.line(shown, x="bucket", y="remaining", color="model", facet_row="limit", color_discrete_map=_colours(shown, colours))
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=")[-1]))
    fig.update_yaxes(title=None, matches=None, rangemode="tozero")
    fig.update_xaxes(title=None)
    return _layout(fig, title, height=460)


def breaker_timeline(frame: pd.DataFrame) -> go.Figure:
    title = "Circuit breaker states"
    if frame.empty:
        return empty(title, "No circuit breaker transitions in this window")
    fig = px.timeline(frame, x_start="start", x_end="finish", y="name", color="state", color_discrete_map=STATE_COLOURS,
                      hover_data=["from_state"])
    fig.update_yaxes(title=None)
    # Zoomed to the transitions: the last state lasts until now, which squeezed seconds of open periods to 2 px.
    first, last = pd.Timestamp(frame["start"].min()), pd.Timestamp(frame["start"].max())
    pad = max((last - first) * 0.25, pd.Timedelta(milliseconds=10))
    fig.update_xaxes(range=[first - pad, last + pad], title="zoomed to the transitions; the last state lasts until now")
    return _layout(fig, title, height=max(220, 90 + 45 * frame["name"].nunique()))


# --------------------------------------------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------------------------------------------


def calls_over_time(frame: pd.DataFrame) -> go.Figure:
    """Calls per minute (or per hour, for wide buckets) by final status, stacked: select bars (click, or drag a box)
    to narrow the list under it to those calls. Each bar carries its bucket's start (epoch seconds), width and
    status as `customdata`, which the page reads back from the selection."""
    unit, factor = _per(frame)
    if unit == "hour" and (_width(frame) or 3600) < 3600:
        unit, factor = "minute", factor / 60
    title = _in_buckets(f"Calls per {unit} by status (select bars to narrow the list)", frame)
    if frame.empty:
        return empty(title, "No calls match these filters")
    fig = go.Figure()
    for status, rows in frame.groupby("status", sort=True):
        starts = [pd.Timestamp(b).timestamp() for b in rows["bucket"]]
        fig.add_bar(
            x=rows["bucket"], y=rows["calls"] * factor, name=str(status),
            marker_color=STATUS_COLOURS.get(str(status), STATUS_COLOURS["other"]),
            customdata=[[start, int(w), str(status)] for start, w in zip(starts, rows["bucket_s"], strict=True)],
            hovertext=[f"{int(n):,} calls" for n in rows["calls"]],
            hovertemplate="%{x}: %{hovertext}<extra>%{fullData.name}</extra>",
        )  # fmt: skip
    fig.update_layout(barmode="stack", bargap=0.05, dragmode="select")
    fig.update_yaxes(title=f"calls per {unit}")
    fig.update_xaxes(title=None)
    return _layout(fig, title, height=260)


def outcome(stored: object) -> str:
    """The colour class of one attempt: its `outcome` column, decided at capture (`tracer._derived`)."""
    return stored if isinstance(stored, str) and stored in STATUS_COLOURS else "other"


def attempts_waterfall(frame: pd.DataFrame, *, title: str = "Attempts of this call") -> go.Figure:
    """One bar per attempt from its offset in the call, and a grey bar for each wait between attempts."""
    if frame.empty:
        return empty(title, "No attempts recorded for this call")
    rows = frame.sort_values("attempt")
    labels: Sequence[str] = [f"attempt {int(a)}" for a in rows["attempt"]]
    fig = go.Figure()
    gaps = rows["gap_ms"].fillna(0).clip(lower=0)
    waits = []
    for retry_after in rows["retry_after_s"].shift(1):
        waits.append(f"retry-after {retry_after:g} s" if pd.notna(retry_after) else "backoff")
    fig.add_bar(
        y=labels, x=gaps, base=rows["offset_ms"] - gaps, orientation="h", name="wait before attempt",
        marker_color="#d0d0d0", text=[w if g > 0 else "" for w, g in zip(waits, gaps, strict=True)], textposition="inside",
        hovertemplate="waited %{x:.0f} ms<extra></extra>",
    )
    kinds = [outcome(o) for o in rows["outcome"]] if "outcome" in rows else ["other"] * len(rows)
    for kind in dict.fromkeys(kinds):
        mask = [k == kind for k in kinds]
        part = rows[mask]
        fig.add_bar(
            y=[label for label, m in zip(labels, mask, strict=True) if m], x=part["duration_ms"], base=part["offset_ms"],
            orientation="h", name=kind, marker_color=STATUS_COLOURS[kind],
            text=[f"{'' if pd.isna(s) else int(s)} {'' if e is None or pd.isna(e) else e}".strip() for s, e in zip(part["http_status"], part["error_type"], strict=True)],
            textposition="inside", hovertemplate="%{base:.0f} ms + %{x:.0f} ms<extra></extra>",
        )
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_xaxes(title="ms since the call started")
    return _layout(fig, title, height=max(200, 110 + 40 * len(rows)))


# --------------------------------------------------------------------------------------------------------------
# Agent runs and conversations
# --------------------------------------------------------------------------------------------------------------

# The spans around calls: greys, darker the closer to the model, so that colour stays for models and outcomes.
SPAN_KINDS = {"span": "application span", "agent": "tool runner", "tool": "tool execution"}
SPAN_COLOURS = {"application span": "#c5cbd3", "tool runner": "#7b8594", "tool execution": "#3f4752"}
WAIT_COLOUR = "#e3e3e3"
BAR_WIDTH = 0.7  # in rows: set, since Plotly would size each trace's bars by the gaps between its own rows
MISS_COLOUR = "#d62728"


def span_label(row: Mapping[str, object]) -> str:
    """What a person calls one row of a run's tree ("call claude-sonnet-5", "tool lookup_order", "attempt 1 · 429")."""
    kind = row.get("type")
    if kind == "call":
        model = row.get("model")
        return f"call {model if isinstance(model, str) else row.get('operation') or row.get('name')}"
    if kind == "attempt":
        status, error = row.get("http_status"), row.get("error_type")
        what = error if isinstance(error, str) else "" if status is None or pd.isna(status) else str(int(status))  # type: ignore[call-overload]
        return f"{row.get('name')} · {what}" if what else str(row.get("name"))
    if kind == "agent":
        return "tool runner"
    if kind == "tool":
        tool = row.get("tool_name")
        return f"tool {tool}" if isinstance(tool, str) else str(row.get("name"))
    return str(row.get("name"))


def _tokens(row: Mapping[str, object]) -> float | None:
    parts = [row.get(c) for c in ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens")]
    present = [float(p) for p in parts if p is not None and not pd.isna(p)]  # type: ignore[arg-type]
    return sum(present) if present else None


def _bar_text(duration: float, tokens: float | None, cost: float | None) -> str:
    text = f"{duration:,.0f} ms" if duration >= 1 or duration == 0 else f"{duration:.2f} ms"
    if tokens:
        text += f" · {tokens:,.0f} tok"
    if cost is not None and not pd.isna(cost):
        text += f" · {money.usd(cost)}"
    return text


def run_waterfall(tree: pd.DataFrame, colours: Colours | None = None, *, title: str = "This run, span by span") -> go.Figure:
    """One run (the frame of `trace_tree`) as a waterfall: a row per span in tree order, its name indented by depth
    on the left, a bar from its offset for its duration on the right: application spans and tool spans in greys,
    calls in their model's colour, attempts in their outcome's, and the wait before a retried attempt in light grey.
    Each bar says its duration, tokens and cost."""
    if tree.empty:
        return empty(title, "No spans stored for this run")
    from plotly.subplots import make_subplots

    rows = tree.reset_index(drop=True)
    records = rows.to_dict("records")
    y = list(range(len(rows)))
    cost_column = "cost_usd_double" if "cost_usd_double" in rows else "cost_usd"
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.3, 0.7], horizontal_spacing=0.005)
    depth = [int(d) for d in rows["depth"]]
    labels = [span_label(r) for r in records]
    fig.add_scatter(
        x=depth, y=y, text=[("└ " if d else "") + label for d, label in zip(depth, labels, strict=True)],
        mode="text", textposition="middle right", textfont={"size": 13, "color": "#31333f"}, showlegend=False,
        hoverinfo="skip", name="span names", row=1, col=1,
    )  # fmt: skip

    # The wait before each retried attempt: from the end of the attempt before it (same call) to its start.
    waits_y, waits_base, waits_x = [], [], []
    previous_end: dict[object, float] = {}
    for i, r in enumerate(records):
        if r["type"] != "attempt":
            continue
        start, end = float(r["offset_ms"]), float(r["offset_ms"]) + float(r["duration_ms"] or 0)
        before = previous_end.get(r["parent_span_id"])
        if before is not None and start > before:
            waits_y.append(i)
            waits_base.append(before)
            waits_x.append(start - before)
        previous_end[r["parent_span_id"]] = end
    if waits_y:
        fig.add_bar(
            y=waits_y, x=waits_x, base=waits_base, width=BAR_WIDTH, orientation="h", name="wait before attempt", marker_color=WAIT_COLOUR,
            text=[f"waited {w:,.0f} ms" for w in waits_x], textposition="inside", insidetextanchor="middle",
            hovertemplate="waited %{x:,.0f} ms<extra></extra>", row=1, col=2,
        )  # fmt: skip

    palette = _colours(rows[rows["type"] == "call"], colours) if "model" in rows else dict(colours or {})
    groups: dict[str, tuple[str, list[int]]] = {}
    for i, r in enumerate(records):
        if r["type"] == "call":
            model = r.get("model") if isinstance(r.get("model"), str) else NO_MODEL
            name, colour = str(model), palette.get(str(model), NO_MODEL_COLOUR)
        elif r["type"] == "attempt":
            name = outcome(r.get("outcome"))
            colour = STATUS_COLOURS[name]
        else:
            name = SPAN_KINDS.get(str(r["type"]), "application span")
            colour = SPAN_COLOURS[name]
        groups.setdefault(name, (colour, []))[1].append(i)
    for name, (colour, members) in groups.items():
        part = [records[i] for i in members]
        durations = [float(r["duration_ms"] or 0) for r in part]
        tokens = [_tokens(r) for r in part]
        costs = [None if r.get(cost_column) is None or pd.isna(r.get(cost_column)) else float(r[cost_column]) for r in part]
        failed = [r.get("status") == "error" for r in part]
        fig.add_bar(
            y=members, x=durations, base=[float(r["offset_ms"]) for r in part], width=BAR_WIDTH, orientation="h", name=name,
            marker={"color": colour, "line": {"color": [MISS_COLOUR if f else colour for f in failed], "width": 2}},
            text=[_bar_text(d, t, c) for d, t, c in zip(durations, tokens, costs, strict=True)],
            textposition="outside", cliponaxis=False,
            customdata=[[labels[i], r.get("status") or "", r.get("error_type") or ""] for i, r in zip(members, part, strict=True)],
            hovertemplate="%{customdata[0]}<br>starts at %{base:,.1f} ms, lasts %{x:,.1f} ms<br>%{text}"
                          "<br>status %{customdata[1]} %{customdata[2]}<extra></extra>",
            row=1, col=2,
        )  # fmt: skip
    end = max(float(o) + float(d or 0) for o, d in zip(rows["offset_ms"], rows["duration_ms"], strict=True))
    fig.update_layout(barmode="overlay", bargap=0.25)
    fig.update_yaxes(autorange="reversed", showticklabels=False, showgrid=False, zeroline=False)
    fig.update_xaxes(visible=False, range=[-0.2, max(depth) + 6], row=1, col=1)
    # Room on the right for the last bar's label.
    fig.update_xaxes(title="ms since the run started", range=[0, max(end, 1.0) * 1.3], rangemode="tozero", row=1, col=2)
    return _layout(fig, title, height=max(220, 130 + 30 * len(rows)))


def conversation_turns(turns: pd.DataFrame, colours: Colours | None = None, *, title: str = "Per turn") -> go.Figure:
    """One conversation (the frame of `conversation_turns`), turn by turn: cost, latency, and cache read and write
    tokens, with each cache miss (a turn that wrote its prefix again: `cache_rewrite`) marked in red."""
    if turns.empty:
        return empty(title, "No turns stored for this conversation")
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.09,
        subplot_titles=("Cost (USD)", "Latency (ms)", "Cache tokens (misses in red)"),
    )  # fmt: skip
    palette = _colours(turns, colours)
    cost_format = money.plotly_format(turns["cost_usd"])
    for model, rows in turns.groupby("model", sort=True):
        colour = palette.get(str(model), NO_MODEL_COLOUR)
        fig.add_bar(x=rows["turn"], y=rows["cost_usd"], name=str(model), marker_color=colour, legendgroup=str(model),
                    hovertemplate=f"turn %{{x}}: $%{{y:{cost_format}}}<extra></extra>", row=1, col=1)  # fmt: skip
        fig.add_bar(x=rows["turn"], y=rows["duration_ms"], name=str(model), marker_color=colour, legendgroup=str(model),
                    showlegend=False, hovertemplate="turn %{x}: %{y:,.0f} ms<extra></extra>", row=2, col=1)  # fmt: skip
    for column, kind in (("cache_read_tokens", "cache read"), ("cache_write_tokens", "cache write")):
        fig.add_bar(x=turns["turn"], y=turns[column].fillna(0), name=kind, marker_color=TOKEN_COLOURS[kind],
                    hovertemplate=f"turn %{{x}}: %{{y:,.0f}} {kind} tokens<extra></extra>", row=3, col=1)  # fmt: skip
    misses = turns[turns["cache_rewrite"].fillna(False).astype(bool)]
    if not misses.empty:
        top = turns[["cache_read_tokens", "cache_write_tokens"]].fillna(0).to_numpy().max()
        fig.add_scatter(
            x=misses["turn"], y=[top * 1.12] * len(misses), mode="markers+text", name="cache miss (prefix written again)",
            marker={"symbol": "triangle-down", "size": 13, "color": MISS_COLOUR}, text=["cache miss"] * len(misses),
            textposition="top center", textfont={"color": MISS_COLOUR}, row=3, col=1,
            hovertemplate="turn %{x}: the cached prefix was written again<extra></extra>",
        )  # fmt: skip
        fig.update_yaxes(range=[0, top * 1.35], row=3, col=1)
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="turn", dtick=1, row=3, col=1)
    fig.update_yaxes(tickprefix="$", tickformat=",.6~f", row=1, col=1)  # not "$100µ"
    return _layout(fig, title, height=640)
