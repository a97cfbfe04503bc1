"""Budgets: where they are configured (a TOML file, or one amount per day or month in the environment), the
periods they cover, and what is wrong with a bad one, said in one line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tracer.read.budgets import Budget, budget_filters, load


class TestLoad:
    def test_a_file_and_the_environment_both_count(self, tmp_path: Path) -> None:
        path = tmp_path / "budgets.toml"
        path.write_text('[[budget]]\nusd = 500\nper = "month"\n\n[[budget]]\nusd = 20\nper = "day"\ntag = "customer=acme"\n')
        found = load({"TRACER_BUDGETS": str(path), "TRACER_BUDGET_USD_PER_DAY": "40"})
        assert found == [Budget(500, "month"), Budget(20, "day", "customer=acme"), Budget(40, "day")]
        assert budget_filters(found[1], dt.datetime(2026, 12, 7, tzinfo=dt.UTC), dt.datetime(2026, 12, 8, tzinfo=dt.UTC)).tags == {
            "customer": "acme"
        }

    def test_nothing_configured_is_no_budget(self) -> None:
        assert load({}) == []

    @pytest.mark.parametrize(
        ("environ", "says"),
        [
            ({"TRACER_BUDGET_USD_PER_MONTH": "-3"}, "positive amount"),
            ({"TRACER_BUDGET_USD_PER_DAY": "lots"}, "TRACER_BUDGET_USD_PER_DAY"),
            ({"TRACER_BUDGETS": "/nonexistent/budgets.toml"}, "TRACER_BUDGETS"),
        ],
    )
    def test_a_bad_budget_is_named(self, environ: dict[str, str], says: str) -> None:
        with pytest.raises(ValueError, match=says):
            load(environ)


class TestPeriods:
    def test_a_month_runs_from_its_first_day_to_the_next_months(self) -> None:
        start, end = Budget(1, "month").period_of(dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC))
        assert (start, end) == (dt.datetime(2026, 12, 1, tzinfo=dt.UTC), dt.datetime(2027, 1, 1, tzinfo=dt.UTC))

    def test_a_day_is_a_utc_day(self) -> None:
        start, end = Budget(1, "day").period_of(dt.datetime(2026, 12, 7, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=3))))
        assert (start, end) == (dt.datetime(2026, 12, 6, tzinfo=dt.UTC), dt.datetime(2026, 12, 7, tzinfo=dt.UTC))
