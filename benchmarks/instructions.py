"""Per-call work as instructions executed: claude-tracer's increment over the SDK's native span, load-independent.

    .venv/bin/python benchmarks/instructions.py [--calls 300] [--jobs 2]     (needs valgrind: apt install valgrind)

Wall and CPU time on a shared machine move with its load by more than the 50 us we budget per call
(`overhead.py --paired` reads quartiles 200-300 us apart even at load 1). The number of instructions a process
executes does not: this runs `overhead.py`'s child (the same client, calls and discarding exporter) under
valgrind's cachegrind, once with one call and once with 1 + `--calls` calls after the same warm-up, for each
configuration and call kind, and divides the difference by `--calls`. Start-up and imports cancel out; every
thread of the process counts (the caller's, our worker's, the export threads'). With `PYTHONHASHSEED=0` two runs
of the same child differ by well under 0.01%.

An instruction count is not a time: cache misses, GIL hand-overs and context switches cost time and are not
counted, so read it beside `overhead.py --paired`, not instead of it. To put the increment on the goal's scale it
is also printed at the CPU time per instruction of the native call, measured without valgrind in the same run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import overhead

CONFIGS = {
    "bare SDK (native off)": ("false", "none"),
    "SDK native spans": ("true", "provider"),
    "claude-tracer (native on, default)": ("true", "tracer"),
    "claude-tracer + store": ("true", "tracer-store"),
}
NATIVE = "SDK native spans"
OURS = ("claude-tracer (native on, default)", "claude-tracer + store")
WARMUP = 50
_REFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def _env(native: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACER_"))}
    env["ANTHROPIC_OPEN_TELEMETRY"] = native
    env["PYTHONHASHSEED"] = "0"
    return env


def _child_args(url: str, inst: str, kind: str, calls: int, store: str) -> list[str]:
    args = [sys.executable, str(Path(overhead.__file__)), "--child", url, inst, "plain" if kind == "non-stream" else "stream",
            str(calls), str(WARMUP)]  # fmt: skip
    return [*args, "--store", store] if store else args


def instructions(url: str, native: str, inst: str, kind: str, calls: int) -> int:
    """Instructions the child executes in all, with `calls` timed calls after the warm-up."""
    with tempfile.TemporaryDirectory(prefix="tracer-instructions-") as tmp:
        store = str(Path(tmp) / "store") if inst == "tracer-store" else ""
        out = subprocess.run(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
             *_child_args(url, inst, kind, calls, store)],
            capture_output=True, text=True, env=_env(native), check=False,
        )  # fmt: skip
    found = _REFS.search(out.stderr)
    if out.returncode != 0 or found is None:
        raise RuntimeError(f"the child failed under valgrind ({inst}, {kind}):\n{out.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def cpu_per_call(url: str, kind: str, calls: int, runs: int = 3) -> float:
    """The native call's process CPU per call in microseconds, without valgrind: the least of `runs` fresh processes
    (a loaded machine only ever adds to it)."""
    least = float("inf")
    for _ in range(runs):
        out = subprocess.run(_child_args(url, "provider", kind, calls, ""), capture_output=True, text=True, env=_env("true"), check=True)
        least = min(least, float(json.loads(out.stdout.strip().splitlines()[-1])["cpu_us"]))
    return least


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="calls whose instructions are counted, per configuration")
    parser.add_argument("--jobs", type=int, default=2, help="valgrind runs at once (each takes a core for about a minute)")
    parser.add_argument("--kind", choices=("non-stream", "stream"), action="append", help="call kinds (default both)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("benchmarks/instructions.py needs valgrind (Debian: apt install valgrind)", file=sys.stderr)
        return 2
    kinds = args.kind or ["non-stream", "stream"]

    from tracer.fakeapi import FakeAPI

    print(f"Instructions per call, all threads of the client process (valgrind cachegrind; {args.calls} calls, "
          f"difference of two runs)\n  start: {overhead.load_average()}")  # fmt: skip
    with FakeAPI(seed=0, latency_scale=0.0) as api:
        runs = [(name, kind, n) for kind in kinds for name in CONFIGS for n in (1, 1 + args.calls)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
            futures = {run: pool.submit(instructions, api.base_url, *CONFIGS[run[0]], run[1], run[2]) for run in runs}
            counts = {run: future.result() for run, future in futures.items()}
        native_cpu = {kind: cpu_per_call(api.base_url, kind, 1000) for kind in kinds}
    for kind in kinds:
        per_call = {name: (counts[(name, kind, 1 + args.calls)] - counts[(name, kind, 1)]) / args.calls for name in CONFIGS}
        us_per_instruction = native_cpu[kind] / per_call[NATIVE]
        goal = overhead.PAIRED_GOAL_US[kind]
        print(f"\n  {kind} (native call: {per_call[NATIVE] / 1e6:.3f} M instructions, {native_cpu[kind]:.0f} us of process CPU "
              f"without valgrind: {us_per_instruction * 1e6:.1f} us per M instructions)")  # fmt: skip
        for name, n in per_call.items():
            line = f"    {name:36} {n / 1e6:7.3f} M"
            if name != NATIVE:
                added = n - per_call[NATIVE]
                line += f"   {added / 1e3:+9.1f} k over native ({added / per_call[NATIVE]:+.1%}) = {added * us_per_instruction:+7.1f} us"
                if name in OURS:
                    line += f" at the native rate; goal <= {goal:+.0f} us: {'met' if added * us_per_instruction <= goal else 'NOT met'}"
            print(line)
    print(f"\n  end: {overhead.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
