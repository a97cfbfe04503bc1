"""The dashboard's server process: `python -m claude_tracer_dashboard._serve run app.py ...` is `streamlit run`, with
what every page needs loaded first (`warm`).

Streamlit runs a page's script for each visitor, so whatever the script imports, and the first chart Plotly builds,
would otherwise be paid by the first visitor of a new server, on top of the queries. Here they are paid while the
server starts, before it answers: `tracer dashboard` starts it before it brings the store's reader cache up to date,
so the two overlap. The store itself is not opened here (that would take a second reader cache while `prepare`
holds the first).
"""

from __future__ import annotations

import importlib
import logging
import sys

log = logging.getLogger("tracer.dashboard")


# What the pages import beyond pandas and Plotly (DuckDB and pyarrow come with `tracer.read`).
_PAGES_IMPORT = (
    "claude_tracer_dashboard.charts",
    "claude_tracer_dashboard.state",
    "claude_tracer_dashboard.tables",
    "tracer.alerts",
    "tracer.read.budgets",
    "tracer.read.runs",
    "tracer.read.savings",
)


def warm() -> None:
    """Import the pages' modules (pandas, Plotly, DuckDB, the queries), build one small chart and load the price
    table, as the first page would. Never raises: a failure here is met again, and reported, by the page."""
    try:
        import pandas as pd
        import plotly.express as px

        import tracer._models
        from tracer.cost import default_table

        for name in _PAGES_IMPORT:
            importlib.import_module(name)
        figure = px.bar(pd.DataFrame({"model": ["a"], "usd": [1.0]}), x="model", y="usd", color="model")
        figure.to_json()  # what Streamlit does with every chart
        default_table()  # the bundled prices the Overview's cache savings read
        tracer._models.deprecated_models()
    except Exception:
        log.debug("claude-tracer dashboard: warming up failed", exc_info=True)


def main() -> int:
    warm()
    from streamlit.web import cli

    cli.main(prog_name="streamlit")  # as `python -m streamlit` does (click exits with the server's status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
