"""Where `fcntl` does not exist (Windows): `import tracer`, `instrument()`, the store's writer, compaction and the
reader still work. The module is hidden in a child process (`sys.modules['fcntl'] = None`, which makes any
`import fcntl` raise ImportError, as on Windows)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tracer.fakeapi import FakeAPI, roles

REPO = Path(__file__).parents[2]

CHILD = textwrap.dedent(
    """
    import json, logging, sys
    {msvcrt}
    sys.modules["fcntl"] = None  # as on Windows
    sys.path.insert(0, {repo!r})
    {use_msvcrt}
    warnings = []
    class Keep(logging.Handler):
        def emit(self, record): warnings.append(record.getMessage())
    logging.getLogger("tracer").addHandler(Keep())

    import anthropic
    import tracer
    tracer.instrument(store={store!r})
    client = anthropic.Anthropic(api_key="test-key", base_url={url!r})
    for i in range(5):
        client.messages.create(model={model!r}, max_tokens=32, messages=[{{"role": "user", "content": "hi"}}])
    assert tracer.flush(10)
    from tracer.store import locks as _locks
    from tracer.read import Store, compact
    with Store({store!r}, cache=True) as store:
        before = store.rows("SELECT count(*) FROM calls")[0][0]
    merged = compact(__import__("pathlib").Path({store!r})).merged
    with Store({store!r}, cache=True) as store:
        after = store.rows("SELECT count(*) FROM calls")[0][0]
    print(json.dumps({{"locking": _locks.LOCKING, "before": before, "after": after, "merged": merged, "warnings": warnings}}))
    """
)

# Windows' msvcrt.locking, played on Linux by POSIX byte-range locks taken before fcntl is hidden: the store's
# Windows code path runs (there is no Windows here to run it on).
FAKE_MSVCRT = """import fcntl as _real_fcntl, os as _os, types as _types
_fake = _types.ModuleType("msvcrt")
_fake.LK_UNLCK, _fake.LK_LOCK, _fake.LK_NBLCK = 0, 1, 2
def _locking(fd, mode, n):
    pos = _os.lseek(fd, 0, _os.SEEK_CUR)
    op = {0: _real_fcntl.LOCK_UN, 1: _real_fcntl.LOCK_EX, 2: _real_fcntl.LOCK_EX | _real_fcntl.LOCK_NB}[mode]
    try:
        _real_fcntl.lockf(fd, op, n, pos)
    except BlockingIOError:
        raise PermissionError(13, "Permission denied")  # what msvcrt raises for a region another holds
_fake.locking = _locking
"""
# Given to the store's lock module alone: registered as `msvcrt` in sys.modules it would make the standard library
# (subprocess, asyncio) believe it runs on Windows.
USE_FAKE_MSVCRT = """
from tracer.store import locks as _locks
_locks._msvcrt, _locks.LOCKING = _fake, True
"""


def run_child(tmp_path: Path, msvcrt: str = "", use_msvcrt: str = "") -> dict:
    with FakeAPI(seed=0, latency_scale=0.0) as api:
        script = CHILD.format(repo=str(REPO), store=str(tmp_path / "store"), url=api.base_url, model=roles().workhorse, msvcrt=msvcrt, use_msvcrt=use_msvcrt)
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_without_fcntl_or_msvcrt_everything_works_and_one_warning_says_what_is_not_locked(tmp_path):
    result = run_child(tmp_path)
    assert result["locking"] is False
    assert (result["before"], result["after"], result["merged"]) == (5, 5, 2)
    (warning,) = result["warnings"]
    assert "neither fcntl nor msvcrt" in warning and "one `tracer store compact`" in warning


def test_with_msvcrt_locks_are_taken_and_released(tmp_path):
    result = run_child(tmp_path, FAKE_MSVCRT, USE_FAKE_MSVCRT)
    assert result["locking"] is True
    assert (result["before"], result["after"], result["merged"]) == (5, 5, 2)
    assert result["warnings"] == []


@pytest.mark.skipif(sys.platform == "win32", reason="fcntl is the POSIX path")
def test_msvcrt_locks_exclude_another_process(tmp_path):
    """The Windows path's lock is exclusive across processes: a second holder is refused until the first lets go."""
    probe = (
        "import os, sys\n"
        + FAKE_MSVCRT
        + 'sys.modules["fcntl"] = None\n'
        + textwrap.dedent(
            f"""
            sys.path.insert(0, {str(REPO)!r})
            from tracer.store import locks as _locks
            _locks._msvcrt = _fake
            fd = os.open({str(tmp_path / "lock")!r}, os.O_RDWR | os.O_CREAT)
            print(_locks.lock(fd, blocking=False), flush=True)
            sys.stdin.readline()
            _locks.unlock(fd)
            print("released", flush=True)
            sys.stdin.readline()
            """
        )
    )
    first = subprocess.Popen([sys.executable, "-c", probe], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert first.stdout is not None and first.stdin is not None
    try:
        assert first.stdout.readline().strip() == "True"
        second = subprocess.run([sys.executable, "-c", probe], input="\n\n", capture_output=True, text=True, timeout=60)
        assert second.stdout.splitlines()[0] == "False"
        first.stdin.write("\n")
        first.stdin.flush()
        assert first.stdout.readline().strip() == "released"
        third = subprocess.run([sys.executable, "-c", probe], input="\n\n", capture_output=True, text=True, timeout=60)
        assert third.stdout.splitlines()[0] == "True"
    finally:
        first.kill()
        first.wait()
