"""How long the dashboard's server takes to render the Overview page over 1,000,000 calls (goal: under 2 s).

    .venv/bin/python benchmarks/dashboard.py [--calls 1000000] [--store DIR] [--runs 5]

Writes a synthetic store (`tracer.store.synthetic`: a week of calls with their attempts and events, as Parquet
segments like a real store) unless --store names one, then renders the page with Streamlit's AppTest, which runs
the page script as the server does for a browser session:

- first render: the store opened and every query run (a new dashboard process, the first visitor);
- cold render: the store already open, the query cache cleared (what a visitor sees after the 10 s cache expired);
- warm render: every query answered from the cache (reloads and other visitors within the TTL).

Then the cold render's parts: each named query the page runs, and building every chart from their frames.
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
GOAL_S = 2.0


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def render_overview(store: Path) -> Any:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=300)
    at.run()
    if at.exception:
        raise RuntimeError(f"the overview page raised: {at.exception[0].value}")
    if len(at.get("plotly_chart")) != 5:
        raise RuntimeError("the overview page did not draw its five charts")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="an existing store (default: write a synthetic one)")
    parser.add_argument("--runs", type=int, default=5, help="cold and warm renders to time (median reported)")
    args = parser.parse_args()

    import streamlit as st

    from tracer.store.synthetic import write_synthetic

    with tempfile.TemporaryDirectory(prefix="tracer-bench-") as tmp:
        store = args.store or Path(tmp) / "store"
        if args.store is None:
            seconds, written = _timed(lambda: write_synthetic(store, args.calls, seed=1))
            print(f"synthetic store: {written['calls']:,} calls, {written['attempts']:,} attempts, "
                  f"{written['events']:,} events in {seconds:.1f} s")  # fmt: skip
        os.environ["TRACER_STORE"] = str(store)

        first, _ = _timed(lambda: render_overview(store))
        cold, warm = [], []
        for _ in range(args.runs):
            st.cache_data.clear()
            cold.append(_timed(lambda: render_overview(store))[0])
            warm.append(_timed(lambda: render_overview(store))[0])
        breakdown = parts(store)

    print(f"\nOverview page over {args.calls:,} calls (AppTest, server side; median of {args.runs}):")
    print(f"  first render (open the store, run every query)   {first:7.3f} s")
    print(f"  cold render (store open, query cache cleared)    {statistics.median(cold):7.3f} s")
    print(f"  warm render (queries from the cache)             {statistics.median(warm):7.3f} s")
    print("\nCold render, part by part (direct calls, no cache):")
    for name, seconds in breakdown:
        print(f"  {name:<44} {seconds:7.3f} s")
    verdict = "meets" if statistics.median(cold) < GOAL_S else "MISSES"
    print(f"\nThe cold render {verdict} the {GOAL_S:g} s goal.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
