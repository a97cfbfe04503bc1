#!/usr/bin/env python3
"""The committed lock of the test environment, and the check that it still matches pyproject.toml.

    python3 scripts/lock.py check     # exit 1, naming each difference, when pyproject.toml and the lock disagree
    python3 scripts/lock.py write     # (make lock) re-resolve requirements/lock.txt with uv, newest within our ranges

`requirements/lock.txt` pins every package `make test`, `make demo` and `.ci/run` install (the `dashboard` and `dev`
extras and all they pull in), with hashes, for every Python we support (one universal resolution, markers where
versions differ by Python). Its header records the requirements of pyproject.toml it was resolved from; `check`
compares them with today's pyproject.toml using the standard library alone, so it runs before any venv exists.

The library's own ranges in pyproject.toml stay ranges (users install into their own environments); the lock is
only what we test. The newest and oldest releases inside those ranges are tested on purpose by `scripts/lane.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = REPO / "pyproject.toml"
LOCK = REPO / "requirements" / "lock.txt"
EXTRAS = ("dashboard", "dev")
MARK = "# from pyproject.toml: "


def declared() -> list[str]:
    """What pyproject.toml asks for, one line each, in a stable order (extras prefixed with their name)."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    lines = [f"requires-python {project['requires-python']}"]
    lines += sorted(project["dependencies"])
    for extra in EXTRAS:
        lines += sorted(f"[{extra}] {req}" for req in project["optional-dependencies"][extra])
    return lines


def recorded() -> list[str]:
    return [line[len(MARK):] for line in LOCK.read_text().splitlines() if line.startswith(MARK)]


def check() -> int:
    if not LOCK.exists():
        print(f"lock: {LOCK.relative_to(REPO)} is missing: run `make lock`", file=sys.stderr)
        return 1
    now, then = declared(), recorded()
    if now == then:
        return 0
    print(
        "lock: pyproject.toml and requirements/lock.txt disagree; run `make lock` (re-resolves within the ranges and"
        " may move other pins: review the diff) or undo the change to pyproject.toml:",
        file=sys.stderr,
    )
    for line in then:
        if line not in now:
            print(f"  - {line}   (in the lock, no longer in pyproject.toml)", file=sys.stderr)
    for line in now:
        if line not in then:
            print(f"  + {line}   (in pyproject.toml, not in the lock)", file=sys.stderr)
    return 1


def write(uv: str) -> int:
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never")
    extras = [arg for extra in EXTRAS for arg in ("--extra", extra)]
    out = subprocess.run(
        [uv, "pip", "compile", str(PYPROJECT), *extras, "--universal", "--python-version", "3.11",
         "--generate-hashes", "--no-emit-index-url", "--no-header", "--quiet"],
        check=False, capture_output=True, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    if out.returncode:
        sys.stderr.write(out.stderr)
        return out.returncode
    header = [
        "# The test environment of claude-tracer: `make lock` writes this file (scripts/lock.py), `make test`,",
        "# `make demo` and .ci/run install exactly it. Edit pyproject.toml, then run `make lock`; never by hand.",
        *(MARK + line for line in declared()),
    ]
    LOCK.parent.mkdir(exist_ok=True)
    LOCK.write_text("\n".join(header) + "\n" + out.stdout)
    print(f"lock: wrote {LOCK.relative_to(REPO)}")
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        return check()
    if argv[:1] == ["write"]:
        return write(argv[1] if len(argv) > 1 else "uv")
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
