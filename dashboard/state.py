"""What every page shares: the store (cached), the query runner (cached for a few seconds), the filters kept in
the URL, live refresh, number formats and the first-run screen. Pages only compose these with `charts`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from tracer import _money as money
from tracer import read
from tracer._models import NO_MODEL
from tracer.read import Filters

TTL_S = 10  # data is cached this long; live refresh is slower, so each refresh sees new calls
LIVE_EVERY_S = 30
RANGES: dict[str, str] = {
    "15m": "Last 15 minutes",
    "1h": "Last hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "all": "All time",
}
DEFAULT_RANGE = "all"


# --------------------------------------------------------------------------------------------------------------
# Store and queries
# --------------------------------------------------------------------------------------------------------------


def store_path() -> str:
    """`--store DIR` after `streamlit run app.py --`, else $TRACER_STORE, else ./.tracer."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--store")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return str(Path(known.store or os.environ.get("TRACER_STORE") or ".tracer").expanduser().resolve())


@st.cache_resource(show_spinner=False)
def _open(path: str) -> read.Readable:
    return read.open_store(path)


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=512)
def _run(path: str, name: str, filters: Filters, extra: tuple[tuple[str, Any], ...]) -> pd.DataFrame:
    query: Callable[..., pd.DataFrame] = read.NAMED[name]
    return query(_open(path), filters, **dict(extra))


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=512)
def _run_of(path: str, key: str, _query: Callable[..., Any], args: tuple[Any, ...], extra: tuple[tuple[str, Any], ...]) -> Any:
    # Streamlit cannot hash a function, and leaves out of the cache key every parameter whose name starts with "_":
    # the query is passed as it is, and `key` (its module and qualified name) stands for it in the cache key.
    return _query(_open(path), *args, **dict(extra))


def _cached(query: Callable[..., Any], args: tuple[Any, ...], extra: dict[str, Any]) -> Any:
    return _run_of(store_path(), f"{query.__module__}.{query.__qualname__}", query, args, tuple(sorted(extra.items())))


def value_of(query: Callable[..., Any], *args: Any, **extra: Any) -> Any:
    """`query(store, *args, **extra)` for a query that answers with one value (a count), cached like `run_of`."""
    return _cached(query, args, extra)


def run_of(query: Callable[..., pd.DataFrame], *args: Any, name_models: bool = True, **extra: Any) -> pd.DataFrame:
    """`query(store, *args, **extra)`, a named query of any module (`tracer.read.runs`...), cached like `run`."""
    return for_people(_cached(query, args, extra), zone(), name_models=name_models)


def store() -> read.Readable:
    """This dashboard's store, opened once per process."""
    return _open(store_path())


def run(name: str, filters: Filters, **extra: Any) -> pd.DataFrame:
    """The named query `tracer.read.NAMED[name]` over this dashboard's store, cached for `TTL_S` seconds, as a
    person reads it: times in the viewer's time zone, and `NO_MODEL` for the calls that name no model."""
    return for_people(_run(store_path(), name, filters, tuple(sorted(extra.items()))), zone())


def for_people(frame: pd.DataFrame, tz: dt.tzinfo | str, *, name_models: bool = True) -> pd.DataFrame:
    """`frame` with its times in `tz` and a label for a missing model (a new frame; the cached one is untouched)."""
    changes: dict[str, Any] = {}
    if name_models and "model" in frame.columns and frame["model"].isna().any():
        changes["model"] = frame["model"].astype(object).where(frame["model"].notna(), NO_MODEL)
    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            changes[column] = frame[column].dt.tz_convert(tz)
    return frame.assign(**changes) if changes else frame


def zone() -> dt.tzinfo | str:
    """The viewer's time zone (their browser's), else this server's."""
    try:
        browser = st.context.timezone
    except Exception:  # outside a session (scripts, benchmarks)
        browser = None
    return browser or dt.datetime.now().astimezone().tzinfo or dt.UTC


def colours() -> dict[str, str]:
    """Every model in the store with its colour: the same on every chart of every page (see `charts.model_colours`)."""
    from claude_tracer_dashboard.charts import model_colours

    models = _choices(store_path())[0]["model"]
    return model_colours([*models.dropna(), NO_MODEL])


def table(frame: pd.DataFrame, key: str, **options: Any) -> None:
    """`frame` as a person reads it, with a CSV download (see `tables.show`)."""
    from claude_tracer_dashboard import tables

    tables.show(frame, key, zone=zone(), **options)


@st.cache_data(ttl=TTL_S, show_spinner=False)
def _choices(path: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    store = _open(path)
    return read.choices.models_and_services(store), read.choices.tag_values(store)


def store_state() -> tuple[str, str | None]:
    """("ok", None), ("empty", None), ("missing", None) or ("error", message) for this dashboard's store."""
    path = store_path()
    if not Path(path).exists():
        return "missing", None
    try:
        calls = int(run("time_window", Filters())["calls"].iloc[0])
    except Exception as exc:  # a store being created, an older layout, a locked file: say so, do not crash
        return "error", f"{type(exc).__name__}: {exc}"
    return ("ok", None) if calls else ("empty", None)


# --------------------------------------------------------------------------------------------------------------
# Filters, kept in the URL (?range=24h&model=a&model=b&service=s&tag=feature=search&live=0)
# --------------------------------------------------------------------------------------------------------------

_KEYS = {"range": "f_range", "model": "f_models", "service": "f_services", "tag": "f_tags", "live": "f_live"}


def _init_from_url() -> None:
    if st.session_state.get("_filters_from_url"):
        return
    params = st.query_params
    rng = params.get("range", DEFAULT_RANGE)
    st.session_state["f_range"] = rng if rng in RANGES else DEFAULT_RANGE
    st.session_state["f_models"] = params.get_all("model")
    st.session_state["f_services"] = params.get_all("service")
    st.session_state["f_tags"] = [t for t in params.get_all("tag") if "=" in t]
    st.session_state["f_live"] = params.get("live", "1") != "0"
    st.session_state["_filters_from_url"] = True


def _sync_url() -> None:
    values: dict[str, Any] = {
        "range": st.session_state["f_range"],
        "model": list(st.session_state["f_models"]),
        "service": list(st.session_state["f_services"]),
        "tag": list(st.session_state["f_tags"]),
        "live": "1" if st.session_state["f_live"] else "0",
    }
    defaults = {"range": DEFAULT_RANGE, "live": "1"}
    for key, value in values.items():
        if value in ([], defaults.get(key)):
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get_all(key) != (value if isinstance(value, list) else [value]):
            st.query_params[key] = value


def sidebar_filters() -> None:
    """The filter widgets (sidebar); their values start from the URL and are written back to it."""
    _init_from_url()
    models_services, tags = _choices(store_path())
    models = sorted(set(models_services["model"].dropna()) | set(st.session_state["f_models"]))
    services = sorted(set(models_services["service_name"].dropna()) | set(st.session_state["f_services"]))
    tag_options = sorted({f"{t}={v}" for t, v in zip(tags["tag"], tags["value"], strict=True)} | set(st.session_state["f_tags"]))
    with st.sidebar:
        st.selectbox("Time range", list(RANGES), format_func=RANGES.__getitem__, key="f_range")
        st.multiselect("Model", models, key="f_models", placeholder="All models")
        st.multiselect("Service", services, key="f_services", placeholder="All services")
        st.multiselect("Tag", tag_options, key="f_tags", placeholder="Any tags", help="tracer.tags(key=value); all selected must match")
        st.toggle(f"Live refresh (every {LIVE_EVERY_S} s)", key="f_live")
        st.caption(f"Store: `{store_path()}`")
    _sync_url()


def link(page: str, **params: str) -> str:
    """A relative URL opening `page` (its url_path) with `params`, keeping the filters in force: a row's link."""
    kept = [(key, value) for key in _KEYS for value in st.query_params.get_all(key)]
    return f"{page}?{urlencode([*kept, *params.items()])}"


def links(page: str, param: str, values: pd.Series) -> pd.Series:
    """`link(page, param=value)` for each value (a table's link column)."""
    base = link(page)
    joiner = "" if base.endswith("?") else "&"
    return values.map(lambda v: None if v is None or pd.isna(v) else f"{base}{joiner}{urlencode({param: v})}")


def now() -> dt.datetime:
    # Rounded down to the cache lifetime so that repeated runs ask the same question and hit the cache.
    stamp = dt.datetime.now(dt.UTC).timestamp()
    return dt.datetime.fromtimestamp(stamp - stamp % TTL_S, dt.UTC)


def current_range() -> str:
    """The time range in force (a key of `RANGES`)."""
    rng = st.session_state.get("f_range", DEFAULT_RANGE)
    return rng if rng in RANGES else DEFAULT_RANGE


def filters_key() -> tuple[Any, ...]:
    """What the filters in force are set to (not the times they resolve to, which move with the clock): a list
    compares it to tell whether a person changed it."""
    return tuple(tuple(v) if isinstance(v := st.session_state.get(key), list) else v for key in _KEYS.values())


def current() -> Filters:
    """The filters in force (read from the widgets' state, so a live fragment sees changes too)."""
    rng = st.session_state.get("f_range", DEFAULT_RANGE)
    start = None if rng not in RANGES or rng == "all" else now() - read.parse_since(rng)
    tags: dict[str, str] = {}
    for item in st.session_state.get("f_tags", []):
        key, _, value = item.partition("=")
        tags[key] = value
    return Filters(
        start=start,
        models=tuple(st.session_state.get("f_models", ())),
        services=tuple(st.session_state.get("f_services", ())),
        tags=tags,
    )


def previous(filters: Filters) -> Filters | None:
    """The period of the same length just before `filters`' window (None for "All time": there is none)."""
    if filters.start is None:
        return None
    end = filters.end or now()
    return replace(filters, start=filters.start - (end - filters.start), end=filters.start)


def change(current: float | None, before: float | None) -> str | None:
    """A tile's change against the previous period, in percent ("+12.5%"), "new" where there was nothing before;
    None without a previous period (Streamlit then draws no delta)."""
    if current is None or before is None or pd.isna(current) or pd.isna(before):
        return None
    if before == 0:
        return None if current == 0 else "new"
    return f"{(current - before) / abs(before) * 100:+.1f}%"


def live(body: Callable[[], None]) -> None:
    """Run a page's panels in a fragment that re-runs on its own every LIVE_EVERY_S seconds (when live is on)."""
    every = LIVE_EVERY_S if st.session_state.get("f_live", True) else None
    st.fragment(run_every=every)(body)()


def ready() -> bool:
    """True when there is data to show; otherwise renders the first-run screen (or the store's error)."""
    state, message = store_state()
    if state == "ok":
        return True
    first_run(state, message)
    return False


def first_run(state: str, message: str | None = None) -> None:
    path = store_path()
    st.title("Claude API telemetry")
    if state == "error":
        st.warning(f"The store at `{path}` could not be read: {message}")
    elif state == "missing":
        st.info(f"No store at `{path}` yet: nothing has been recorded there.")
    else:
        st.info(f"The store at `{path}` holds no calls yet.")
    st.subheader("Instrument your app")
    st.markdown("One call at start-up; every Claude API call after it is recorded (cost, latency, retries, 429s):")
    st.code(
        f"""import anthropic
import tracer

tracer.instrument(store="{path}")       # or set TRACER_STORE; the default is ./.tracer

client = anthropic.Anthropic()
with tracer.tags(feature="search"):        # optional: attribute cost to a feature or customer
    client.messages.create(model="claude-sonnet-4-5", max_tokens=256,
                           messages=[{{"role": "user", "content": "Hello"}}])
tracer.flush()                             # before a short script exits""",
        language="python",
    )
    st.subheader("Or see it with demo traffic (no API key needed)")
    st.markdown("The bundled fake Claude API serves realistic traffic with injected faults (429s, 529s, timeouts):")
    st.code(f"tracer demo --calls 500 --store {path} --no-dashboard", language="bash")
    st.markdown("then reload this page. `tracer dashboard --store DIR` opens another store.")


# --------------------------------------------------------------------------------------------------------------
# Formats (the tests parse these back)
# --------------------------------------------------------------------------------------------------------------


def usd(value: float | None) -> str:
    """Money as every page, `tracer report` and the CLI write it (`tracer._money.usd`)."""
    return money.usd(value)


def count(value: float | None) -> str:
    return "0" if value is None or pd.isna(value) else f"{int(value):,}"


# A metric tile in a row of six shows about eight characters of its value at a laptop's width; Streamlit cuts a
# longer one to "22,269,..." with no way to read the rest. Tiles show these short forms; the exact figure goes in
# the tile's help (`exactly`).
_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def _short(value: float) -> str:
    """Three significant figures with a suffix: 1.23M, 22.3M, 123M."""
    for size, suffix in _SUFFIXES:
        if abs(value) >= size * 0.9995:
            scaled = value / size
            digits = 2 if abs(scaled) < 9.995 else 1 if abs(scaled) < 99.95 else 0
            return f"{scaled:.{digits}f}{suffix}"
    return f"{value:.0f}"


def tile_count(value: float | None) -> str:
    """A count for a metric tile: exact below a million ("987,654"), else short ("22.3M")."""
    if value is None or pd.isna(value):
        return "0"
    return count(value) if abs(value) < 1_000_000 else _short(float(value))


def tile_usd(value: float | None) -> str:
    """Money for a metric tile: as `usd` below $1,000 ("$987.65"), else short ("$12.3k", "$1.23M")."""
    if value is None or pd.isna(value) or abs(value) < 1_000:
        return usd(value)
    return ("-$" if value < 0 else "$") + _short(abs(float(value)))


def exactly(shown: str, exact: str) -> str:
    """The help sentence giving a tile's exact figure, when the tile shows it short; else nothing."""
    return "" if shown == exact else f" Exactly {exact}."


def pct(value: float | None) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value * 100:.2f}%"


def ms(value: float | None) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    return f"{value:,.0f} ms" if value < 10_000 else f"{value / 1000:,.2f} s"


def no_calls_here(filters: Filters) -> bool:
    """True (and says so) when the filters leave no calls although the store has some."""
    if int(run("time_window", filters)["calls"].iloc[0]):
        return False
    st.info("No calls match these filters. Widen the time range or clear the model/service/tag filters.")
    return True
