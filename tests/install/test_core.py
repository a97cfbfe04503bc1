"""The core wheel alone: what `pip install claude-tracer` gives an instrumented service.

The wheel is built from this checkout and installed, without extras, into a venv of its own (kept between runs in
`~/.cache/claude-tracer/core-venv-<hash of the core dependencies>`; only the wheel is reinstalled each time). In
it: the fake API runs (`tracer fake-api`, a process of its own), an application instruments a client and makes
calls into the default store, and reports every module it imported. The store it wrote is then read here, in the
full environment."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracer.fakeapi import roles
from tracer.read import Store

ROOT = Path(__file__).resolve().parents[2]
# The dashboard extra: none of it may reach the application's process.
READ_SIDE = ("streamlit", "plotly", "pandas", "pyarrow", "duckdb", "numpy", "rich", "pytz")

pytestmark = [pytest.mark.slow, pytest.mark.world]  # a fresh venv installs the core from the index


def _core_venv() -> Path:
    """A venv with the core dependencies, reused while they and the interpreter stay the same."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    key = hashlib.sha256(json.dumps([sys.version, project["dependencies"]]).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "claude-tracer"
    venv = cache / f"core-venv-{key}"
    if (venv / ".complete").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)  # a build that did not finish
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *project["dependencies"]], check=True, capture_output=True, timeout=900)
    (venv / ".complete").touch()
    return venv


@pytest.fixture(scope="module")
def core(wheel: Path) -> Path:
    """The core venv with this checkout's wheel installed (no extras, no dependencies resolved again)."""
    venv = _core_venv()
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return venv


@pytest.fixture
def core_fake_api(core: Path) -> Iterator[str]:
    """`tracer fake-api` from the core install, in a process of its own: its base URL."""
    process = subprocess.Popen(
        [str(core / "bin" / "tracer"), "fake-api", "--port", "0", "--latency-scale", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("fake Claude API on "), first + (process.stderr.read() if process.poll() is not None else "")
        yield first.split()[4]
    finally:
        process.terminate()
        process.wait(10)


APP = textwrap.dedent(
    """
    import json, sys
    import anthropic
    import tracer

    tracer.instrument()  # the default store: ./.tracer
    client = anthropic.Anthropic(api_key="test-key", base_url=sys.argv[1], max_retries=2)
    ask = dict(model=sys.argv[2], max_tokens=64, messages=[{"role": "user", "content": "hello"}])
    for i in range(20):
        with tracer.tags(feature="core", n=str(i)):
            client.messages.create(**ask)
    with client.messages.stream(**ask) as stream:
        stream.get_final_message()
    client.messages.create(**ask, extra_headers={"x-fake-script": "429:0,ok"})
    assert tracer.flush(10)
    print(json.dumps(sorted(sys.modules)))
    """
)


def test_the_core_install_instruments_and_stores_without_the_read_side(core: Path, core_fake_api: str, tmp_path: Path) -> None:
    site = subprocess.run([str(core / "bin" / "python"), "-c", "import streamlit"], capture_output=True, timeout=60)
    assert site.returncode != 0, "the core venv must not have the dashboard extra"

    out = subprocess.run(
        [str(core / "bin" / "python"), "-c", APP, core_fake_api, roles().workhorse], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith(("TRACER_", "OTEL_", "PYTHON"))},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    modules = set(json.loads(out.stdout.splitlines()[-1]))
    assert "tracer.store._exporter" in modules  # the store was written by this process
    loaded = sorted(m for m in modules if m.split(".")[0] in READ_SIDE)
    assert loaded == [], f"the application imported the read side: {loaded}"

    # Read in the full environment: every call, its attempts (the retried one has two), tags and cost.
    store = Store(tmp_path / ".tracer")
    assert store.rows("SELECT count(*), count(cost_usd), count(DISTINCT model), sum(streaming::INT) FROM calls") == [(22, 22, 1, 1)]
    assert store.rows("SELECT count(*) FROM calls WHERE tags['feature'] = 'core'") == [(20,)]
    assert store.rows("SELECT list(http_status ORDER BY attempt) FROM attempts GROUP BY call_span_id HAVING count(*) > 1") == [([429, 200],)]
    assert store.rows("SELECT count(*) FROM attempts") == [(23,)]


def test_the_read_side_commands_say_how_to_install_it(core: Path, tmp_path: Path) -> None:
    for command in (["dashboard", "--port", "0"], ["report"], ["store", "compact", "--store", str(tmp_path)]):
        out = subprocess.run([str(core / "bin" / "tracer"), *command], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert out.returncode == 2, (command, out.stdout, out.stderr)
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
        assert "pip install 'claude-tracer[dashboard]'" in out.stderr, out.stderr
    out = subprocess.run([str(core / "bin" / "python"), "-c", "from tracer.read import Store; Store('.')"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert "Error: reading a claude-tracer store needs DuckDB: pip install 'claude-tracer[dashboard]'" in out.stderr, out.stderr
