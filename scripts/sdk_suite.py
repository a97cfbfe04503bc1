#!/usr/bin/env python3
"""Run the anthropic SDK's own tests with and without claude-tracer; fail on any test that fails only with us.

    python scripts/sdk_suite.py                    # the anthropic version installed in .venv
    python scripts/sdk_suite.py --version 2.0.0    # another one
    python scripts/sdk_suite.py --version oldest --capture  # the lower bound of our range, and tests/capture on it
    python scripts/sdk_suite.py --version newest   # the newest release inside our range, as pip finds it today

For one anthropic version it keeps, under `.cache/sdk-suite/<version>/` (reused while its inputs are unchanged):
a venv with that anthropic, the test dependencies its sdist declares (pinned as its own lock file pins them,
OpenTelemetry excepted: claude-tracer's range decides that), and claude-tracer installed from this checkout
(editable, `--no-deps`, its own dependencies installed beside it); and the sdist itself, from
`pip download --no-binary :all: --no-deps`.

It then runs the sdist's `tests/test_client.py`, `test_streaming.py`, `test_middleware.py`, `test_open_telemetry.py`,
`test_tracing.py` and `tests/lib` (those that exist in that version) twice, through `sdk_suite_plugin`: once with a
plain OpenTelemetry `TracerProvider` registered, once with `tracer.instrument()`. A test that fails (or errors) only
in the second run fails this script, unless `sdk_suite_allowlist.toml` names it: that file may only hold tests that
assert the SDK's internals rather than its behaviour, each with its reason.

Exit status: 0 all good, 1 tests fail only with claude-tracer (or `--capture` failed), 2 the environment could not
be built. See docs/compatibility.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
ALLOWLIST = SCRIPTS / "sdk_suite_allowlist.toml"
SUITE = (
    "tests/test_client.py",
    "tests/test_streaming.py",
    "tests/test_middleware.py",
    "tests/test_open_telemetry.py",
    "tests/test_tracing.py",
    "tests/lib",
)
# The SDK's dev group also holds its type checkers, linters and stub packages; its tests import none of them.
TOOLING = {"pyright", "mypy", "ruff", "griffe", "boto3-stubs", "nox", "black", "isort"}
# Our plugin and tests/capture need these on top of what the SDK's tests need.
EXTRA = ("pytest-timeout>=2.3",)
FAILING = ("failed", "error")


def log(message: str) -> None:
    print(f"sdk-suite: {message}", flush=True)


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_version() -> str:
    python = REPO / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit("sdk-suite: no .venv here (run `make .venv/.stamp-installed`) and no --version given")
    out = subprocess.run(
        [python, "-c", "import importlib.metadata as m; print(m.version('anthropic'))"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip()


def run(cmd: list[str | Path], build_log: Path) -> None:
    """A build step, its output appended to `build_log` (pip is chatty) and shown only when it fails."""
    with open(build_log, "a") as out:
        out.write(f"$ {' '.join(map(str, cmd))}\n")
        out.flush()
        done = subprocess.run([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode:
        print("\n".join(build_log.read_text().splitlines()[-30:]), file=sys.stderr)
        raise subprocess.CalledProcessError(done.returncode, cmd)


# -- the environment ------------------------------------------------------------------------------------------------


def fetch_sdist(python: Path, version: str, home: Path) -> Path:
    """The SDK's source tree for `version` (its tests included), downloaded and unpacked once."""
    tree = home / "src" / f"anthropic-{version}"
    if (tree / "tests").is_dir():
        return tree
    download = home / "download"
    shutil.rmtree(download, ignore_errors=True)
    log(f"downloading the anthropic {version} sdist")
    run([python, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps", f"anthropic=={version}", "-d", download], home / "build.log")
    archive = next(download.glob("anthropic-*.tar.gz"))
    unpack = home / "src.partial"
    shutil.rmtree(unpack, ignore_errors=True)
    with tarfile.open(archive) as tar:
        tar.extractall(unpack, filter="data")
    shutil.rmtree(home / "src", ignore_errors=True)
    unpack.rename(home / "src")
    return tree


def test_requirements(tree: Path) -> list[str]:
    """The SDK's dev requirements its tests need, pinned to its own lock where it pins them."""
    project = tomllib.loads((tree / "pyproject.toml").read_text())
    dev = (
        project.get("dependency-groups", {}).get("dev")
        or project.get("tool", {}).get("rye", {}).get("dev-dependencies")
        or project.get("tool", {}).get("uv", {}).get("dev-dependencies")
        or []
    )
    pins: dict[str, str] = {}
    lock = tree / "requirements-dev.lock"
    if lock.exists():
        for line in lock.read_text().splitlines():
            found = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", line)
            if found:
                pins[norm(found.group(1))] = found.group(2)
    out = []
    for requirement in dev:
        if not isinstance(requirement, str):
            continue  # an include-group table
        found = re.match(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*([^;]*)(;.*)?$", requirement)
        if not found:
            continue
        name, extras, marker = norm(found.group(1)), found.group(2) or "", found.group(4) or ""
        if name in TOOLING:
            continue
        if name.startswith("opentelemetry"):  # claude-tracer's own range decides; both runs share it
            out.append(f"{name}{extras}{marker}")
        elif name in pins:
            out.append(f"{name}{extras}=={pins[name]}{marker}")
        else:
            out.append(requirement)
    return out


def our_requirements() -> list[str]:
    """claude-tracer's runtime dependencies, less anthropic (the version under test replaces it), and its
    `dashboard` extra: `--capture`'s tests read the store, which needs DuckDB."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"], *project.get("optional-dependencies", {}).get("dashboard", [])]
    return [r for r in wanted if norm(re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0]) != "anthropic"]


def declared_range() -> str:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return next((r for r in project["dependencies"] if norm(re.split(r"[<>=!~\[ ;]", r, maxsplit=1)[0]) == "anthropic"), "")


def oldest_supported() -> str:
    """The lower bound of claude-tracer's anthropic range (`anthropic>=1.14,<3` -> 1.14.0): one place says it."""
    found = re.search(r">=\s*([0-9][0-9.]*)", declared_range())
    if not found:
        raise SystemExit(f"sdk-suite: no lower bound in {declared_range()!r}")
    parts = found.group(1).split(".")
    return ".".join(parts + ["0"] * (3 - len(parts)))


def newest_supported() -> str:
    """The newest release of anthropic inside claude-tracer's declared range (no pre-releases), as the package index
    lists it today: what a user who installs claude-tracer now gets."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    spec = SpecifierSet(re.sub(r"^\s*anthropic\s*", "", declared_range()).split(";")[0].strip())
    out = subprocess.run(
        [sys.executable, "-m", "pip", "index", "versions", "anthropic", "--disable-pip-version-check"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    listed = re.search(r"Available versions:\s*(.+)", out.stdout)
    if not listed:
        raise SystemExit(f"sdk-suite: could not read anthropic's releases from pip: {out.stdout[-300:]}")
    versions = [Version(v.strip()) for v in listed.group(1).split(",") if v.strip()]
    inside = [v for v in versions if not v.is_prerelease and v in spec]
    if not inside:
        raise SystemExit(f"sdk-suite: no anthropic release inside {declared_range()!r}")
    return str(max(inside))


def build(version: str, home: Path) -> tuple[Path, Path]:
    """The cached venv and sdist tree for `version`; (re)built when missing or when their inputs changed."""
    venv = home / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        log(f"creating {venv}")
        shutil.rmtree(venv, ignore_errors=True)
        run([sys.executable, "-m", "venv", venv], home / "build.log")
        run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], home / "build.log")
    tree = fetch_sdist(python, version, home)
    # Every extra the sdist declares (aws, vertex, aiohttp, mcp...): without them whole test modules fail or skip.
    extras = ",".join(tomllib.loads((tree / "pyproject.toml").read_text())["project"].get("optional-dependencies", {}))
    anthropic = f"anthropic[{extras}]=={version}" if extras else f"anthropic=={version}"
    requirements = [anthropic, *test_requirements(tree), *EXTRA, *our_requirements()]
    key = hashlib.sha256("\n".join([*requirements, str(REPO)]).encode()).hexdigest()
    stamp = venv / ".sdk-suite-stamp"
    if stamp.exists() and stamp.read_text() == key:
        return python, tree
    log(f"installing anthropic {version}, its test dependencies and claude-tracer into {venv}")
    run([python, "-m", "pip", "install", "-q", *requirements], home / "build.log")
    # --no-deps: claude-tracer's declared anthropic range must not replace the version under test.
    run([python, "-m", "pip", "install", "-q", "--no-deps", "-e", REPO], home / "build.log")
    stamp.write_text(key)
    return python, tree


# -- the two runs ---------------------------------------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    """The caller's environment without anything that would steer the SDK, OpenTelemetry or claude-tracer."""
    drop = ("ANTHROPIC_", "OTEL_", "TRACER_", "PYTEST_", "TEST_API_BASE_URL")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run_suite(python: Path, tree: Path, mode: str, work: Path, workers: str, logs: Path) -> tuple[dict[str, str], dict[str, str], float]:
    files = [f for f in SUITE if (tree / f).exists()]
    results = logs / f"{mode}.json"  # kept beside the log, for a closer look after the run
    results.unlink(missing_ok=True)
    env = clean_env()
    env.update(
        SDK_SUITE_MODE=mode,
        SDK_SUITE_RESULTS=str(results),
        TRACER_STORE=str(work / "store"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(SCRIPTS), env.get("PYTHONPATH")])),
    )
    cmd = [str(python), "-m", "pytest", *files, "-p", "no:cacheprovider", "-p", "sdk_suite_plugin", "-q", "-n", workers]
    log_path = logs / f"{mode}.log"
    log(f"{mode}: running {' '.join(files)} (log: {log_path})")
    started = time.monotonic()
    with open(log_path, "w") as out:
        subprocess.run(cmd, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - started
    if not results.exists():
        tail = log_path.read_text().splitlines()[-20:]
        raise SystemExit("sdk-suite: the {mode} run wrote no results:\n" + "\n".join(tail))
    data = json.loads(results.read_text())
    if mode == "tracer" and not any(p.is_file() for p in (work / "store").rglob("*")):
        # Without this, a run where instrument() had quietly done nothing would pass for a clean result.
        raise SystemExit(f"sdk-suite: claude-tracer recorded nothing in {work / 'store'}: the run did not exercise it")
    return data["outcomes"], data["messages"], elapsed


def counts(outcomes: dict[str, str]) -> str:
    tally: dict[str, int] = {}
    for outcome in outcomes.values():
        tally[outcome] = tally.get(outcome, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(tally.items(), key=lambda kv: -kv[1]))


def load_allowlist() -> list[dict[str, str]]:
    if not ALLOWLIST.exists():
        return []
    entries = tomllib.loads(ALLOWLIST.read_text()).get("allow", [])
    for entry in entries:
        if not entry.get("test") or not entry.get("why"):
            raise SystemExit(f"sdk-suite: every entry of {ALLOWLIST.name} needs `test` and `why`: {entry}")
    return entries


def allowed(test: str, allowlist: list[dict[str, str]]) -> str | None:
    """The reason an entry gives for `test`: an entry names a test id, or one without `[...]` for all its parameters."""
    return next((e["why"] for e in allowlist if test == e["test"] or test.startswith(e["test"] + "[")), None)


def compare(version: str, plain: dict[str, str], ours: dict[str, str], messages: dict[str, str]) -> int:
    allowlist = load_allowlist()
    only_ours: list[tuple[str, str, str]] = []
    excused: list[tuple[str, str, str]] = []
    for test in sorted(set(plain) | set(ours)):
        mine = ours.get(test, "not run")
        if (mine in FAILING or mine == "not run") and plain.get(test) not in FAILING:
            why = allowed(test, allowlist)
            (excused if why else only_ours).append((test, mine, why or messages.get(test, "")))
    both = sorted(t for t in plain if plain[t] in FAILING and ours.get(t) in FAILING)
    log(f"anthropic {version}")
    log(f"  plain TracerProvider : {len(plain)} tests: {counts(plain)}")
    log(f"  tracer.instrument()  : {len(ours)} tests: {counts(ours)}")
    if both:
        log(f"  failing in both runs (not ours to judge): {len(both)}")
        functions: dict[str, int] = {}
        for test in both:
            function = test.split("[", 1)[0]
            functions[function] = functions.get(function, 0) + 1
        for function, n in functions.items():
            log(f"    {function}" + (f"  (x{n})" if n > 1 else ""))
    for test, _outcome, why in excused:
        log(f"  allowed: {test}  ({why})")
    if not only_ours:
        log(f"  OK: no test fails only with claude-tracer ({len(excused)} allowed)")
        return 0
    log(f"  FAIL: {len(only_ours)} tests fail only with claude-tracer:")
    for test, outcome, message in only_ours:
        log(f"    {outcome:7} {test}")
        if message:
            log(f"            {message}")
    return 1


def run_capture(python: Path, version: str, logs: Path) -> int:
    """Our own tests/capture, against this anthropic version."""
    log_path = logs / "capture.log"
    log(f"tests/capture against anthropic {version} (log: {log_path})")
    started = time.monotonic()
    with open(log_path, "w") as out:
        done = subprocess.run(
            [str(python), "-m", "pytest", "tests/capture", "-q", "-p", "no:cacheprovider"],
            cwd=REPO, env=clean_env(), stdout=out, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    summary = next((line for line in reversed(log_path.read_text().splitlines()) if line.strip()), "")
    log(f"  tests/capture: {summary}  [{time.monotonic() - started:.0f} s]")
    return 0 if done.returncode == 0 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--version", help="anthropic version to test, `oldest` (the lower bound of our range) or "
                        "`newest` (the newest release inside it); default: the one in .venv (the lock's)")  # fmt: skip
    parser.add_argument("--workers", default="auto", help="pytest-xdist workers per run (default: auto)")
    parser.add_argument("--capture", action="store_true", help="also run our tests/capture against this version")
    parser.add_argument("--no-suite", action="store_true", help="only build the environment (and --capture)")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("SDK_SUITE_CACHE", REPO / ".cache" / "sdk-suite")))
    args = parser.parse_args(argv)

    named = {"oldest": oldest_supported, "newest": newest_supported}
    version = named[args.version]() if args.version in named else args.version or installed_version()
    home = args.cache / version
    home.mkdir(parents=True, exist_ok=True)
    log(f"anthropic {version}; claude-tracer declares {declared_range()!r}")
    started = time.monotonic()
    try:
        python, tree = build(version, home)
    except subprocess.CalledProcessError as exc:
        log(f"could not build the environment: {exc}")
        return 2
    log(f"environment ready [{time.monotonic() - started:.0f} s]")
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    status = 0
    if not args.no_suite:
        with tempfile.TemporaryDirectory(prefix="sdk-suite-") as tmp:
            work = Path(tmp)
            plain, _, t_plain = run_suite(python, tree, "plain", work, args.workers, logs)
            ours, messages, t_ours = run_suite(python, tree, "tracer", work, args.workers, logs)
        log(f"timing: plain {t_plain:.0f} s, tracer {t_ours:.0f} s")
        status = compare(version, plain, ours, messages)
    if args.capture:
        status = run_capture(python, version, logs) or status
    log(f"done in {time.monotonic() - started:.0f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
