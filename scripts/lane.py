#!/usr/bin/env python3
"""Test claude-tracer on the newest or the oldest releases its declared ranges allow, not only on the lock.

    python3 scripts/lane.py newest --python 3.11 --python 3.13   # today's newest releases, on each Python
    python3 scripts/lane.py oldest                               # every lower bound of pyproject.toml, together

`make test` runs on requirements/lock.txt: what was last green. Users install claude-tracer into their own
environments, where pip picks the newest releases inside our ranges today, or keeps older ones that the ranges
still admit. A declared range is a promise, so both ends are tested on purpose:

- newest: a fresh venv, `uv pip install --resolution highest` of the project with its `dashboard` and `dev` extras,
  no lock: whatever the package index holds today.
- oldest: the same with `--resolution lowest-direct`: each dependency we name at the lower bound we declare
  (anthropic 1.14.0, duckdb 1.1.0, pandas 2.0.0, ...), what they need resolved as usual.

Each lane runs the tests of the layers every user has (`LANE_TESTS`), prints the versions it tested (and writes
them, with the counts, to `.cache/lanes/<lane>-py<version>.json` for docs/compatibility.md), and exits non-zero
when a test fails: a failure here means a release inside our range breaks us, to be fixed or the range narrowed
with a dated note. Venvs live in `.cache/lanes/` and are rebuilt each run (uv's cache makes that seconds).
Interpreters come from this machine (PATH, or pyenv's `/root/.pyenv/versions`): uv may not download one.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LANES = {"newest": "highest", "oldest": "lowest-direct"}
LANE_TESTS = ("tests/capture", "tests/cost", "tests/store", "tests/fakeapi", "tests/read")
SHOWN = ("anthropic", "opentelemetry-sdk", "genai-prices", "duckdb", "pandas", "pyarrow", "numpy", "streamlit",
         "plotly", "pytest", "hypothesis")  # fmt: skip


def log(message: str) -> None:
    print(f"lane: {message}", flush=True)


def uv() -> str:
    for candidate in (REPO / ".cache" / "tools" / "bin" / "uv", shutil.which("uv")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise SystemExit("lane: uv not found (run `make .venv/.stamp-installed` first, which bootstraps it)")


def interpreter(version: str) -> str:
    """A Python `version` (3.13) already on this machine: pyenv's own build (not its shim, which answers only for
    the selected version), else one on PATH that runs."""
    root = os.environ.get("PYENV_ROOT", "/root/.pyenv")
    candidates = sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"), reverse=True)
    on_path = shutil.which(f"python{version}")
    for candidate in [*candidates, *([on_path] if on_path else [])]:
        works = subprocess.run([candidate, "-c", "import sys; print(sys.version)"], capture_output=True, check=False)
        if works.returncode == 0:
            return candidate
    raise SystemExit(f"lane: no Python {version} on this machine (PATH or {root}/versions); uv may not download one")


def build(lane: str, python: str, venv: Path, env: dict[str, str]) -> dict[str, str]:
    """A fresh venv with the project installed at the lane's resolution; the installed versions by name."""
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([uv(), "venv", "-q", "--python", python, str(venv)], check=True, env=env)
    target = venv / "bin" / "python"
    subprocess.run(
        [uv(), "pip", "install", "-q", "--python", str(target), "--resolution", LANES[lane], "-e", f"{REPO}[dashboard,dev]"],
        check=True, env=env,
    )  # fmt: skip
    listed = subprocess.run([uv(), "pip", "list", "--python", str(target), "--format", "json"],
                            check=True, capture_output=True, text=True, env=env)  # fmt: skip
    return {row["name"].lower(): row["version"] for row in json.loads(listed.stdout)}


def locked_python() -> str | None:
    """The Python version (3.11) of the locked .venv that `make test` ran on, if there is one."""
    python = REPO / ".venv" / "bin" / "python"
    if not python.exists():
        return None
    out = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    return out.stdout.strip() or None


def same_as_lock(versions: dict[str, str]) -> bool:
    """Whether every package installed (claude-tracer aside) is pinned at that version in requirements/lock.txt."""
    pins = set(re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", (REPO / "requirements" / "lock.txt").read_text(), re.M))
    locked = {(re.sub(r"[-_.]+", "-", n).lower(), v) for n, v in pins}
    mine = {(re.sub(r"[-_.]+", "-", n).lower(), v) for n, v in versions.items() if n != "claude-tracer"}
    return mine <= locked


def counts(output: str) -> dict[str, int]:
    """pytest's closing line as numbers: {'passed': 812, 'skipped': 3, ...}."""
    tail = next((line for line in reversed(output.splitlines()) if re.search(r"\d+ (passed|failed|error)", line)), "")
    return {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)", tail)}


def run_lane(lane: str, version: str, extra_args: list[str]) -> int:
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never")
    python = interpreter(version)
    home = REPO / ".cache" / "lanes"
    home.mkdir(parents=True, exist_ok=True)
    name = f"{lane}-py{version}"
    venv = home / name
    started = time.monotonic()
    log(f"{name}: building {venv} ({LANES[lane]} resolution, {python})")
    try:
        versions = build(lane, python, venv, env)
    except subprocess.CalledProcessError as exc:
        log(f"{name}: could not build the environment: {exc}")
        return 2
    built = time.monotonic() - started
    log(f"{name}: " + ", ".join(f"{p} {versions[p]}" for p in SHOWN if p in versions) + f"  [{built:.0f} s]")
    if version == locked_python() and same_as_lock(versions):
        # Nothing newer than the lock today: `make test` ran these very versions on this Python already.
        log(f"{name}: every version is the lock's (requirements/lock.txt), which `make test` tested on Python "
            f"{version}: not run again")
        result = {"lane": name, "date": time.strftime("%Y-%m-%d"), "python": version, "resolution": LANES[lane],
                  "versions": {p: versions[p] for p in SHOWN if p in versions}, "same_as_lock": True, "ok": True}  # fmt: skip
        (home / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        return 0
    cmd = [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", *LANE_TESTS, *extra_args]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**env, "TRACER_LANE": name}, check=False)
    output = done.stdout + done.stderr
    (home / f"{name}.log").write_text(output)
    found = counts(output)
    took = time.monotonic() - started
    failed = [line for line in output.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    for line in failed[:40]:
        log(f"{name}: {line}")
    summary = ", ".join(f"{n} {kind}" for kind, n in found.items()) or "no test summary"
    log(f"{name}: {summary}  [{took:.0f} s; log {home / (name + '.log')}]")
    result = {
        "lane": name, "date": time.strftime("%Y-%m-%d"), "python": version, "resolution": LANES[lane],
        "versions": {p: versions[p] for p in SHOWN if p in versions}, "tests": list(LANE_TESTS), "counts": found,
        "seconds": round(took), "ok": done.returncode == 0,
    }  # fmt: skip
    (home / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if done.returncode == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("lane", choices=sorted(LANES))
    parser.add_argument("--python", action="append", help="a Python version on this machine (repeatable; default 3.11)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest arguments (after --)")
    args = parser.parse_args(argv)
    status = 0
    for version in args.python or ["3.11"]:
        status = max(status, run_lane(args.lane, version, args.pytest_args))
    return status


if __name__ == "__main__":
    sys.exit(main())
