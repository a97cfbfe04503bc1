"""Every dashboard page, run by Streamlit's AppTest over a store the demo workload filled: the numbers each page
shows agree with SQL written here over the same store, every chart has data, and no page raises on an empty or a
missing store (they show how to instrument an app and run `tracer demo` instead).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from dashtest import (  # noqa: F401  (the *_fixture names are fixtures)
    CHARTS,
    PAGES,
    demo_pages_fixture,
    figures,
    frame,
    metrics,
    parse_count,
    parse_ms,
    parse_pct,
    parse_usd,
    run_page,
    tiles,
    trace_values,
)
from streamlit.testing.v1 import AppTest

from tracer._models import NO_MODEL
from tracer.read import Store


@pytest.fixture(scope="module")
def store(demo_store: Path) -> Store:
    return Store(demo_store)


def one(store: Store, sql: str) -> tuple:  # type: ignore[type-arg]
    return store.rows(sql)[0]


def close(shown: float, expected: float, *, rel: float = 0.0, abs_: float = 0.0) -> bool:
    return shown == pytest.approx(expected, rel=rel, abs=abs_)


def _unshort(text: str) -> float:
    return float(text[:-1]) * {"k": 1e3, "M": 1e6, "B": 1e9}[text[-1]]


@pytest.mark.parametrize(
    ("value", "count", "usd"),
    [(0, "0", "$0.00"), (999.994, "999", "$999.99"), (1_000, "1,000", "$1.00k"), (12_345.6, "12,345", "$12.3k"),
     (999_999, "999,999", "$1.00M"), (1_000_000, "1.00M", "$1.00M"), (22_269_874, "22.3M", "$22.3M"),
     (123_456_789, "123M", "$123M"), (999_600_000, "1.00B", "$1.00B"), (-5_000, "-5,000", "-$5.00k")],
)  # fmt: skip
def test_tile_figures_fit_a_tile(value: float, count: str, usd: str) -> None:
    from claude_tracer_dashboard import state

    assert state.tile_count(value) == count
    assert state.tile_usd(value) == usd
    assert len(count) <= 8 and len(usd) <= 8
    assert state.tile_count(None) == "0" and state.tile_usd(None) == state.usd(None)


class TestEveryPage:
    @pytest.mark.parametrize("page", PAGES)
    def test_runs_without_an_exception_and_every_chart_has_data(
        self, demo_pages: dict[str, AppTest], page: str
    ) -> None:
        at = demo_pages[page]
        assert not at.exception, [e.value for e in at.exception]
        shown = figures(at)
        assert set(shown) == set(CHARTS[page])
        for key, figure in shown.items():
            assert figure["data"], f"{page}: chart {key} is empty"


class TestOverview:
    def test_tiles_show_the_change_against_the_previous_period(self, demo_store: Path, store: Store) -> None:
        """Over the last 24 hours, each tile's change is against the 24 hours before; the demo's calls are all recent,
        so the period before had none and the tiles say "new". "All time" has no period before: no change shown."""
        (before,) = one(store, "SELECT count(*) FROM calls WHERE start_time < now() - INTERVAL 24 HOUR")
        assert before == 0
        at = run_page(demo_store, "overview", {"range": "24h"})
        tiles = {m.label: m for m in at.metric}
        assert tiles["Total cost"].delta == tiles["Calls"].delta == "new"
        at = run_page(demo_store, "overview")
        assert all(not m.delta for m in at.metric)

    def test_headline_numbers_match_the_store(self, demo_pages: dict[str, AppTest], store: Store) -> None:
        shown = metrics(demo_pages["overview"])
        cost, calls, errors, tokens, uncached, read, write = one(
            store,
            "SELECT sum(cost_usd)::DOUBLE, count(*), count(*) FILTER (WHERE status = 'error'), "
            "sum(coalesce(input_tokens, 0) + coalesce(cache_read_tokens, 0) + coalesce(cache_write_tokens, 0) "
            "+ coalesce(output_tokens, 0)), sum(input_tokens), sum(cache_read_tokens), sum(cache_write_tokens) FROM calls",
        )
        assert close(parse_usd(shown["Total cost"]), cost, abs_=0.00005)
        assert parse_count(shown["Calls"]) == calls
        assert close(parse_pct(shown["Error rate"]), errors / calls, abs_=0.00005)
        assert parse_count(shown["Tokens"]) == tokens
        assert close(parse_pct(shown["Cache hit ratio"]), read / (uncached + read + write), abs_=0.00005)
        parse_usd(shown["Caching saved"])  # priced models: an amount, not "n/a"

    def test_no_tile_is_longer_than_a_tile_shows_and_each_short_one_gives_its_exact_figure(
        self, demo_pages: dict[str, AppTest]
    ) -> None:
        """A tile holds about eight characters (Streamlit cuts a longer value to "22,269,..."): a figure that would
        not fit is shown short ("22.3M"; `test_tile_figures_fit_a_tile`), with the exact figure in the tile's help."""
        at = demo_pages["overview"]
        shown, exact = tiles(at), metrics(at)
        for label, value in shown.items():
            assert len(value) <= 8, (label, value)
            if value != exact[label]:
                number = parse_usd(exact[label]) if value.startswith("$") else parse_count(exact[label])
                assert abs(number / _unshort(value.lstrip("$")) - 1) < 0.005, (label, value, exact[label])

    def test_per_model_table_and_cost_chart_match_the_store(self, demo_pages: dict[str, AppTest], store: Store) -> None:
        expected = {
            model: (calls, cost, errors)
            for model, calls, cost, errors in store.rows(
                "SELECT model, count(*), sum(cost_usd)::DOUBLE, count(*) FILTER (WHERE status = 'error') "
                "FROM calls WHERE model IS NOT NULL GROUP BY model"
            )
        }
        table = frame(demo_pages["overview"], "cost_by_model_table").set_index("model")
        for model, (calls, cost, errors) in expected.items():
            assert table.loc[model, "calls"] == calls
            assert close(table.loc[model, "cost_usd"], cost, rel=1e-9)
            assert table.loc[model, "errors"] == errors
        bars = figures(demo_pages["overview"])["cost_by_model"]["data"]
        charted = {trace["name"]: trace_values(trace, "y")[0] for trace in bars}
        assert charted.keys() == expected.keys()
        for model, (_, cost, _) in expected.items():
            assert close(charted[model], cost, rel=1e-9)

    def test_cost_by_tag_covers_the_demo_features(self, demo_pages: dict[str, AppTest]) -> None:
        bars = figures(demo_pages["overview"])["cost_by_tag"]["data"]
        labels = {label for trace in bars for label in trace_values(trace, "y")}
        assert {"feature=chat", "feature=agent", "feature=nightly-digest", "customer=acme"} <= labels


class TestLatency:
    def test_percentiles_match_the_store(self, demo_pages: dict[str, AppTest], store: Store) -> None:
        """By default the page times Messages calls (operation `chat`) only; a tile may say "(thin)"."""
        shown = {label.removesuffix(" (thin)"): value for label, value in metrics(demo_pages["latency"]).items()}
        p50, p95, p99 = one(
            store,
            "SELECT quantile_cont(duration_ms, 0.5), quantile_cont(duration_ms, 0.95), quantile_cont(duration_ms, 0.99) FROM calls "
            "WHERE operation = 'chat'",
        )
        for label, value in (("p50 latency", p50), ("p95 latency", p95), ("p99 latency", p99)):
            assert close(parse_ms(shown[label]), value, abs_=0.51), label  # shown to the millisecond

    def test_per_model_table_matches_the_store(self, demo_pages: dict[str, AppTest], store: Store) -> None:
        table = frame(demo_pages["latency"], "latency_table").set_index("model")
        rows = store.rows(
            "SELECT model, count(*), quantile_cont(duration_ms, 0.95), quantile_cont(ttft_ms, 0.5), count(ttft_ms) "
            "FROM calls WHERE model IS NOT NULL AND operation = 'chat' GROUP BY model"
        )
        for model, calls, p95, ttft_p50, streamed in rows:
            assert table.loc[model, "calls"] == calls
            assert close(table.loc[model, "p95_ms"], p95, rel=1e-9)
            assert table.loc[model, "streamed"] == streamed > 0  # every demo model has streamed calls
            assert close(table.loc[model, "ttft_p50_ms"], ttft_p50, rel=1e-9)


class TestLatencyCharts:
    """The Latency builders over frames written here: a 70 s bucket does not flatten the axis, thin points are marked."""

    @staticmethod
    def over_time(p95s: list[float], calls: list[int]) -> pd.DataFrame:
        buckets = pd.date_range("2026-12-07 10:00", periods=len(p95s), freq="min", tz="UTC")
        return pd.DataFrame({"bucket": buckets, "model": "m", "calls": calls, "streams": calls, "p50_ms": p95s,
                             "p95_ms": p95s, "p99_ms": p95s, "ttft_p50_ms": p95s, "ttft_p95_ms": p95s, "bucket_s": 60})  # fmt: skip

    def test_one_slow_bucket_is_drawn_on_a_clipped_axis_that_says_so(self) -> None:
        from claude_tracer_dashboard import charts

        p95s = [900.0, 1000.0, 1100.0, 1000.0, 1200.0, 950.0, 70_000.0]
        fig = charts.latency_over_time(self.over_time(p95s, [200] * len(p95s)), "p95")
        top = charts.robust_top(p95s)
        assert top is not None and top < 70_000
        assert fig.layout.yaxis.range[1] == pytest.approx(top * 1.04)
        assert fig.layout.yaxis.title.text == "ms"  # the axis stops under 10 s: one unit, ms
        assert "axis clipped at" in fig.layout.title.text and "1 point(s) above" in fig.layout.title.text
        (above,) = [t for t in fig.data if t.name == "above the axis"]
        assert [list(row) for row in above.customdata] == [[70_000.0]]

    def test_points_from_too_few_calls_are_marked_thin_and_the_others_are_not(self) -> None:
        from claude_tracer_dashboard import charts

        fig = charts.latency_over_time(self.over_time([900.0, 1000.0, 1100.0], [150, 99, 100]), "p95")
        (thin,) = [t for t in fig.data if t.name.startswith("thin")]
        assert list(thin.y) == [1000.0] and thin.name == "thin: < 100 calls"

    def test_a_chart_reaching_10_s_is_all_in_seconds(self) -> None:
        from claude_tracer_dashboard import charts

        frame = pd.DataFrame({"model": ["a", "b"], "calls": [600, 20], "p50_ms": [2_000.0, 3_000.0],
                              "p95_ms": [9_000.0, 12_000.0], "p99_ms": [11_000.0, 14_000.0]})  # fmt: skip
        fig = charts.percentiles_by_model(frame)
        assert fig.layout.yaxis.title.text == "s"
        p99 = next(t for t in fig.data if t.name == "p99")
        assert list(p99.y) == [11.0, 14.0] and list(p99.text) == ["11.00", "14.00 thin"]


class TestReliability:
    def test_attempt_rates_and_retries_match_the_store(self, demo_pages: dict[str, AppTest], store: Store) -> None:
        shown = metrics(demo_pages["reliability"])
        attempts, r429, r529, r5xx, timeouts = one(
            store,
            "SELECT count(*), count(*) FILTER (WHERE a.http_status = 429), count(*) FILTER (WHERE a.http_status = 529), "
            "count(*) FILTER (WHERE a.http_status >= 500 AND a.http_status <> 529), "
            "count(*) FILTER (WHERE a.error_type IN ('timeout', 'stream_timeout')) "
            "FROM attempts a JOIN calls c ON a.call_span_id = c.span_id AND a.trace_id = c.trace_id",
        )
        for label, count in (("429 rate", r429), ("529 rate", r529), ("5xx rate", r5xx), ("Timeout rate", timeouts)):
            assert count > 0, f"the demo produced no {label} faults"
            assert close(parse_pct(shown[label]), count / attempts, abs_=0.00005), label
        retries, calls = one(store, "SELECT sum(attempts - 1), count(*) FROM calls")
        assert close(float(shown["Retries per call"]), retries / calls, abs_=0.0005)

    def test_per_model_attempt_counts_match_the_store(self, demo_pages: dict[str, AppTest], store: Store) -> None:
        table = frame(demo_pages["reliability"], "error_rates_table").set_index("model")
        rows = store.rows(
            "SELECT c.model, count(*), count(*) FILTER (WHERE a.http_status = 429) FROM attempts a "
            "JOIN calls c ON a.call_span_id = c.span_id AND a.trace_id = c.trace_id WHERE c.model IS NOT NULL GROUP BY ALL"
        )
        for model, attempts, rate_limited in rows:
            assert table.loc[model, "attempts"] == attempts
            assert table.loc[model, "rate_limited"] == rate_limited

    def test_budget_and_resilience_events_are_listed(self, demo_pages: dict[str, AppTest], store: Store) -> None:
        budget = frame(demo_pages["reliability"], "budget_table")
        assert "budget_trip" in set(budget["kind"])
        assert budget["events"].sum() == one(store, "SELECT count(*) FROM events WHERE kind LIKE 'budget%'")[0]
        assert budget["kind"].iloc[0] == "budget_trip"  # the one trip first, whatever the warnings' count
        events = frame(demo_pages["reliability"], "events_table")
        shown = events.groupby("kind")["events"].sum().to_dict()
        assert shown == dict(store.rows("SELECT kind, count(*) FROM events GROUP BY kind"))

    def test_breaker_timeline_shows_each_state_it_went_through(self, demo_pages: dict[str, AppTest]) -> None:
        traces = figures(demo_pages["reliability"])["breaker_timeline"]["data"]
        assert {trace["name"] for trace in traces} == {"closed", "open", "half_open"}


class TestCalls:
    @pytest.fixture(autouse=True)
    def _store_for_reruns(self, demo_store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # run_page sets TRACER_STORE for its first run only; these tests run the page again after using a widget.
        monkeypatch.setenv("TRACER_STORE", str(demo_store))

    def test_each_order_puts_first_what_it_names(self, demo_store: Path, store: Store) -> None:
        slowest, costliest, recent = one(
            store, "SELECT max(duration_ms), max(cost_usd)::DOUBLE, max(start_time) FROM calls"
        )
        at = run_page(demo_store, "calls")
        assert frame(at, "calls_table")["start_time"].iloc[0] == recent  # newest first unless told otherwise
        at.segmented_control(key="calls_order").set_value("slowest").run()
        assert close(frame(at, "calls_table")["duration_ms"].iloc[0], slowest, rel=1e-9)
        at.segmented_control(key="calls_order").set_value("costliest").run()
        assert close(frame(at, "calls_table")["cost_usd"].iloc[0], costliest, rel=1e-9)

    def test_the_detail_is_the_lists_first_call_with_its_attempts(self, demo_pages: dict[str, AppTest], store: Store) -> None:
        at = demo_pages["calls"]
        span_id, duration, attempts, model = one(
            store, "SELECT span_id, duration_ms, attempts, model FROM calls ORDER BY start_time DESC, span_id LIMIT 1"
        )
        assert at.selectbox(key="call_choice").value == span_id
        shown = metrics(at)
        assert close(parse_ms(shown["Duration"]), duration, abs_=0.51 if duration < 10_000 else 5.1)
        assert parse_count(shown["Attempts"]) == attempts
        assert shown["Model"] == (model or NO_MODEL)
        assert (
            len(frame(at, "attempts_table"))
            == one(store, f"SELECT count(*) FROM attempts WHERE call_span_id = '{span_id}'")[0]
        )

    def test_the_list_pages_on_and_narrows_by_status_error_type_operation_and_id(self, demo_store: Path, store: Store) -> None:
        at = run_page(demo_store, "calls")
        (total,) = one(store, "SELECT count(*) FROM calls")
        assert total > 50
        at.number_input(key="calls_page").set_value(2).run()
        (fifty_first,) = one(store, "SELECT span_id FROM calls ORDER BY start_time DESC, span_id LIMIT 1 OFFSET 50")
        assert frame(at, "calls_table")["span_id"].iloc[0] == fifty_first
        assert at.selectbox(key="call_choice").value == fifty_first  # the detail follows the list

        at.multiselect(key="calls_status").set_value(["error"]).run()
        errors = [r[0] for r in store.rows("SELECT span_id FROM calls WHERE status = 'error' ORDER BY start_time DESC, span_id")]
        assert at.number_input(key="calls_page").value == 1  # another list starts at its first page
        assert list(frame(at, "calls_table")["span_id"]) == errors[:50]
        error_type = store.rows("SELECT error_type FROM calls WHERE status = 'error' GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")[0][0]
        at.multiselect(key="calls_error").set_value([error_type]).run()
        assert set(frame(at, "calls_table")["error_type"]) == {error_type}
        at.multiselect(key="calls_status").set_value([]).run()
        at.multiselect(key="calls_error").set_value([]).run()
        at.multiselect(key="calls_operation").set_value(["count_tokens"]).run()
        assert len(frame(at, "calls_table")) == one(store, "SELECT count(*) FROM calls WHERE operation = 'count_tokens'")[0]
        at.multiselect(key="calls_operation").set_value([]).run()

        span_id, request_id, response_id, trace_id = one(
            store, "SELECT span_id, request_id, response_id, trace_id FROM calls WHERE request_id IS NOT NULL AND response_id IS NOT NULL "
                   "ORDER BY start_time LIMIT 1",
        )  # fmt: skip
        for wanted in (request_id, response_id):
            at.text_input(key="calls_search").set_value(wanted).run()
            assert list(frame(at, "calls_table")["span_id"]) == [span_id]
        at.text_input(key="calls_search").set_value(trace_id).run()
        assert set(frame(at, "calls_table")["span_id"]) == {
            r[0] for r in store.rows(f"SELECT span_id FROM calls WHERE trace_id = '{trace_id}'")
        }

    def test_a_link_to_a_call_outside_the_list_shows_its_summary(self, demo_store: Path, store: Store) -> None:
        span_id, model, cost, status = one(
            store, "SELECT span_id, model, cost_usd::DOUBLE, status FROM calls WHERE cost_usd IS NOT NULL "
                   "ORDER BY start_time, span_id LIMIT 1",
        )  # fmt: skip
        at = run_page(demo_store, "calls", {"call": span_id})
        assert span_id not in set(frame(at, "calls_table")["span_id"])  # the oldest call: not among the newest 50
        assert at.selectbox(key="call_choice").value == span_id
        shown = metrics(at)
        assert shown["Model"] == model
        assert close(parse_usd(shown["Cost"]), cost, rel=1e-3)
        assert shown["Status"].split()[0] == status

    def test_a_link_to_a_retried_call_opens_its_waterfall(self, demo_store: Path, store: Store) -> None:
        """?call=SPAN opens that call: a 429 then a success, with the retry-after wait drawn between them."""
        span_id, attempts = one(
            store,
            "SELECT c.span_id, c.attempts FROM calls c JOIN attempts a ON a.call_span_id = c.span_id "
            "WHERE a.http_status = 429 AND a.retry_after_s > 0 AND c.status = 'ok' ORDER BY c.start_time LIMIT 1",
        )
        at = run_page(demo_store, "calls", {"call": span_id})
        assert not at.exception
        assert at.selectbox(key="call_choice").value == span_id
        table = frame(at, "attempts_table")
        assert len(table) == attempts
        assert 429 in set(table["http_status"])
        waterfall = figures(at)["waterfall"]["data"]
        assert {trace["name"] for trace in waterfall} >= {"wait before attempt", "429", "ok"}


class TestModelColours:
    def test_as_many_models_as_colours_all_differ_and_the_order_they_come_in_does_not_matter(self) -> None:
        from claude_tracer_dashboard.charts import PALETTE, model_colours

        names = [f"claude-test-{i}" for i in range(len(PALETTE))]
        colours = model_colours(names)
        assert len({colours[name] for name in names}) == len(PALETTE)
        assert model_colours(reversed(names)) == colours

    def test_the_calls_without_a_model_are_grey(self) -> None:
        from claude_tracer_dashboard.charts import NO_MODEL_COLOUR, PALETTE, model_colours

        assert model_colours([None, "claude-x"])[NO_MODEL] == NO_MODEL_COLOUR not in PALETTE


class TestOneVisualLanguage:
    def test_a_model_has_one_colour_on_every_chart_of_every_page(self, demo_pages: dict[str, AppTest], store: Store) -> None:
        """Every trace named after a model, on every page, is drawn in that model's one colour, and no two models
        share one (the demo uses fewer models than the palette has colours)."""
        models = {m for (m,) in store.rows("SELECT DISTINCT model FROM calls WHERE model IS NOT NULL")}
        seen: dict[str, set[str]] = {}
        charts: dict[str, set[str]] = {}
        for page, at in demo_pages.items():
            for key, figure in figures(at).items():
                for trace in figure["data"]:
                    if trace.get("name") in models:
                        colour = trace.get("marker", {}).get("color") or trace.get("line", {}).get("color")
                        assert isinstance(colour, str), f"{page}/{key}: {trace['name']} has no single colour"
                        seen.setdefault(trace["name"], set()).add(colour)
                        charts.setdefault(trace["name"], set()).add(f"{page}/{key}")
        assert seen.keys() == models
        for model, colours in seen.items():
            assert len(colours) == 1, f"{model} is drawn in {colours} on {sorted(charts[model])}"
            assert len(charts[model]) >= 8, f"{model} is on only {sorted(charts[model])}"
        assert len({next(iter(c)) for c in seen.values()}) == len(models), seen

    def test_latency_over_time_shows_one_percentile_at_a_time(self, demo_store: Path) -> None:
        """One line per model, at the percentile the switch names (p95 unless another is picked)."""
        at = run_page(demo_store, "latency")
        (switch,) = [b for b in at.get("button_group") if b.key == "latency_pct"]
        assert switch.value == "p95"
        lines = figures(at)["latency_over_time"]["data"]
        assert "p95" in figures(at)["latency_over_time"]["layout"]["title"]["text"]
        assert len({trace["name"] for trace in lines}) == len(lines)  # one trace per model, no dash per percentile

    @pytest.mark.parametrize("page", PAGES)
    def test_tables_have_human_labels_no_none_and_a_csv_download(self, demo_pages: dict[str, AppTest], page: str) -> None:
        at = demo_pages[page]
        tables = list(at.dataframe)
        assert tables
        for table in tables:
            labels = [column["label"] for name, column in json.loads(table.proto.columns).items() if name != "_index"]
            assert labels and all("_" not in label and not label[0].islower() for label in labels), labels
            assert table.proto.placeholder == "–"  # a missing value reads as a dash, not "None"
            if "model" in table.value:
                assert table.value["model"].notna().all()  # the calls that name no model get a label
        buttons = at.get("download_button")
        assert len(buttons) == len(tables)
        assert {button.proto.label for button in buttons} == {"Download CSV"}

    def test_the_calls_without_a_model_have_a_label_in_the_per_model_tables(self, demo_pages: dict[str, AppTest], store: Store) -> None:
        """Batch management calls name no model: they are counted in every total, so they keep a row, named."""
        nameless = one(store, "SELECT count(*) FROM calls WHERE model IS NULL")[0]
        assert nameless > 0, "the demo made no calls without a model (its batch)"
        table = frame(demo_pages["overview"], "cost_by_model_table").set_index("model")
        assert table.loc[NO_MODEL, "calls"] == nameless
        assert table["calls"].sum() == one(store, "SELECT count(*) FROM calls")[0]


class TestFilters:
    def test_a_model_in_the_url_narrows_every_number(self, demo_store: Path, store: Store) -> None:
        model, calls, cost = store.rows(
            "SELECT model, count(*), sum(cost_usd)::DOUBLE FROM calls WHERE model IS NOT NULL GROUP BY model ORDER BY 2 LIMIT 1"
        )[0]
        at = run_page(demo_store, "overview", {"model": model})
        assert at.multiselect(key="f_models").value == [model]
        shown = metrics(at)
        assert parse_count(shown["Calls"]) == calls
        assert close(parse_usd(shown["Total cost"]), cost, abs_=0.00005)

    def test_filters_that_match_nothing_say_so(self, demo_store: Path) -> None:
        for page in PAGES:
            at = run_page(demo_store, page, {"tag": "feature=no-such-feature"})
            assert not at.exception
            assert any("No calls match these filters" in info.value for info in at.info), page
            assert not at.get("plotly_chart")


class TestWithoutData:
    @pytest.mark.parametrize("page", PAGES)
    def test_a_missing_store_shows_how_to_get_data(self, tmp_path: Path, page: str) -> None:
        at = run_page(tmp_path / "nothing-here", page)
        assert not at.exception
        assert any("No store at" in info.value for info in at.info)
        code = "\n".join(block.value for block in at.code)
        assert "tracer.instrument(" in code and "tracer demo" in code

    @pytest.mark.parametrize("page", PAGES)
    def test_an_empty_store_shows_how_to_get_data(self, tmp_path: Path, page: str) -> None:
        empty = tmp_path / "empty"
        empty.mkdir()
        at = run_page(empty, page)
        assert not at.exception
        assert any("holds no calls yet" in info.value for info in at.info)
        code = "\n".join(block.value for block in at.code)
        assert "tracer.instrument(" in code and "tracer demo" in code


class TestQueryCache:
    """`state.run_of` / `value_of` run a query function of any module, passed as it is, cached per store, query and
    arguments for `state.TTL_S` seconds (the cache key names the query by its module and qualified name)."""

    def test_a_repeat_is_served_from_the_cache_and_another_query_or_argument_is_not(
        self, demo_store: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from claude_tracer_dashboard import state

        monkeypatch.setenv("TRACER_STORE", str(demo_store))
        ran: list[tuple[str, int]] = []

        def first(store: object, n: int, *, scale: int = 1) -> pd.DataFrame:
            ran.append(("first", n * scale))
            return pd.DataFrame({"n": [n * scale]})

        def second(store: object, n: int) -> pd.DataFrame:
            ran.append(("second", n))
            return pd.DataFrame({"n": [-n]})

        state._run_of.clear()
        try:
            assert state.run_of(first, 1)["n"].tolist() == [1]
            assert state.run_of(first, 1)["n"].tolist() == [1]
            assert state.run_of(first, 2)["n"].tolist() == [2]
            assert state.run_of(first, 2, scale=3)["n"].tolist() == [6]
            assert state.run_of(second, 1)["n"].tolist() == [-1]
            assert state.value_of(second, 1)["n"].tolist() == [-1]
            assert ran == [("first", 1), ("first", 2), ("first", 6), ("second", 1)]
        finally:
            state._run_of.clear()
