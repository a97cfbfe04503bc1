"""Many writer processes and a reader at once; a writer killed with SIGKILL mid-export."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.store.worker import attempts_for, keys
from tracer.read import Store, compact

REPO = Path(__file__).parents[2]
PROCS, THREADS = 4, 4
TOTAL_CALLS = int(os.environ.get("TRACER_STORE_TEST_CALLS", "50000"))


@pytest.mark.slow
@pytest.mark.world  # a stress run of 16 writers and a reader (about 90 s): make test-world
@pytest.mark.timeout(600)
def test_four_processes_by_four_threads_while_a_reader_queries(tmp_path):
    """50,000 calls from 4 processes x 4 threads; a reader queries all along and never sees a duplicate; at the
    end every call is in `calls` exactly once, with its attempts."""
    per_proc = TOTAL_CALLS // PROCS
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.store.worker", str(tmp_path), str(p), str(per_proc), str(THREADS)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for p in range(PROCS)
    ]
    store = Store(tmp_path)
    observed: list[int] = []
    started = time.monotonic()
    while any(w.poll() is None for w in workers):
        n, distinct = store.rows("SELECT count(*), count(DISTINCT span_id) FROM calls")[0]
        assert n == distinct, "a reader saw a call twice"
        observed.append(n)
        if len(observed) % 5 == 0:
            compact(tmp_path)  # compaction while writing and reading, as `tracer store compact` from cron
    outputs = [w.communicate() for w in workers]
    for w, (_out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err[-3000:]
    elapsed = time.monotonic() - started
    print(f"\n{TOTAL_CALLS} calls by {PROCS}x{THREADS} ({outputs[0][0].strip()} mode) in {elapsed:.1f} s, {len(observed)} reads during")
    assert observed == sorted(observed), "the reader saw rows disappear"
    assert len(observed) > 1

    expected = {key: attempts_for(key) for p in range(PROCS) for t in range(THREADS) for key in keys(p, t, per_proc, THREADS)}
    rows = store.rows(
        """SELECT c.tags['key'], count(DISTINCT c.span_id), any_value(c.attempts), count(a.span_id), list(a.attempt ORDER BY a.attempt)
           FROM calls c LEFT JOIN attempts a ON a.call_span_id = c.span_id AND a.trace_id = c.trace_id
           GROUP BY 1"""
    )
    assert len(rows) == len(expected) == per_proc * PROCS
    assert store.rows("SELECT count(*) FROM calls") == [(len(expected),)]
    wrong = [r for r in rows if (r[1], r[2], r[3], r[4]) != (1, expected[r[0]], expected[r[0]], list(range(expected[r[0]])))]
    assert not wrong, wrong[:5]
    assert Store(tmp_path).rows("SELECT count(*), count(DISTINCT span_id) FROM attempts") == [(sum(expected.values()),) * 2]


def test_a_writer_killed_mid_export_loses_only_that_batch(tmp_path):
    """The child flushes three batches, then is killed with SIGKILL while writing the fourth (its temporary file
    written, not yet renamed). The store reads the three batches, nothing of the fourth, with no warning."""
    marker = tmp_path / "writing-batch-4"
    store_dir = tmp_path / "store"
    script = textwrap.dedent(
        f"""
        import os, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from tests.store.spans import call, provider
        from tracer.store import StoreExporter, segments
        exporter = StoreExporter({str(store_dir)!r})
        tp = provider(exporter)
        tracer = tp.get_tracer("t")
        for batch in range(3):
            for i in range(100):
                call(tracer, f"b{{batch}}-{{i}}")
            tp.force_flush()
        def stuck_replace(src, dst):
            open({str(marker)!r}, "w").close()
            time.sleep(600)
        segments.os.replace = stuck_replace
        for i in range(100):
            call(tracer, f"b3-{{i}}")
        tp.force_flush()
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            assert time.monotonic() < deadline, "the child never reached the fourth write"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert list(store_dir.rglob(".tmp-*")), "the interrupted write left its temporary file"
    store = Store(store_dir)
    batches = store.rows("SELECT split_part(tags['key'], '-', 1) AS b, count(*) FROM calls GROUP BY b ORDER BY b")
    assert batches == [("b0", 100), ("b1", 100), ("b2", 100)]
    assert store.rows("SELECT count(*) FROM attempts") == [(300,)]
    compact(store_dir, tmp_age_s=0)  # the next compaction clears what the dead writer left
    assert not list(store_dir.rglob(".tmp-*"))
    assert Store(store_dir).rows("SELECT count(*) FROM calls") == [(300,)]
