"""`tracer prices`: the effective price table, or the cost of one hypothetical call with its breakdown.

tracer prices                                        # every model, per-MTok prices, source, effective date
tracer prices claude-sonnet-4-5 --input 1000 --output 500 --cache-read 20000 --batch
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from decimal import Decimal
from typing import Any

from tracer._money import usd
from tracer.cli import CliError

_TOKEN_OPTIONS = (
    ("--input", "input_tokens", "uncached input tokens"),
    ("--output", "output_tokens", "output tokens as the API reports them (thinking included)"),
    ("--cache-read", "cache_read", "tokens read from the prompt cache"),
    ("--cache-write-5m", "cache_write_5m", "tokens written to the cache with the 5-minute TTL"),
    ("--cache-write-1h", "cache_write_1h", "tokens written to the cache with the 1-hour TTL"),
    ("--thinking", "thinking", "of the output, thinking tokens (billed as output; --output defaults to this)"),
    ("--web-search", "web_search", "web search requests"),
)
_KIND_LABELS = {
    "input": "input",
    "cache_write_5m": "cache write 5m",
    "cache_write_1h": "cache write 1h",
    "cache_read": "cache read",
    "output": "output",
    "web_search": "web search",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "prices",
        help="the effective price table, or price one hypothetical call",
        description=(
            "Without MODEL: every model's per-MTok prices, where they come from and since when. With MODEL: "
            "the exact cost of one call with the given token counts, line by line."
        ),
    )
    parser.add_argument("model", nargs="?", help="any model name: dated, alias, Bedrock or Vertex ID")
    for flag, dest, text in _TOKEN_OPTIONS:
        parser.add_argument(flag, dest=dest, type=_count, default=0, metavar="N", help=text)
    parser.add_argument("--batch", action="store_true", help="through the Message Batches API (50%% off tokens)")
    parser.add_argument("--us-only", action="store_true", help='US-only inference (inference_geo="us")')
    parser.add_argument("--fast", action="store_true", help='fast mode (speed="fast")')
    parser.add_argument("--priority", action="store_true", help="priority tier (needs contract prices in --prices)")
    parser.add_argument("--at", type=_date, metavar="YYYY-MM-DD", help="prices in force on this date (default today)")
    parser.add_argument(
        "--prices", metavar="FILE", help="an override file (default: $TRACER_PRICES when set)", default=None
    )
    parser.set_defaults(func=handler)


def _count(text: str) -> int:
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number, got {text!r}")
    return value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-03-13, got {text!r}") from None


def _money(value: Decimal | None) -> str:
    """A price or a line of `tracer prices`' workings, exact (`tracer._money.usd`'s exact mode)."""
    return usd(value, exact=True, missing="-")


def handler(args: argparse.Namespace) -> int:
    from tracer.cost import PriceFileError, load_prices

    path = args.prices or os.environ.get("TRACER_PRICES") or None
    try:
        table = load_prices(path)
    except PriceFileError as exc:
        raise CliError(str(exc)) from None
    if args.model is None:
        _print_table(table, args.at)
        return 0
    return _price_one(table, args)


def _print_table(table: Any, at: dt.date | None) -> None:
    from rich.console import Console
    from rich.table import Table

    day = at or dt.datetime.now(dt.UTC).date()
    out = Table(title=f"Claude prices in USD per million tokens, in force on {day.isoformat()}", title_justify="left")
    for column in ("model", "input", "output", "5m write", "1h write", "cache read", "search/1k"):
        out.add_column(column, justify="left" if column == "model" else "right", no_wrap=True)
    out.add_column("long context", no_wrap=True)
    out.add_column("fast", no_wrap=True)
    out.add_column("source", no_wrap=True)
    out.add_column("since", no_wrap=True)
    for row in table.rows(day):
        rates = row.rates
        tier = ""
        if row.tier_starts:
            start = row.tier_starts[0]
            tier = f">{start // 1000}k: {_money(rates.input.at(start + 1))}/{_money(rates.output.at(start + 1))}"
        model = row.model + (" (deprecated)" if row.deprecated else "")
        out.add_row(
            model,
            _money(rates.input.base),
            _money(rates.output.base),
            _money(rates.cache_write_5m.base),
            _money(rates.cache_write_1h.base),
            _money(rates.cache_read.base),
            _money(row.web_search_per_1k),
            tier,
            row.fast or "",
            row.source + (f", {((1 - row.discount) * 100).normalize():f}% off" if row.discount is not None else ""),
            row.effective_date.isoformat() if row.effective_date else "-",
        )
    console = Console(width=max(Console().width, 180))
    console.print(out)
    console.print(
        "Batch API: 50% of every token price. US-only inference: 1.1x (Opus 4.6 and later). "
        "Priority tier: contract prices from an override file. Sources: " + ", ".join(table.sources)
    )


def _price_one(table: Any, args: argparse.Namespace) -> int:
    canonical = table.resolve_model(args.model)
    if canonical is None:
        matches = table.close_matches(args.model)
        hint = f"; close matches: {', '.join(matches)}" if matches else "; `tracer prices` lists every model"
        raise CliError(f"unknown model {args.model!r}{hint}")
    output = args.output_tokens
    if args.thinking > output:
        if output:
            raise CliError(f"--thinking {args.thinking} exceeds --output {output} (output tokens include thinking)")
        output = args.thinking
    usage = {
        "input_tokens": args.input_tokens,
        "cache_creation_input_tokens": args.cache_write_5m + args.cache_write_1h,
        "cache_creation": {
            "ephemeral_5m_input_tokens": args.cache_write_5m,
            "ephemeral_1h_input_tokens": args.cache_write_1h,
        },
        "cache_read_input_tokens": args.cache_read,
        "output_tokens": output,
        "output_tokens_details": {"thinking_tokens": args.thinking},
        "server_tool_use": {"web_search_requests": args.web_search, "web_fetch_requests": 0},
    }
    result = table.breakdown(
        args.model,
        usage,
        batch=args.batch,
        service_tier="priority" if args.priority else None,
        inference_geo="us" if args.us_only else None,
        speed="fast" if args.fast else None,
        at=args.at,
    )
    if result.total is None:
        raise CliError(result.notes[0])

    from rich.console import Console
    from rich.table import Table

    shown = canonical if canonical == args.model else f"{args.model} -> {canonical}"
    out = Table(title=f"{shown}: one call", title_justify="left")
    out.add_column("kind")
    out.add_column("quantity", justify="right")
    out.add_column("price", justify="right")
    out.add_column("USD", justify="right")
    for line in result.lines:
        if not line.quantity and line.kind not in ("input", "output"):
            continue
        out.add_row(
            _KIND_LABELS[line.kind], f"{line.quantity:,}", f"{_money(line.price)} / {line.unit}", _money(line.usd)
        )
    out.add_row("total", "", "", _money(result.total), style="bold")
    console = Console(width=max(Console().width, 100))
    console.print(out)
    for name, factor in result.adjustments:
        console.print(f"applied: {name} x{factor.normalize():f}")
    if result.tier:
        console.print(f"long-context tier: {result.tier}")
    for note in result.notes:
        console.print(f"note: {note}")
    effective = result.effective_date.isoformat() if result.effective_date else "-"
    console.print(f"source: {result.source}; effective {effective}")
    return 0
