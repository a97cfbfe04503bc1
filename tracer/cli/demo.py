"""`tracer demo`: realistic Claude traffic against the bundled fake API, recorded into a store, then the dashboard.

tracer demo                                   # ~30 s of traffic into ./.tracer, a summary, the dashboard (Ctrl-C)
tracer demo --calls 500 --latency-scale 0.2   # more calls, five times faster
tracer demo --store /tmp/s --no-dashboard     # fill a store and exit (scripts, tests)

No API key is needed: the fake API runs in this process, with server-wide faults and realistic per-model latency.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from tracer.cli import CliError

DEFAULT_PORT = 8501
WIDTH = 100  # columns: the whole output fits one screen of this width


def register(subparsers: Any) -> None:
    from tracer.demo._settings import DEFAULT_CALLS, DEFAULT_CONCURRENCY

    parser = subparsers.add_parser(
        "demo",
        help="run realistic demo traffic against the bundled fake API, then open the dashboard",
        description=(
            "Serve the bundled fake Claude API in this process, instrument this process with tracer.instrument(), "
            "and drive a realistic workload: several models, streaming and not, sync and async, prompt caching, "
            "thinking, tools, count_tokens, a message batch, tags, and scripted faults (429s, an overload that trips "
            "a circuit breaker, a stalled stream, a mid-stream error, a budget trip, retries). Then print a summary "
            "and serve the dashboard over the store."
        ),
    )
    parser.add_argument(
        "--calls",
        type=_positive_int,
        default=DEFAULT_CALLS,
        metavar="N",
        help=f"about how many API calls to make (default {DEFAULT_CALLS}: 20-40 s at latency scale 1)",
    )
    parser.add_argument("--store", help="store directory; default $TRACER_STORE, else ./.tracer")
    parser.add_argument("--no-dashboard", action="store_true", help="fill the store, print the summary and exit")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"dashboard port (default {DEFAULT_PORT}; 0 = any free port)"
    )
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same workload (default 0)")
    parser.add_argument(
        "--latency-scale",
        type=_scale,
        default=1.0,
        metavar="F",
        help="multiply the fake API's realistic latency (and the demo's own waits); 0 = instant",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"calls in flight at once (default {DEFAULT_CONCURRENCY})",
    )
    parser.set_defaults(func=handler)  # fmt: skip


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {text!r}")
    return value


def _scale(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number like 0.5, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def handler(args: argparse.Namespace) -> int:
    from rich.console import Console

    store = Path(args.store or os.environ.get("TRACER_STORE") or ".tracer").expanduser().resolve()
    if store.exists() and not store.is_dir():
        raise CliError(f"{store} is a file; the demo writes a store directory (--store DIR)")
    # One 100-column screen, in a terminal or piped (the default for a pipe would squeeze it into 80).
    console = Console(width=min(Console().width, WIDTH) if Console().is_terminal else WIDTH)
    result = _run_with_progress(console, store, args)
    _summary(console, result)
    if result.unexpected:
        console.print(f"[red]{len(result.unexpected)} scenario(s) failed unexpectedly (a bug):[/red]")
        for text in result.unexpected[:3]:
            console.print(text, markup=False, highlight=False)
        return 1
    if args.no_dashboard:
        console.print(f"Store: {store}   Dashboard: tracer dashboard --store {store}")
        return 0

    from tracer.cli.dashboard import serve

    serve(store, port=args.port, block=True)
    return 0


def _run_with_progress(console: Any, store: Path, args: argparse.Namespace) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from tracer.demo import run

    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("calls"), TimeElapsedColumn())  # fmt: skip
    console.print(
        f"Demo traffic against the fake Claude API (latency x{args.latency_scale:g}, seed {args.seed}) into {store}"
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("starting", total=None)

        def on_start(tasks: list[Any]) -> None:
            progress.update(bar, total=sum(t.calls for t in tasks), description="calling Claude")

        def on_done(task: Any, outcome: str, note: str | None) -> None:
            # Notes are not printed as they come: a long run repeats its incidents, and the same line dozens of
            # times buried the summary. The scenario table after the run shows each scenario once, with its count.
            progress.advance(bar, task.calls)

        result = run(store, calls=args.calls, seed=args.seed, latency_scale=args.latency_scale,
                     concurrency=args.concurrency, on_start=on_start, on_done=on_done)  # fmt: skip
        progress.update(bar, description="done")
    return result


def _summary(console: Any, result: Any) -> None:
    from tracer.cli.report import render
    from tracer.demo import SERVICE_NAME
    from tracer.read import Filters, open_store, reliability

    store = open_store(result.store)
    # This run only: the store may hold earlier runs and other services.
    filters = Filters(start=result.started, services=(SERVICE_NAME,))
    seconds = (result.finished - result.started).total_seconds()
    failed = sum(n for outcome, n in result.outcomes.items() if outcome != "ok")
    console.print(
        f"\n{result.tasks} scenario runs in {seconds:.1f} s ({result.requests} HTTP requests to the fake API; "
        f"{failed} ended in an error the application would log). Models: {', '.join(result.models.all())}.\n"
    )
    console.print(scenario_table(result))
    render(console, store, filters, title="This demo run")
    events = reliability.events_summary(store, Filters(start=result.started))
    if not events.empty:
        from rich.table import Table

        table = Table(title="Resilience events", title_justify="left")
        for column in ("kind", "name", "events"):
            table.add_column(column, justify="right" if column == "events" else "left")
        for _, row in events.iterrows():
            table.add_row(str(row["kind"]), str(row["name"]), f"{int(row['events']):,}")
        console.print(table)


def scenario_table(result: Any) -> Any:
    """Each scenario that ran, once: how often, how many runs ended in an API error, and what happened (the lines
    it reported, most frequent first, with their counts; else what the scenario does)."""
    from rich.table import Table

    from tracer.demo import _scenarios as scenarios

    kinds = {fn.__name__: ("everyday", fn) for fn, _, _ in scenarios.EVERYDAY}
    kinds |= {fn.__name__: ("incident", fn) for fn, _ in scenarios.INCIDENTS}
    table = Table(title=f"Scenarios ({result.tasks} runs: everyday traffic, then the incidents)", title_justify="left")
    table.add_column("scenario", no_wrap=True, min_width=16)
    table.add_column("runs", justify="right", no_wrap=True, min_width=4)
    table.add_column("API errors", justify="right", no_wrap=True, min_width=10)
    # Wrapped, never cut: the lines are written to fit (tests/demo checks), a longer one takes a second line.
    table.add_column("what happened", overflow="fold")
    previous = "everyday"
    for name in sorted(result.scenarios, key=lambda n: (list(kinds).index(n) if n in kinds else len(kinds), n)):
        outcomes = result.scenarios[name]
        kind, fn = kinds.get(name, ("", None))
        if kind != previous:
            table.add_section()
            previous = kind
        notes = result.scenario_notes.get(name)
        if notes:
            # Counts only tell something when a scenario reported different lines (else it is the runs column).
            lines = [f"{text} (x{n})" if len(notes) > 1 else text for text, n in notes.most_common(2)]
            more = len(notes) - len(lines)
            happened = "; ".join(lines) + (f"; {more} more" if more else "")
        else:
            happened = ((fn.__doc__ or "") if fn else "").strip().split("\n")[0]
        errors = sum(n for outcome, n in outcomes.items() if outcome != "ok")
        table.add_row(name, f"{sum(outcomes.values()):,}", f"{errors:,}" if errors else "", happened)
    return table
