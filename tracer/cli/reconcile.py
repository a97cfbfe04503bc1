"""`tracer reconcile`: claude-tracer's recorded cost against Anthropic's own usage and cost reports.

tracer reconcile --since 7d                 # admin key from $ANTHROPIC_ADMIN_API_KEY
tracer reconcile --since 2d --json

Per UTC day x model x workspace: tokens and USD as recorded here and as Anthropic reports them, the difference, and
the part of it no known cause explains (calls made by processes claude-tracer did not watch). The admin key is read
from the environment only, sent in one header, and never printed, logged or stored.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

from tracer.cli import CliError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reconcile",
        help="compare recorded cost with Anthropic's usage and cost reports (Admin API)",
        description=(
            "Per day, model and workspace: what claude-tracer recorded, what Anthropic's Admin API reports, and the "
            "unexplained difference. Needs an admin key in $ANTHROPIC_ADMIN_API_KEY."
        ),
    )
    parser.add_argument("--since", default="7d", type=_duration, metavar="Nd", help="how far back (days), e.g. 7d")
    parser.add_argument("--store", help="store directory; default $TRACER_STORE, else ./.tracer")
    parser.add_argument(
        "--base-url", help="Admin API base URL (default $ANTHROPIC_BASE_URL, else https://api.anthropic.com)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    parser.set_defaults(func=handler)


def _duration(text: str) -> dt.timedelta:
    match = re.fullmatch(r"(\d+)\s*d", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a number of days such as 7d, got {text!r}")
    return dt.timedelta(days=int(match.group(1)))


def handler(args: argparse.Namespace) -> int:
    from tracer.cost._reconcile import ENV_ADMIN_KEY, AdminAPIError, reconciliation
    from tracer.read import Store

    key = os.environ.get(ENV_ADMIN_KEY)
    if not key:
        raise CliError(f"set ${ENV_ADMIN_KEY} to an Admin API key (sk-ant-admin...)")
    base_url = args.base_url or os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com"
    path = Path(args.store or os.environ.get("TRACER_STORE") or ".tracer").expanduser()
    try:
        rows = reconciliation(Store(path), since=args.since, base_url=base_url, admin_key=key)
    except AdminAPIError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        for row in rows:
            print(json.dumps({k: (str(v) if not isinstance(v, int | str | type(None)) else v)
                              for k, v in row.__dict__.items()}))  # fmt: skip
        return 0
    header = f"{'day':10}  {'model':28} {'workspace':14} {'ours $':>12} {'Anthropic $':>12} {'diff $':>10} {'unexplained $':>13}"
    print(header)
    for row in rows:
        print(
            f"{row.day:10}  {row.model[:28]:28} {(row.workspace or 'default')[:14]:14} {row.our_usd:>12.4f} "
            f"{row.their_usd:>12.4f} {row.diff_usd:>10.4f} {row.unexplained_usd:>13.4f}  {row.note}"
        )
    total = sum((r.unexplained_usd for r in rows), start=type(rows[0].diff_usd)(0)) if rows else 0
    print(f"unexplained in total: ${total:.4f}")
    return 0
