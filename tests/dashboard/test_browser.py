"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): `tracer dashboard` over the demo
store, every page loaded as a user would open it. No page shows a Streamlit exception, every chart is drawn, and
each page's screenshot is saved under ./artifacts/dashboard for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashtest import (  # noqa: F401  (the *_fixture names are fixtures)
    CHARTS,
    PAGES,
    artifacts_dir_fixture,
)

from tests.conftest import require_system_tool

pytestmark = pytest.mark.browser

LOAD_TIMEOUT_MS = 45_000
# Tall enough for every page to fit: Streamlit scrolls inside its main container, so a full-page screenshot of a
# shorter window would show only the top of the page.
VIEWPORT = {"width": 1400, "height": 3200}
# Far from the machine's UTC, so that a time shown in UTC instead of the viewer's zone cannot pass for local.
VIEWER_TIMEZONE = "America/Los_Angeles"
URL_PATHS = {"overview": "", "latency": "latency", "reliability": "reliability", "calls": "calls", "traces": "traces",
             "conversations": "conversations"}  # fmt: skip


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
    running = {"demo": serve(demo_store, port=0, block=False), "empty": serve(empty, port=0, block=False)}
    try:
        for name, dash in running.items():
            assert dash.wait_ready(60), f"the {name} dashboard did not start"
        yield {name: dash.url for name, dash in running.items()}
    finally:
        for dash in running.values():
            dash.stop()


def open_page(chromium: Any, url: str, charts: int) -> Any:
    """A new page at `url` (a viewer in `VIEWER_TIMEZONE`), once Streamlit has drawn `charts` Plotly charts and
    stopped running the script."""
    page = chromium.new_page(viewport=VIEWPORT, timezone_id=VIEWER_TIMEZONE)
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stMain"]', timeout=LOAD_TIMEOUT_MS)
    page.wait_for_function(
        "n => document.querySelectorAll('.js-plotly-plot').length >= n", arg=charts, timeout=LOAD_TIMEOUT_MS
    )
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
        # Every chart has drawn data, not the "No data in this window" placeholder.
        assert page.get_by_text("No data in this window").count() == 0
        assert page.locator('[data-testid="stMetric"]').count() >= (1 if name != "calls" else 5)
    finally:
        page.close()


def test_times_are_shown_in_the_viewers_time_zone(chromium: Any, dashboards: dict[str, str], demo_store: Path) -> None:
    """The Calls page opens the slowest call; its start time reads in the browser's zone, not the server's UTC."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from tracer.store import Store

    (start,) = Store(demo_store).rows("SELECT start_time FROM calls ORDER BY duration_ms DESC, span_id LIMIT 1")[0]
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
    from tracer.store import Store

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
