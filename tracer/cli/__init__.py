"""The `tracer` command. Each subcommand lives in its own module with `register(subparsers)`.

Subcommand modules import their heavy dependencies inside their handlers, so `tracer --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# (module under tracer.cli, what it registers). A module that fails to import is reported, not fatal.
SUBCOMMANDS: tuple[str, ...] = ("demo", "dashboard", "report", "fake_api", "prices", "store_cmd", "reconcile")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tracer",
        description="claude-tracer: observability and cost tracking for the Claude API (anthropic SDK).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"tracer.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tracer.cli.{name}":
                raise
            continue  # not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except CliError as exc:
        print(f"tracer {args.command}: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        # The core install (an instrumented service) has no read side: say how to get it, in one line.
        if (exc.name or "").split(".")[0] not in DASHBOARD_MODULES:
            raise
        print(f"tracer {args.command}: {missing_extra(exc.name or '')}", file=sys.stderr)
        return 2


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2, no traceback."""


# What the `dashboard` extra brings (pyproject.toml): the read side, which an instrumented service does not need.
DASHBOARD_MODULES = frozenset({"duckdb", "pyarrow", "pandas", "numpy", "pytz", "streamlit", "plotly", "rich"})
INSTALL_DASHBOARD = "pip install 'claude-tracer[dashboard]'"


def missing_extra(module: str) -> str:
    return f"this needs {module}, which comes with the dashboard extra: {INSTALL_DASHBOARD}"


def require_dashboard_extra(*modules: str) -> None:
    """Raise CliError (one line, exit 2) when a module of the `dashboard` extra is not installed."""
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise CliError(missing_extra(module))


if __name__ == "__main__":
    sys.exit(main())
