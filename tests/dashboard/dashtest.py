"""Fixtures and helpers for the dashboard tests: a store the demo workload filled, pages run with AppTest, and
reading back the numbers and charts they show.

Test modules import the fixtures from here (`*_fixture`, registered under the name without the suffix); the demo
store itself (`demo_store`) and `require_system_tool` come from tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"  # the package `claude_tracer_dashboard` (pyproject.toml's package-dir)
PAGES = ("overview", "latency", "reliability", "calls", "traces", "conversations", "savings", "budgets")
# Plotly charts each page draws, by key (every one of them must have data over the demo store).
CHARTS: dict[str, tuple[str, ...]] = {
    "overview": ("cost_by_model", "tokens_by_kind", "cost_over_time", "cache_savings", "cost_by_tag", "cost_by_tag_over_time"),
    "latency": ("latency_over_time", "ttft_over_time", "latency_histogram", "percentiles_by_model"),
    "reliability": ("error_rates_over_time", "attempts_distribution", "retries_by_model", "ratelimit_headroom",
                    "breaker_timeline"),
    "calls": ("calls_over_time", "waterfall"),
    "traces": ("run_waterfall",),
    "conversations": ("conversation_turns",),
    "savings": (),
    "budgets": ("hourly_spend",),
}  # fmt: skip
BUDGET_ENV = "TRACER_BUDGET_USD_PER_MONTH"
MONTHLY_BUDGET_USD = 2.0  # the budget the tests' dashboards run with
TIMEOUT_S = 60  # AppTest's default of 3 s is too short for a page's first queries on a loaded CI machine

RunPage = Callable[..., AppTest]


def run_page(store: Path, page: str, query: dict[str, Any] | None = None) -> AppTest:
    """Run `page` of the dashboard over `store` once, the way `tracer dashboard --store` would (URL `query` too)."""
    previous = os.environ.get("TRACER_STORE")
    os.environ["TRACER_STORE"] = str(store)
    # The Budgets page shows its figures for the budgets configured in the dashboard's environment.
    budget = os.environ.get(BUDGET_ENV)
    os.environ[BUDGET_ENV] = str(MONTHLY_BUDGET_USD)
    try:
        at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
        for key, value in (query or {}).items():
            at.query_params[key] = value
        at.run()
        if page != "overview":
            at.switch_page(f"{page}.py").run()
        return at
    finally:
        if previous is None:
            del os.environ["TRACER_STORE"]
        else:
            os.environ["TRACER_STORE"] = previous
        if budget is None:
            del os.environ[BUDGET_ENV]
        else:
            os.environ[BUDGET_ENV] = budget


# ----------------------------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session", name="demo_pages")
def demo_pages_fixture(demo_store: Path) -> dict[str, AppTest]:
    """Every page run once over the demo store (tests only read what they show)."""
    return {page: run_page(demo_store, page) for page in PAGES}


@pytest.fixture(scope="session", name="artifacts_dir")
def artifacts_dir_fixture() -> Iterator[Path]:
    """./artifacts/dashboard (git-ignored): screenshots a person can look at after the run."""
    path = ROOT / "artifacts" / "dashboard"
    path.mkdir(parents=True, exist_ok=True)
    yield path


# ----------------------------------------------------------------------------------------------------------------
# Reading back what a page shows
# ----------------------------------------------------------------------------------------------------------------


def metrics(at: AppTest) -> dict[str, str]:
    """Each tile's figure, exact: a tile that shows it short ("22.3M", "$12.3k") gives it in its help."""
    shown = {}
    for m in at.metric:
        exact = re.search(r"Exactly (\S+)\.", m.help or "")
        shown[m.label] = exact.group(1) if exact else m.value
    return shown


def tiles(at: AppTest) -> dict[str, str]:
    """Each tile's figure as it is shown."""
    return {m.label: m.value for m in at.metric}


def parse_usd(text: str) -> float:
    """ "$1,234.56", "$0.0123" or "-$0.01" -> the number."""
    match = re.fullmatch(r"(-?)\$(-?[\d,]+(?:\.\d+)?)", text)
    assert match, f"not a USD amount: {text!r}"
    value = float(match.group(2).replace(",", ""))
    return -value if match.group(1) else value


def parse_count(text: str) -> int:
    assert re.fullmatch(r"[\d,]+", text), f"not a count: {text!r}"
    return int(text.replace(",", ""))


def parse_pct(text: str) -> float:
    """ "12.34%" -> 0.1234."""
    assert text.endswith("%"), f"not a percentage: {text!r}"
    return float(text[:-1]) / 100


def parse_ms(text: str) -> float:
    """ "1,234 ms" or "12.50 s" -> milliseconds."""
    if text.endswith(" ms"):
        return float(text[:-3].replace(",", ""))
    assert text.endswith(" s"), f"not a duration: {text!r}"
    return float(text[:-2].replace(",", "")) * 1000


# The tables each page shows, in page order, by the key the page gives them. (Streamlit does not put a dataframe's
# key into its element unless selections are on, so tables are found by position and checked by count.)
TABLES: dict[str, tuple[str, ...]] = {
    "overview": ("cost_by_model_table",),
    "latency": ("latency_table",),
    "reliability": ("error_rates_table", "budget_table", "events_table"),
    "calls": ("calls_table", "attempts_table"),
    "traces": ("runs_table", "spans_table", "tools_table"),
    "conversations": ("conversations_table", "turns_table"),
    "savings": ("savings_caching_table", "savings_rewrites_table", "savings_batch_table", "savings_what_if_table"),
    "budgets": ("budgets_table",),
}


def frame(at: AppTest, key: str) -> Any:
    """The DataFrame a page shows under `key`."""
    keys = next(keys for keys in TABLES.values() if key in keys)
    tables = list(at.dataframe)
    assert len(tables) == len(keys), f"expected the tables {keys}, found {len(tables)}"
    return tables[keys.index(key)].value


def figures(at: AppTest) -> dict[str, dict[str, Any]]:
    """The page's Plotly figures as JSON, by the key the page gave each chart."""
    out = {}
    for chart in at.get("plotly_chart"):
        key = chart.proto.id.rsplit("-", 1)[-1]
        out[key] = json.loads(chart.proto.spec)
    return out


def trace_values(trace: dict[str, Any], axis: str) -> list[Any]:
    """A trace's x or y values, whether Plotly wrote them as a list or as a typed array (base64 `bdata`)."""
    import base64

    import numpy as np

    value = trace.get(axis, [])
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        return array.tolist()
    return list(value)
