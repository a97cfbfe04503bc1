"""Where the read side lives: `tracer.read` holds every query, the dashboard composes it without SQL of its own,
and the old import path still answers, with a DeprecationWarning, for code written against it."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

from tracer import read

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard"


class TestTheDashboardOnlyComposes:
    def test_no_page_or_helper_of_the_dashboard_holds_sql(self) -> None:
        sql = re.compile(r"\b(SELECT|FROM calls|FROM attempts|FROM events)\b|\.sql\(|\.rows\(")
        found = {p.name: m.group(0) for p in DASHBOARD.glob("*.py") if (m := sql.search(p.read_text()))}
        assert found == {}

    def test_every_query_the_dashboard_runs_by_name_is_named(self) -> None:
        asked = {m for p in DASHBOARD.glob("*.py") for m in re.findall(r"""state\.run\(\s*["'](\w+)["']""", p.read_text())}
        asked |= set(re.findall(r'"(\w+_calls)"', (DASHBOARD / "calls.py").read_text()))
        assert asked and asked <= set(read.NAMED)


class TestTheOldImportPath:
    def test_each_name_it_had_is_the_read_layers_with_a_deprecation_warning(self) -> None:
        from tracer.store import queries

        with pytest.warns(DeprecationWarning, match=r"use tracer\.read\.overview\.cost_by_model"):
            assert queries.cost_by_model is read.overview.cost_by_model
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert queries.Filters is read.Filters and queries.NAMED is read.NAMED
            for name in queries.__all__:
                assert getattr(queries, name) is not None

    def test_a_name_it_never_had_is_an_attribute_error(self) -> None:
        from tracer.store import queries

        with pytest.raises(AttributeError, match=r"moved to tracer\.read"):
            queries._has_rollups  # noqa: B018
