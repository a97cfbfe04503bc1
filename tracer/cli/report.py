"""`tracer report [--store DIR] [--since 24h] [--until TIME]`: the dashboard's headline tables in the terminal."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from pathlib import Path
from typing import Any

from tracer.cli import CliError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="print cost, latency and reliability per model for a time window",
        description="Print the dashboard's headline tables (cost, latency, 429s, retries per model) for a time window.",
    )
    parser.add_argument("--store", help="store directory; default $TRACER_STORE, else ./.tracer")
    parser.add_argument("--since", default="24h", help="window start: a duration back from now (24h, 7d) or an ISO time; 'all' for everything (default 24h)")
    parser.add_argument("--until", help="window end: a duration back from now or an ISO time (default now; with --since all, none)")
    parser.add_argument("--model", action="append", default=[], help="only this model (repeatable)")
    parser.add_argument("--service", action="append", default=[], help="only this service (repeatable)")
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="only calls with this tag (repeatable)")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tracer.cli._loading import printer
    from tracer.read import Filters, open_store, parse_time

    now = dt.datetime.now(dt.UTC)
    try:
        start = None if args.since == "all" else parse_time(args.since, now=now)
        # A window ends at now: calls stamped in the future (a host whose clock runs fast) are not in "the last 24h".
        end = parse_time(args.until, now=now) if args.until else (None if start is None else now)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    tags = {}
    for item in args.tag:
        key, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--tag {item!r}: expected KEY=VALUE")
        tags[key] = value
    filters = Filters(start=start, end=end, models=tuple(args.model), services=tuple(args.service), tags=tags)
    path = Path(args.store or os.environ.get("TRACER_STORE") or ".tracer").expanduser()
    if not path.exists():
        raise CliError(f"no store at {path}: instrument an app (tracer.instrument()) or run `tracer demo --store {path} --no-dashboard`")
    try:
        store = open_store(path, progress=printer())
    except Exception as exc:
        raise CliError(f"cannot read the store at {path}: {exc}") from None
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the tables into 80 columns
        console = Console(width=160)
    render(console, store, filters, title=_window_title(start, end))
    return 0


def _window_title(start: dt.datetime | None, end: dt.datetime | None) -> str:
    def fmt(t: dt.datetime | None, default: str) -> str:
        return t.strftime("%Y-%m-%d %H:%M UTC") if t else default

    return f"Claude API calls, {fmt(start, 'the beginning')} to {fmt(end, 'now')}"


def _model(value: Any) -> str:
    """A model's name; calls that name none (batches, models list) are grouped as `(no model)`."""
    from tracer._models import NO_MODEL

    if value is None or (isinstance(value, float) and value != value):
        return NO_MODEL
    return str(value)


def _usd(value: Any) -> str:
    from tracer._money import usd

    return usd(value, missing="unpriced")


def _num(value: Any, digits: int = 0) -> str:
    import pandas as pd

    if value is None or pd.isna(value):
        return "-"
    return f"{value:,.{digits}f}"


def _pct(value: Any) -> str:
    import pandas as pd

    return "-" if value is None or pd.isna(value) else f"{value * 100:.2f}%"


WIDE = 130  # columns: below this, the tables fold their headings

def render(console: Any, store: Any, filters: Any, *, title: str = "Claude API calls") -> None:
    """Print the headline tables for `filters` (the same queries as the dashboard's Overview, Latency and
    Reliability pages: `tracer.read`)."""
    from rich.table import Table

    from tracer.read import latency, overview, reliability

    head = overview.headline(store, filters).iloc[0]
    if not int(head["calls"]):
        console.print(f"[bold]{title}[/bold]\nNo calls in this window.")
        return
    # On a narrow screen, headings on two lines (and, per model, shared padding): the tables fit 100 columns
    # (`tracer demo`'s screen) with every value whole.
    narrow = console.width < WIDE

    def heading(text: str) -> str:
        return text.replace("/", "\n/").replace(" ", "\n", 1) if narrow else text

    summary = Table(title=title, title_justify="left", show_header=True)
    for column in ("cost", "calls", "error rate", "tokens", "retries/call", "p50 ms", "p95 ms", "p99 ms", "unpriced calls"):
        summary.add_column(heading(column), justify="right", no_wrap=True)
    summary.add_row(
        _usd(head["cost_usd"]), _num(head["calls"]), _pct(head["error_rate"]), _num(head["total_tokens"]),
        _num(head["retries"] / head["calls"], 3), _num(head["p50_ms"]), _num(head["p95_ms"]),
        _num(head["p99_ms"]), _num(head["unpriced_calls"]),
    )  # fmt: skip
    console.print(summary)

    cost = overview.cost_by_model(store, filters).set_index("model")
    by_model = latency.latency_by_model(store, filters).set_index("model")
    rates = reliability.error_rates(store, filters).set_index("model")
    retries = reliability.retries_by_model(store, filters).set_index("model")
    per_model = Table(title="Per model", title_justify="left", collapse_padding=narrow)
    for column in ("model", "calls", "cost", "errors", "p50 ms", "p95 ms", "p99 ms", "TTFT p50", "429 rate", "529 rate", "retries/call"):
        per_model.add_column(heading(column), justify="left" if column == "model" else "right", no_wrap=True)
    for model, row in cost.iterrows():
        lat = by_model.loc[model] if model in by_model.index else None
        rate = rates.loc[model] if model in rates.index else None
        per_model.add_row(
            # Calls that name no model (batch management, model lists) are not billed: no cost, not "unpriced".
            _model(model), _num(row["calls"]), _usd(row["cost_usd"]) if isinstance(model, str) else "-", _num(row["errors"]),
            _num(lat["p50_ms"]) if lat is not None else "-", _num(lat["p95_ms"]) if lat is not None else "-",
            _num(lat["p99_ms"]) if lat is not None else "-", _num(lat["ttft_p50_ms"]) if lat is not None else "-",
            _pct(rate["rate_429"]) if rate is not None else "-", _pct(rate["rate_529"]) if rate is not None else "-",
            _num(retries.loc[model, "retries_per_call"], 3) if model in retries.index else "-",
        )  # fmt: skip
    console.print(per_model)
    _print_retiring(console, cost.reset_index())

    unpriced = overview.unpriced_calls(store, filters)
    if not unpriced.empty:
        console.print(
            f"[yellow]{int(unpriced['calls'].sum()):,} calls used models without a price "
            f"({', '.join(unpriced['model'])}); their cost is not in the totals above.[/yellow]"
        )

    cache = overview.cache_savings(store, filters)
    if cache["cache_read_tokens"].sum():
        saved = cache["saved_usd"].sum(min_count=1)
        all_input = cache[["input_tokens", "cache_read_tokens", "cache_write_tokens"]].to_numpy().sum()
        console.print(f"Prompt caching: {cache['cache_read_tokens'].sum() / all_input * 100:.1f}% of input tokens read from cache, saving {_usd(saved)}"
                      " at the prices the calls were billed at.")
        unknown = int(cache["cache_unknown_calls"].sum())
        if unknown:
            console.print(f"[yellow]{unknown:,} calls with cache tokens have no cache figures (unpriced, or stored before "
                          "claude-tracer recorded them): not in that saving.[/yellow]")

    _print_alerts(console, store, filters.end)
    _print_budgets(console, store, filters.end)

    tags = overview.cost_by_tag(store, filters).head(10)
    if not tags.empty:
        by_tag = Table(title="Cost by tag (top 10)", title_justify="left")
        for column in ("tag", "value", "calls", "cost"):
            by_tag.add_column(column, justify="right" if column in ("calls", "cost") else "left")
        for _, row in tags.iterrows():
            by_tag.add_row(str(row["tag"]), str(row["value"]), _num(row["calls"]), _usd(row["cost_usd"]))
        console.print(by_tag)


def _print_retiring(console: Any, per_model: Any) -> None:
    """The models in use that the installed SDK lists as deprecated: when each retires, and what still goes to it."""
    from rich.table import Table

    from tracer._models import retiring

    found = retiring(per_model)
    if not found:
        return
    table = Table(title="Models about to retire (deprecated in the installed anthropic SDK)", title_justify="left")
    for column in ("model", "end of life", "calls", "cost"):
        table.add_column(column, justify="right" if column in ("calls", "cost") else "left", no_wrap=True)
    for r in found:
        table.add_row(f"[yellow]{r.model}[/yellow]", r.when(), _num(r.calls), _usd(r.cost_usd))
    console.print(table)


def _print_budgets(console: Any, store: Any, end: Any) -> None:
    """Each configured budget (`tracer.read.budgets`: TRACER_BUDGETS, TRACER_BUDGET_USD_PER_DAY/_MONTH) at the
    window's end: spent so far in its period, the projection to the period's end and when it runs out; and the
    last 48 hours' anomalous hours."""
    import datetime as dt

    from rich.table import Table

    from tracer.read import Filters, budgets

    now = end or dt.datetime.now(dt.UTC)
    try:
        configured = budgets.load()
    except ValueError as exc:
        console.print(f"[yellow]Budgets not read: {exc}[/yellow]")
        configured = []
    if configured:
        found = budgets.status(store, configured, now)
        table = Table(title=f"Budgets at {now:%Y-%m-%d %H:%M} UTC", title_justify="left")
        for column in ("budget", "spent", "projected", "used", "runs out"):
            table.add_column(column, justify="left" if column == "budget" else "right", no_wrap=True)
        for _, row in found.iterrows():
            over = "[red]" if row["exceeded"] or row["projected_over"] else ""
            runs_out = "-" if pd_isna(row["runs_out"]) else f"{row['runs_out']:%Y-%m-%d %H:%M}"
            table.add_row(str(row["budget"]), _usd(row["spent_usd"]), f"{over}{_usd(row['projected_usd'])}",
                          _pct(row["used"]), runs_out)  # fmt: skip
        console.print(table)
        console.print(budgets.PROJECTION_METHOD, style="dim")
    hourly = budgets.hourly_spend(store, Filters(), now)
    flagged = hourly[hourly["anomaly"]]
    if not flagged.empty:
        hours = ", ".join(f"{h:%m-%d %H:00} ({_usd(u)})" for h, u in zip(flagged["hour"], flagged["spend_usd"], strict=True))
        console.print(f"[red]Spend anomalies (UTC hours):[/red] {hours}")
        console.print(budgets.ANOMALY_METHOD, style="dim")


def pd_isna(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def _print_alerts(console: Any, store: Any, end: Any) -> None:
    """The alert conditions of `tracer.alerts` (the Prometheus rules' thresholds) over the store, at the window's
    end: firing ones in red, and a line saying how many hold."""
    from rich.table import Table

    from tracer import alerts

    findings = alerts.evaluate(store, now=end)
    if not findings:
        return
    firing = [f for f in findings if f.firing]
    table = Table(title=f"Alerts at the window's end ({len(firing)} firing of {len(findings)} checked)", title_justify="left")
    for column in ("alert", "subject", "value", "threshold", "state"):
        table.add_column(column, justify="right" if column in ("value", "threshold") else "left", no_wrap=True)
    for f in firing or findings[:5]:
        table.add_row(f.alert, f.subject, _num(f.value, 3), _num(f.threshold, 3), "[red]firing[/red]" if f.firing else "ok")
    console.print(table)
