"""How long the dashboard's server takes to render its pages over 1,000,000 calls (goals: a warm page and a filter
change at most 1 s; a cold render under 2 s).

    .venv/bin/python benchmarks/dashboard.py [--calls 1000000] [--store DIR] [--runs 5] [--pages overview,traces]

Writes a synthetic store (`tracer.read.synthetic`: a week of calls with their attempts and events, as Parquet
segments like a real store) unless --store names one, then renders the page with Streamlit's AppTest, which runs
the page script as the server does for a browser session:

- prepare: what `tracer dashboard` does before it starts the server: the store's reader cache brought up to date
  (for a new store, every segment loaded: a first open), with progress on the command line;
- server start: what the server process loads before it answers (`claude_tracer_dashboard._serve.warm`: the pages'
  imports, a first chart, the price table); `tracer dashboard` runs it beside `prepare`;
- first render: the store opened from that current cache and every query run (a new dashboard process, the first
  visitor, after the server started);
- cold render: the store already open, the query cache cleared (what a visitor sees after the 10 s cache expired);
- warm render: every query answered from the cache (reloads and other visitors within the TTL);
- filter change: a warm page whose time range a person changes (All time -> Last 7 days): new queries, run anew.

Then the cold render's parts: each named query the Overview and the Traces page run, and building their charts.
The Traces page opens the run the page picks by itself (no `?trace=` in the URL), as a first visitor sees it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "dashboard" / "app.py"
GOAL_S = 2.0  # cold render
WARM_GOAL_S = 1.0  # warm render and filter change
FIRST_GOAL_S = 3.0  # the first render of a new dashboard process over 1M calls (the cache current)


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# Plotly charts each page draws (checked: a render that drew fewer failed somewhere).
CHARTS = {"overview": 6, "latency": 4, "reliability": 5, "calls": 2, "traces": 1, "conversations": 1, "savings": 0,
          "budgets": 1}  # fmt: skip


def render(page: str) -> Any:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    if page != "overview":
        at.switch_page(f"{page}.py").run()
    if at.exception:
        raise RuntimeError(f"the {page} page raised: {at.exception[0].value}")
    if len(at.get("plotly_chart")) != CHARTS[page]:
        raise RuntimeError(f"the {page} page did not draw its {CHARTS[page]} charts")
    return at


def filter_change(at: Any) -> Any:
    """The rendered page `at` with its time range changed, as a person does in the sidebar."""
    at.selectbox(key="f_range").set_value("7d").run()
    if at.exception:
        raise RuntimeError(f"a filter change raised: {at.exception[0].value}")
    return at


def parts(store: Path) -> list[tuple[str, float]]:
    """The cold render's pieces: each query the Overview runs (directly, no cache), then the chart builders."""
    from claude_tracer_dashboard import charts
    from tracer.read import NAMED, Filters, choices, open_store

    db = open_store(store)
    filters = Filters()
    timings: list[tuple[str, float]] = []
    frames: dict[str, Any] = {}
    for name in ("time_window", "headline", "cache_savings", "cost_by_model", "cost_over_time", "cost_by_tag"):
        seconds, frames[name] = _timed(lambda name=name: NAMED[name](db, filters))
        timings.append((f"query {name}", seconds))
    seconds, _ = _timed(lambda: choices.models_and_services(db))
    timings.append(("query models_and_services (filters)", seconds))
    seconds, _ = _timed(lambda: choices.tag_values(db))
    timings.append(("query tag_values (filters)", seconds))

    def build() -> None:
        charts.cost_by_model(frames["cost_by_model"])
        charts.tokens_by_kind(frames["cost_by_model"])
        charts.cost_over_time(frames["cost_over_time"])
        charts.cache_savings(frames["cache_savings"])
        charts.cost_by_tag(frames["cost_by_tag"])

    seconds, _ = _timed(build)
    timings.append(("build the 5 charts", seconds))
    return timings


def traces_parts(store: Path) -> list[tuple[str, float]]:
    """The Traces page's queries, called directly (no cache), and its waterfall."""
    from claude_tracer_dashboard import charts
    from tracer.read import Filters, open_store, runs

    db = open_store(store)
    filters = Filters()
    timings: list[tuple[str, float]] = []
    seconds, _ = _timed(lambda: runs.root_names(db, filters))
    timings.append(("query root_names", seconds))
    found = None
    for order in runs.ORDERS:
        seconds, frame = _timed(lambda order=order: runs.traces(db, filters, order))
        timings.append((f"query traces ({order})", seconds))
        found = frame if found is None else found
    roots = runs.root_names(db, filters)["root_name"].dropna()
    narrowings: list[tuple[str, dict[str, Any]]] = [("errors only", {"errors_only": True})]
    if not roots.empty:
        narrowings.insert(0, (f"root {roots.iloc[0]}", {"root": roots.iloc[0]}))
    for label, narrowing in narrowings:  # the page's own query: runs.traces would roll up every run in the window
        seconds, _ = _timed(lambda narrowing=narrowing: runs.traces(db, filters, "recent", **narrowing))
        timings.append((f"query traces ({label})", seconds))
    assert found is not None and not found.empty, "no runs in the store"
    with_tools = found[found["tool_executions"] > 0]
    trace_id = (with_tools if not with_tools.empty else found)["trace_id"].iloc[0]
    seconds, _ = _timed(lambda: runs.trace_summary(db, trace_id))
    timings.append(("query trace_summary", seconds))
    seconds, tree = _timed(lambda: runs.trace_tree(db, trace_id))
    timings.append(("query trace_tree", seconds))
    seconds, _ = _timed(lambda: runs.tool_executions(db, filters))
    timings.append(("query tool_executions", seconds))
    seconds, _ = _timed(lambda: charts.run_waterfall(tree))
    timings.append(("build the waterfall", seconds))
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="an existing store (default: write a synthetic one)")
    parser.add_argument("--runs", type=int, default=5, help="cold and warm renders to time (median reported)")
    parser.add_argument("--pages", default=",".join(CHARTS), help="comma-separated: " + ", ".join(CHARTS))
    args = parser.parse_args()
    print(f"claude-tracer dashboard benchmark; {os.cpu_count()} CPUs; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    import streamlit as st

    from tracer.read.synthetic import write_synthetic

    with tempfile.TemporaryDirectory(prefix="tracer-bench-") as tmp:
        store = args.store or Path(tmp) / "store"
        if args.store is None:
            seconds, written = _timed(lambda: write_synthetic(store, args.calls, seed=1))
            print(f"synthetic store: {written['calls']:,} calls, {written['attempts']:,} attempts, "
                  f"{written['events']:,} events in {seconds:.1f} s")  # fmt: skip
        os.environ["TRACER_STORE"] = str(store)
        from tracer.read import prepare

        seconds, loaded = _timed(lambda: prepare(store))
        print(f"prepare (tracer dashboard, before the server starts): {seconds:.2f} s, {loaded:,} rows loaded into the "
              "reader cache")  # fmt: skip

        from claude_tracer_dashboard._serve import warm

        seconds, _ = _timed(warm)
        print(f"server start (the pages' imports, a first chart, the prices; beside prepare): {seconds:.2f} s")

        results = {}
        for page in args.pages.split(","):
            first, _ = _timed(lambda page=page: render(page))
            cold, warm, change = [], [], []
            for _ in range(args.runs):
                st.cache_data.clear()
                cold.append(_timed(lambda page=page: render(page))[0])
                seconds, at = _timed(lambda page=page: render(page))
                warm.append(seconds)
                change.append(_timed(lambda at=at: filter_change(at))[0])
            results[page] = (first, statistics.median(cold), statistics.median(warm), statistics.median(change))
        breakdown = {"Overview": parts(store), "Traces": traces_parts(store)}

    print(f"\nPages over {args.calls:,} calls (AppTest, server side; median of {args.runs}), in seconds:")
    print(f"  {'page':<16} {'first':>8} {'cold':>8} {'warm':>8} {'filter':>8}   (first: open the store and run every "
          "query; cold: store open, query cache cleared; warm: queries from the cache; filter: a warm page's time "
          "range changed)")  # fmt: skip
    for page, (first, cold_s, warm_s, change_s) in results.items():
        print(f"  {page:<16} {first:8.3f} {cold_s:8.3f} {warm_s:8.3f} {change_s:8.3f}")
    for page, timings in breakdown.items():
        print(f"\n{page}: cold render, part by part (direct calls, no cache):")
        for name, seconds in timings:
            print(f"  {name:<44} {seconds:7.3f} s")
    missed = [page for page, (_, cold_s, _, _) in results.items() if cold_s >= GOAL_S]
    print(f"\nEvery cold render meets the {GOAL_S:g} s goal." if not missed
          else f"\nThe cold render MISSES the {GOAL_S:g} s goal on: {', '.join(missed)}.")  # fmt: skip
    slow = [page for page, (_, _, warm_s, change_s) in results.items() if max(warm_s, change_s) > WARM_GOAL_S]
    print(f"Every warm render and filter change meets the {WARM_GOAL_S:g} s goal." if not slow
          else f"A warm render or filter change MISSES the {WARM_GOAL_S:g} s goal on: {', '.join(slow)}.")  # fmt: skip
    late = [page for page, (first, _, _, _) in results.items() if first > FIRST_GOAL_S]
    print(f"Every first render meets the {FIRST_GOAL_S:g} s goal." if not late
          else f"A first render MISSES the {FIRST_GOAL_S:g} s goal on: {', '.join(late)}.")  # fmt: skip
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
