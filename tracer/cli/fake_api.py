"""`tracer fake-api`: serve the fake Claude API until Ctrl-C.

tracer fake-api --port 8765 --seed 1 --faults 429=0.05,529=0.02 --latency-scale 0.5
ANTHROPIC_BASE_URL=http://127.0.0.1:8765 ANTHROPIC_API_KEY=test python my_app.py
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

from tracer.cli import CliError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "fake-api",
        help="serve a fake Claude API (realistic latency, usage, rate limits, injected faults)",
        description=(
            "Serve a fake Claude API that the anthropic SDK can talk to: Messages (JSON and streaming), count_tokens, "
            "Message Batches and Models, with per-model latency, realistic usage, rate-limit headers and faults. "
            "Per request, the x-fake-script header scripts each attempt's outcome (e.g. '429:10,ok')."
        ),
    )
    parser.add_argument("--port", type=int, default=8765, help="port to listen on (0 picks a free one; default 8765)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed for answers, faults and latency (default 0)")
    parser.add_argument(
        "--faults",
        default=None,
        metavar="SPEC",
        help="server-wide fault rates for POST /v1/messages, e.g. 429=0.05,529=0.02,slow:2000=0.01",
    )
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=1.0,
        metavar="F",
        help="multiply the simulated latency (1 = about the real API's, 0 = none; default 1)",
    )
    parser.add_argument("--api-key", default=None, metavar="KEY", help="require this x-api-key (default: accept any)")
    parser.add_argument(
        "--rate-limits",
        default=None,
        metavar="SPEC",
        help="per-minute limits, e.g. requests=50,input_tokens=30000,output_tokens=8000 (default: very high)",
    )
    parser.set_defaults(func=handler)


def _rate_limits(spec: str | None) -> dict[str, int] | None:
    if spec is None:
        return None
    from tracer.fakeapi._limiter import KINDS

    limits: dict[str, int] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        kind, sep, value = part.partition("=")
        kind = kind.strip().replace("-", "_")
        if not sep or kind not in KINDS:
            raise CliError(f"--rate-limits: {part.strip()!r}: expected KIND=N with KIND one of {', '.join(KINDS)}")
        try:
            limits[kind] = int(value.replace("_", ""))
        except ValueError:
            raise CliError(f"--rate-limits: {part.strip()!r}: expected a whole number") from None
        if limits[kind] <= 0:
            raise CliError(f"--rate-limits: {part.strip()!r}: must be positive")
    return limits


def handler(args: argparse.Namespace) -> int:
    from tracer.fakeapi import FakeAPI, FaultSpecError

    if args.latency_scale < 0:
        raise CliError(f"--latency-scale must be 0 or more, got {args.latency_scale}")
    limits = _rate_limits(args.rate_limits)
    try:
        api = FakeAPI(
            seed=args.seed,
            latency_scale=args.latency_scale,
            faults=args.faults,
            api_key=args.api_key,
            rate_limits=limits,
            host=args.host,
            port=args.port,
            keep_requests=10_000,  # nobody reads them here; a server left running must not grow without bound
        )
    except FaultSpecError as exc:
        raise CliError(f"--faults: {exc}") from None
    try:
        api.start()
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    try:
        faults = str(api.faults) or "none"
        print(f"fake Claude API on {api.base_url} (seed {args.seed}, latency x{args.latency_scale:g}, faults {faults})")
        key = args.api_key or "test"
        print(f"point the SDK at it: ANTHROPIC_BASE_URL={api.base_url} ANTHROPIC_API_KEY={key} python your_app.py")
        print("Ctrl-C to stop", flush=True)
        threading.Event().wait()  # until KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    finally:
        api.stop()
    return 0
