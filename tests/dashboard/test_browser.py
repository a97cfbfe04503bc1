"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): `tracer dashboard` over the demo
store, every page loaded as a user would open it. No page shows a Streamlit exception, every chart is drawn, and
each page's screenshot is saved under ./artifacts/dashboard for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashtest import (  # noqa: F401  (the *_fixture names are fixtures)
    BUDGET_ENV,
    CHARTS,
    MONTHLY_BUDGET_USD,
    PAGES,
    artifacts_dir_fixture,
)

from tests.conftest import require_system_tool

pytestmark = pytest.mark.browser

LOAD_TIMEOUT_MS = 90_000  # a first page over a store, on a shared and loaded 2-core machine
# Tall enough for every page to fit: Streamlit scrolls inside its main container, so a full-page screenshot of a
# shorter window would show only the top of the page.
VIEWPORT = {"width": 1400, "height": 3200}
# Far from the machine's UTC, so that a time shown in UTC instead of the viewer's zone cannot pass for local.
VIEWER_TIMEZONE = "America/Los_Angeles"
URL_PATHS = {"overview": "", "latency": "latency", "reliability": "reliability", "calls": "calls", "traces": "traces",
             "conversations": "conversations", "savings": "savings", "budgets": "budgets"}  # fmt: skip


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    executable = require_system_tool("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def dashboards(demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """`tracer dashboard --port 0` over the demo store and over an empty store, both started at once."""
    from tracer.cli.dashboard import serve

    empty = tmp_path_factory.mktemp("empty-store")
    # The demo's dashboard has a monthly budget (read from its environment, as `tracer dashboard` reads it).
    with pytest.MonkeyPatch.context() as env:
        env.setenv(BUDGET_ENV, str(MONTHLY_BUDGET_USD))
        demo = serve(demo_store, port=0, block=False)
    running = {"demo": demo, "empty": serve(empty, port=0, block=False)}
    try:
        for name, dash in running.items():
            assert dash.wait_ready(60), f"the {name} dashboard did not start"
        yield {name: dash.url for name, dash in running.items()}
    finally:
        for dash in running.values():
            dash.stop()


def without_live_refresh(url: str) -> str:
    """`url` with live refresh off (`live=0`): on a loaded machine a refresh could land while a test counts charts."""
    return f"{url}{'&' if '?' in url else '?'}live=0"


def open_page(chromium: Any, url: str, charts: int) -> Any:
    """A new page at `url` (a viewer in `VIEWER_TIMEZONE`), once Streamlit has drawn `charts` Plotly charts and
    stopped running the script."""
    page = chromium.new_page(viewport=VIEWPORT, timezone_id=VIEWER_TIMEZONE)
    page.goto(without_live_refresh(url), wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stMain"]', timeout=LOAD_TIMEOUT_MS)
    page.wait_for_function(
        "n => document.querySelectorAll('.js-plotly-plot').length >= n", arg=charts, timeout=LOAD_TIMEOUT_MS
    )
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=LOAD_TIMEOUT_MS)  # a page without charts too
    # The script has finished when the status widget no longer says it is running.
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText?.includes('Running')",
        timeout=LOAD_TIMEOUT_MS,
    )
    page.wait_for_timeout(500)  # Plotly lays its charts out after they are attached
    return page


@pytest.mark.parametrize("name", PAGES)
def test_every_page_draws_all_its_charts_without_an_exception(
    chromium: Any, dashboards: dict[str, str], artifacts_dir: Path, name: str
) -> None:
    expected = len(CHARTS[name])
    page = open_page(chromium, f"{dashboards['demo']}/{URL_PATHS[name]}", expected)
    try:
        page.screenshot(path=str(artifacts_dir / f"{name}.png"))
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator(".js-plotly-plot").count() == expected
        # Every chart has drawn data, not a placeholder saying why it has none (charts.empty: "No ... in this window").
        assert page.locator(".js-plotly-plot").get_by_text(re.compile(r"^No .* in this window")).count() == 0
        assert page.locator('[data-testid="stMetric"]').count() >= (1 if name != "calls" else 5)
    finally:
        page.close()


def test_overview_answers_at_its_own_url_path_and_nothing_comes_from_the_internet(
    chromium: Any, dashboards: dict[str, str]
) -> None:
    """/overview (the page's url_path, which bookmarks and shared links use) draws the Overview, and no request leaves
    the dashboard's own address (the tab icon included): it works offline."""
    page = chromium.new_page(viewport=VIEWPORT)
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((dashboards["demo"], "data:", "blob:")) else elsewhere.append(r.url))
    try:
        page.goto(f"{dashboards['demo']}/overview", wait_until="domcontentloaded")
        page.wait_for_function(
            "n => document.querySelectorAll('.js-plotly-plot').length >= n", arg=len(CHARTS["overview"]), timeout=LOAD_TIMEOUT_MS
        )
        assert page.get_by_role("heading", name="Overview").count() >= 1
        assert page.get_by_text("Page not found").count() == 0
        assert elsewhere == []
    finally:
        page.close()


def test_times_are_shown_in_the_viewers_time_zone(chromium: Any, dashboards: dict[str, str], demo_store: Path) -> None:
    """The Calls page opens its list's first call, the newest; its start time reads in the browser's zone, not the
    server's UTC."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from tracer.read import Store

    (start,) = Store(demo_store).rows("SELECT start_time FROM calls ORDER BY start_time DESC, span_id LIMIT 1")[0]
    local = start.astimezone(ZoneInfo(VIEWER_TIMEZONE))
    assert local.strftime("%H") != start.astimezone(dt.UTC).strftime("%H")
    page = open_page(chromium, f"{dashboards['demo']}/calls", len(CHARTS["calls"]))
    try:
        assert page.get_by_text(local.strftime("%m-%d %H:%M:%S")).count() >= 1
    finally:
        page.close()


def test_an_empty_store_shows_how_to_instrument_an_app(
    chromium: Any, dashboards: dict[str, str], artifacts_dir: Path
) -> None:
    page = chromium.new_page(viewport=VIEWPORT)
    try:
        page.goto(dashboards["empty"], wait_until="domcontentloaded")
        page.get_by_text("Instrument your app").wait_for(timeout=LOAD_TIMEOUT_MS)
        page.screenshot(path=str(artifacts_dir / "empty-store.png"))
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_text("holds no calls yet").count() == 1
        assert page.get_by_text("tracer demo --calls").count() >= 1
    finally:
        page.close()


def chosen(page: Any) -> str:
    """What the page's last select box shows (Streamlit draws the choice in its input's value or a title)."""
    return str(page.locator('[data-testid="stSelectbox"]').last.evaluate(
        "e => [e.innerText, ...[...e.querySelectorAll('input, [title], [value]')].map("
        "x => x.value || x.getAttribute('title') || '')].join(' | ')"
    ))  # fmt: skip


def test_a_run_and_a_conversation_open_from_their_urls(
    chromium: Any, dashboards: dict[str, str], demo_store: Path, artifacts_dir: Path
) -> None:
    """/traces?trace=ID draws that agent run's tree; /conversations?conversation=ID that conversation's turns, its
    cache miss flagged. Screenshots: traces-run.png and conversation.png."""
    from tracer.read import Store

    store = Store(demo_store)
    (trace_id,) = store.rows("SELECT trace_id FROM spans WHERE name = 'agent.run' ORDER BY start_time LIMIT 1")[0]
    (conversation,) = store.rows(
        "SELECT conversation_id FROM conversations GROUP BY 1 ORDER BY bool_or(cache_rewrite) DESC, 1 LIMIT 1"
    )[0]
    page = open_page(chromium, f"{dashboards['demo']}/traces?trace={trace_id}", len(CHARTS["traces"]))
    try:
        page.screenshot(path=str(artifacts_dir / "traces-run.png"))
        assert page.locator('[data-testid="stException"]').count() == 0
        assert trace_id[:8] in chosen(page)
        assert page.locator(".js-plotly-plot").get_by_text("tool runner").count() >= 1
    finally:
        page.close()
    page = open_page(chromium, f"{dashboards['demo']}/conversations?conversation={conversation}", len(CHARTS["conversations"]))
    try:
        page.screenshot(path=str(artifacts_dir / "conversation.png"))
        assert page.locator('[data-testid="stException"]').count() == 0
        assert conversation in chosen(page)
        assert page.get_by_text("Cache miss on turn").count() == 1
    finally:
        page.close()


# ----------------------------------------------------------------------------------------------------------------
# At a laptop's 1440x900: attribution first, and drill-down that follows (each checked against SQL written here)
# ----------------------------------------------------------------------------------------------------------------

LAPTOP = {"width": 1440, "height": 900}


def open_laptop(chromium: Any, url: str, charts: int) -> Any:
    """`open_page` at 1440x900, the size the team lead looked at."""
    page = chromium.new_page(viewport=LAPTOP, timezone_id=VIEWER_TIMEZONE)
    page.goto(without_live_refresh(url), wait_until="domcontentloaded")
    page.wait_for_function(
        "n => document.querySelectorAll('.js-plotly-plot').length >= n", arg=charts, timeout=LOAD_TIMEOUT_MS
    )
    page.locator('[data-testid="stMetric"]').first.wait_for(timeout=LOAD_TIMEOUT_MS)
    settle(page)
    return page


def settle(page: Any) -> None:
    """Wait until Streamlit has finished running the script (after a load or a widget change)."""
    page.wait_for_timeout(700)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')?.innerText?.includes('Running')",
        timeout=LOAD_TIMEOUT_MS,
    )
    page.wait_for_timeout(700)


def grid(page: Any, index: int = 0) -> dict[str, Any]:
    """What a table (Streamlit's canvas grid) shows in its first screen: the accessible table it keeps of its visible
    columns holds their headings and raw cell values."""
    table = page.locator('[data-testid="stDataFrame"]').nth(index)
    table.scroll_into_view_if_needed()
    return table.evaluate(
        """g => ({
            headings: [...g.querySelectorAll('th')].map(t => t.innerText),
            rows: [...g.querySelectorAll('tbody tr')].map(r => [...r.querySelectorAll('td')].map(d => d.innerText)),
        })"""
    )


def shown_metrics(page: Any) -> dict[str, str]:
    out = {}
    for metric in page.locator('[data-testid="stMetric"]').all():
        label = metric.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        out[label] = metric.locator('[data-testid="stMetricValue"]').inner_text().strip()
    return out


@pytest.mark.world  # the slowest browser check (four lists, every column measured): make test-world
def test_cost_is_the_first_column_of_every_list_with_no_horizontal_scrolling(
    chromium: Any, dashboards: dict[str, str], demo_store: Path
) -> None:
    """Overview's per-model table, the Calls, Traces and Conversations lists: "Cost (USD)" is the first heading of the
    columns the grid draws in its first screen, and its first cell is the SQL's cost of the list's first row."""
    from tracer.read import Store

    store = Store(demo_store)
    first_costs = {
        "overview": "SELECT sum(cost_usd)::DOUBLE FROM calls GROUP BY model ORDER BY 1 DESC NULLS LAST, count(*) DESC LIMIT 1",
        "calls": "SELECT cost_usd::DOUBLE FROM calls ORDER BY start_time DESC, span_id LIMIT 1",
        "traces": "SELECT cost_usd::DOUBLE FROM traces ORDER BY start_time DESC, trace_id LIMIT 1",
        "conversations": "SELECT sum(cost_usd)::DOUBLE FROM conversations GROUP BY conversation_id "
                         "ORDER BY max(start_time) DESC, conversation_id LIMIT 1",
    }  # fmt: skip
    for name, sql in first_costs.items():
        page = open_laptop(chromium, f"{dashboards['demo']}/{URL_PATHS[name]}", len(CHARTS[name]))
        try:
            shown = grid(page)
            assert shown["headings"][0] == "Cost (USD)", (name, shown["headings"])
            assert len(shown["headings"]) < 25  # the grid's first screen, not every column of the frame
            (expected,) = store.rows(sql)[0]
            cell = shown["rows"][0][0]
            if expected is None:
                assert cell == "", (name, cell)
            else:
                assert float(cell) == pytest.approx(expected, rel=1e-9), name
        finally:
            page.close()


def test_a_call_outside_the_list_opened_by_its_url_shows_model_cost_and_status(
    chromium: Any, dashboards: dict[str, str], demo_store: Path
) -> None:
    from tracer._money import usd
    from tracer.read import Store

    store = Store(demo_store)
    span_id, model, cost, status, http_status = store.rows(
        "SELECT span_id, model, cost_usd::DOUBLE, status, http_status FROM calls WHERE cost_usd IS NOT NULL "
        "ORDER BY start_time, span_id LIMIT 1"
    )[0]
    (newer,) = store.rows(f"SELECT count(*) FROM calls WHERE start_time > (SELECT start_time FROM calls WHERE span_id = '{span_id}')")[0]
    assert newer >= 50  # so it is not on the list's first page
    page = open_laptop(chromium, f"{dashboards['demo']}/calls?call={span_id}", len(CHARTS["calls"]))
    try:
        shown = shown_metrics(page)
        assert shown["Model"] == model
        assert shown["Cost"] == usd(cost)
        assert shown["Status"] == f"{status} {http_status}"
        assert page.get_by_text("not in the list above").count() == 1
    finally:
        page.close()


def test_paging_reaches_the_51st_call(chromium: Any, dashboards: dict[str, str], demo_store: Path) -> None:
    from tracer.read import Store

    (fifty_first,) = Store(demo_store).rows("SELECT span_id FROM calls ORDER BY start_time DESC, span_id LIMIT 1 OFFSET 50")[0]
    page = open_laptop(chromium, f"{dashboards['demo']}/calls", len(CHARTS["calls"]))
    try:
        page.locator('[data-testid="stNumberInputStepUp"]').first.click()
        page.get_by_text(re.compile(r"^Calls 51–")).wait_for(timeout=LOAD_TIMEOUT_MS)
        settle(page)
        shown = grid(page)
        column = shown["headings"].index("Call")
        assert shown["rows"][0][column].endswith(f"call={fifty_first}")
        assert fifty_first in chosen(page)  # the detail follows the list to its new first call
    finally:
        page.close()


def test_a_chart_selection_narrows_the_list(chromium: Any, dashboards: dict[str, str], demo_store: Path) -> None:
    """Dragging a box over the first third of "Calls per minute by status" keeps, in the list, the calls of the
    buckets and statuses selected: as many as SQL counts in the window and statuses the page states."""
    import datetime as dt

    from tracer.read import Store

    store = Store(demo_store)
    page = open_laptop(chromium, f"{dashboards['demo']}/calls", len(CHARTS["calls"]))
    try:
        area = page.locator('[data-testid="stPlotlyChart"]').first.locator(".nsewdrag").first
        area.scroll_into_view_if_needed()
        box = area.bounding_box()
        page.mouse.move(box["x"] + 2, box["y"] + 3)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.35, box["y"] + box["height"] - 3, steps=8)
        page.mouse.up()
        note = page.get_by_text("selected on the chart")
        note.wait_for(timeout=LOAD_TIMEOUT_MS)
        settle(page)
        match = re.search(r"status ([\w, ]+), from (\S+) to (\S+) \(UTC\)", note.inner_text())
        assert match, note.inner_text()
        statuses = [s.strip() for s in match.group(1).split(",")]
        lo, hi = (dt.datetime.fromisoformat(t.replace("Z", "+00:00")) for t in match.group(2, 3))
        (expected,) = store.rows(
            f"SELECT count(*) FROM calls WHERE start_time >= ? AND start_time < ? AND status IN ({', '.join('?' * len(statuses))})",
            [lo, hi, *statuses],
        )[0]
        (everything,) = store.rows("SELECT count(*) FROM calls")[0]
        caption = page.get_by_text(re.compile(r"^Calls 1–\d+ of [\d,]+$")).inner_text()
        assert int(caption.rsplit(" ", 1)[1].replace(",", "")) == expected < everything
    finally:
        page.close()


def test_the_run_detail_follows_a_list_change(chromium: Any, dashboards: dict[str, str], demo_store: Path) -> None:
    """Switching the runs list to errors only moves the detail to a run of that list: one with an error, by SQL
    over the traces view, where the run shown before had none."""
    from tracer.read import Store

    store = Store(demo_store)
    page = open_laptop(chromium, f"{dashboards['demo']}/traces", len(CHARTS["traces"]))
    try:
        before = chosen(page)
        page.get_by_text("Errors only").click()
        settle(page)
        shown = grid(page)
        runs = [row[shown["headings"].index("Run")].rsplit("trace=", 1)[1] for row in shown["rows"]]
        with_errors = {t for (t,) in store.rows("SELECT trace_id FROM traces WHERE errors > 0")}
        assert runs and set(runs) <= with_errors
        after = chosen(page)
        assert after != before
        assert any(t[:8] in after for t in with_errors)
        assert not any(t[:8] in before for t in with_errors)  # the demo's richest run had no error
    finally:
        page.close()


def same_money(shown: str, expected: float) -> bool:
    """`shown` (as `tracer._money.usd` writes it) is `expected` to the digits it shows: the page adds in another
    order than SQL does, which may move the last digit's rounding."""
    from dashtest import parse_usd

    places = len(shown.rpartition(".")[2])
    return abs(parse_usd(shown) - expected) <= 0.51 * 10**-places


def test_each_savings_figure_equals_its_sql(chromium: Any, dashboards: dict[str, str], demo_store: Path) -> None:
    """The Savings page's figures, as a person reads them at 1440x900, against SQL over the store written here (the
    cache figures are the ones capture put on each call, the what-if's list prices come from the price table, as the
    page's method lines say)."""
    from tracer.cost import default_table
    from tracer.read import Store

    store = Store(demo_store)
    (saved,) = store.rows("SELECT coalesce(sum(cache_read_saved_usd) - sum(cache_write_premium_usd), 0) FROM calls")[0]
    (rewrites,) = store.rows(
        "SELECT coalesce(sum(c.cache_write_premium_usd), 0) FROM calls c "
        "JOIN conversations v ON v.span_id = c.span_id AND v.trace_id = c.trace_id WHERE v.cache_rewrite"
    )[0]
    (batchable,) = store.rows(
        "SELECT sum(cost_usd)::DOUBLE FROM calls WHERE NOT streaming AND operation = 'chat' AND conversation_id IS NULL "
        "AND status = 'ok' AND cost_usd IS NOT NULL"
    )[0]
    (target,) = store.rows("SELECT min(model) FROM calls WHERE model IS NOT NULL")[0]  # the what-if's first choice
    prices = default_table().list_prices(target)
    assert prices is not None
    rates = {kind: float(usd) / 1e6 for kind, usd in prices.items()}
    (cost, on_target) = store.rows(
        "SELECT sum(cost_usd)::DOUBLE, sum(coalesce(input_tokens, 0) * ? + coalesce(output_tokens, 0) * ? "
        "+ coalesce(cache_read_tokens, 0) * ? + (coalesce(cache_write_tokens, 0) - coalesce(cache_write_1h_tokens, 0)) * ? "
        "+ coalesce(cache_write_1h_tokens, 0) * ?) FROM calls WHERE cost_usd IS NOT NULL",
        [rates["input"], rates["output"], rates["cache_read"], rates["cache_write_5m"], rates["cache_write_1h"]],
    )[0]  # fmt: skip
    (lost_s,) = store.rows(
        "SELECT sum(epoch_us(last_start) - epoch_us(call_start)) / 1e6 FROM (SELECT max_by(start_time, attempt) AS last_start, "
        "any_value(call_start_time) AS call_start FROM attempts WHERE call_start_time IS NOT NULL "
        "GROUP BY trace_id, call_span_id HAVING count(*) > 1)"
    )[0]
    (after_429_s,) = store.rows(
        "SELECT sum(coalesce(epoch_us(next_start) - epoch_us(start_time), duration_ms * 1000)) / 1e6 FROM (SELECT *, "
        "lead(start_time) OVER (PARTITION BY trace_id, call_span_id ORDER BY attempt) AS next_start FROM attempts "
        "WHERE call_start_time IS NOT NULL) WHERE http_status = 429"
    )[0]
    page = open_laptop(chromium, f"{dashboards['demo']}/savings", 0)
    try:
        page.get_by_text("Of it, after 429s").wait_for(timeout=LOAD_TIMEOUT_MS)
        settle(page)
        shown = shown_metrics(page)
        assert same_money(shown["Caching saved"], saved), (shown["Caching saved"], saved)
        assert same_money(shown["Cache rewrites cost"], rewrites), (shown["Cache rewrites cost"], rewrites)
        assert same_money(shown["Spend that could have been batched"], batchable), (shown["Spend that could have been batched"], batchable)
        assert same_money(shown["Batching would have saved"], batchable / 2), (shown["Batching would have saved"], batchable / 2)
        assert same_money(shown["Cost of these calls"], cost), (shown["Cost of these calls"], cost)
        assert same_money(shown[f"On {target} (what-if)"], on_target), (shown[f"On {target} (what-if)"], on_target)
        assert shown["Time lost to retries"] == f"{lost_s:,.1f} s"
        assert shown["Of it, after 429s"] == f"{after_429_s:,.1f} s"
        assert page.get_by_text("Method:").count() == 5
    finally:
        page.close()


def test_the_budget_projection_equals_a_hand_computation(chromium: Any, dashboards: dict[str, str], demo_store: Path) -> None:
    """Spent this month (SQL from the month's start to the page's "as of"), and its projection to the month's end:
    the spend divided by the time elapsed, times the month, computed here by hand."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from tracer.read import Store

    page = open_laptop(chromium, f"{dashboards['demo']}/budgets", len(CHARTS["budgets"]))
    try:
        stamp = re.search(r"As of (\S+ \S+) UTC", page.get_by_text("As of").inner_text())
        assert stamp
        now = dt.datetime.fromisoformat(stamp.group(1)).replace(tzinfo=dt.UTC)
        month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        next_month = (month + dt.timedelta(days=32)).replace(day=1)
        (spent,) = Store(demo_store).rows(
            "SELECT coalesce(sum(cost_usd), 0)::DOUBLE FROM calls WHERE start_time >= ? AND start_time < ?", [month, now]
        )[0]
        projected = spent / (now - month).total_seconds() * (next_month - month).total_seconds()
        shown = shown_metrics(page)
        assert same_money(shown["Spent this month"], spent), (shown, spent)
        assert same_money(shown["Budget"], MONTHLY_BUDGET_USD)
        assert same_money(shown["Projected to the month's end"], projected), (shown, projected)
        if projected > MONTHLY_BUDGET_USD:
            runs_out = month + dt.timedelta(seconds=MONTHLY_BUDGET_USD / (spent / (now - month).total_seconds()))
            local = runs_out.astimezone(ZoneInfo(VIEWER_TIMEZONE))
            assert shown["Runs out"] in (f"{local:%b %d %H:%M}", f"{(local + dt.timedelta(minutes=1)):%b %d %H:%M}")
        assert page.get_by_text("Projection: the spend so far").count() == 1
        assert page.get_by_text("Anomaly: An hour is flagged").count() == 1
    finally:
        page.close()


# ----------------------------------------------------------------------------------------------------------------
# Latency that reads true: operations as a filter, thin percentiles marked (against SQL written here)
# ----------------------------------------------------------------------------------------------------------------


def tile_ms(text: str) -> float:
    """A latency tile's value in ms: "516 ms" or "12.34 s"."""
    number, unit = text.replace(",", "").split()
    return float(number) * (1000.0 if unit == "s" else 1.0)


def latency_sql(store: Any, operations: tuple[str, ...]) -> tuple[int, list[float]]:
    marks = ", ".join("?" * len(operations))
    calls, found = store.rows(
        f"SELECT count(duration_ms), quantile_cont(duration_ms, [0.5, 0.95, 0.99]) FROM calls WHERE operation IN ({marks})",
        list(operations),
    )[0]
    return int(calls), [float(v) for v in found]


def test_the_latency_page_times_the_operations_chosen_and_says_what_it_leaves_out(
    chromium: Any, dashboards: dict[str, str], demo_store: Path, artifacts_dir: Path
) -> None:
    """Messages calls by default: the tiles are SQL's percentiles over `operation = 'chat'`, and the page names
    count_tokens with its SQL count among what it leaves out. Adding count_tokens to the filter moves the tiles to
    SQL's percentiles over both, and count_tokens leaves the "Left out" sentence. Split by operation, the table has
    one row per operation chosen, each with SQL's count."""
    from tracer.store import Store

    store = Store(demo_store)
    (counted,) = store.rows("SELECT count(*) FROM calls WHERE operation = 'count_tokens'")[0]
    assert counted > 0  # the demo's summarise scenario counts tokens first
    page = open_laptop(chromium, f"{dashboards['demo']}/latency", len(CHARTS["latency"]))
    try:
        for operations in (("chat",), ("chat", "count_tokens")):
            if len(operations) == 2:
                page.get_by_role("combobox", name="Operations timed").fill("count_tokens")
                page.keyboard.press("Enter")
                page.keyboard.press("Escape")  # the open list would hide the rest of the page from its accessibility tree
                settle(page)
            _, percentiles = latency_sql(store, operations)
            shown = {label.removesuffix(" (thin)"): value for label, value in shown_metrics(page).items()}
            for name, expected in zip(("p50", "p95", "p99"), percentiles, strict=True):
                # Tiles round to whole ms (or to 10 ms in seconds).
                assert tile_ms(shown[f"{name} latency"]) == pytest.approx(expected, abs=10.0 if expected >= 10_000 else 0.5), name
            caption = page.get_by_text("Left out:").inner_text()
            assert (f"count_tokens ({counted:,} call" in caption) == (operations == ("chat",)), caption
            assert page.get_by_text(f"Timing {', '.join('messages' if o == 'chat' else o for o in operations)}.").count() == 1
        page.locator(".st-key-latency_split").get_by_role("radio", name="Operation").click()
        settle(page)
        page.screenshot(path=str(artifacts_dir / "latency-by-operation.png"), full_page=True)
        table = grid(page, 0)
        column = table["headings"].index("Operation")
        calls_at = table["headings"].index("Calls")
        rows = {row[column]: int(float(row[calls_at])) for row in table["rows"]}
        expected_rows = dict(store.rows(
            "SELECT CASE operation WHEN 'chat' THEN 'messages' ELSE operation END, count(*) FROM calls "
            "WHERE operation IN ('chat', 'count_tokens') GROUP BY 1"
        ))  # fmt: skip
        assert rows == expected_rows
    finally:
        page.close()


def test_thin_percentiles_are_marked_as_sql_counts_say(
    chromium: Any, dashboards: dict[str, str], demo_store: Path, artifacts_dir: Path
) -> None:
    """A percentile with fewer than 5 calls beyond it is marked thin: in the per-model table, each model's "Thin
    percentiles" are those of p50 (10 calls), p95 (100) and p99 (500) that its SQL count of Messages calls does not
    reach; a tile says "(thin)" exactly when the window's count does not reach its percentile's minimum."""
    from tracer.store import Store

    minimum = {"p50": 10, "p95": 100, "p99": 500}
    store = Store(demo_store)
    per_model = dict(store.rows("SELECT model, count(*) FROM calls WHERE operation = 'chat' GROUP BY model"))
    (total,) = store.rows("SELECT count(*) FROM calls WHERE operation = 'chat'")[0]
    page = open_laptop(chromium, f"{dashboards['demo']}/latency", len(CHARTS["latency"]))
    try:
        page.screenshot(path=str(artifacts_dir / "latency-laptop.png"))
        table = grid(page, 0)
        model, thin = table["headings"].index("Model"), table["headings"].index("Thin percentiles")
        marks = {row[model]: row[thin] for row in table["rows"]}
        assert marks.keys() == per_model.keys()
        for name, calls in per_model.items():
            expected = ", ".join(p for p, n in minimum.items() if calls < n) or "no"
            assert marks[name] == expected, (name, calls, marks[name])
        assert any(mark != "no" for mark in marks.values())  # the demo store is small: some percentile is thin
        labels = set(shown_metrics(page))
        for p, n in minimum.items():
            assert (f"{p} latency (thin)" in labels) == (total < n), (p, total, labels)
        # The thin mark on the charts: the percentile bars say it in their labels.
        assert page.locator(".js-plotly-plot").get_by_text(re.compile(r" thin$")).count() >= 1
    finally:
        page.close()
