"""`tracer store info|compact|prune` through `tracer.cli.main`, over real stores of synthetic segments."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tracer.cli import main
from tracer.cli.store_cmd import parse_age
from tracer.read import Store, store_info
from tracer.read.synthetic import write_synthetic
from tracer.store import SCHEMA_VERSION

# Fixed so that "older than N days" always selects the same days, whatever day the tests run.
END = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def fill(root: Path, calls: int = 3_000, *, days: float = 6.0, chunks: int = 3, seed: int = 7) -> dict[str, int]:
    """Synthetic traffic over `days` days before END, written in `chunks` flushes (several segments per day)."""
    return write_synthetic(root, calls, seed=seed, end=END, days=days, chunk_calls=-(-calls // chunks))


def call_count(root: Path) -> int:
    with Store(root) as store:
        return int(store.rows("SELECT count(*) FROM calls")[0][0])


class TestInfo:
    def test_json_reports_segments_rows_bytes_versions_and_time_range_per_table(self, tmp_path, capsys):
        written = fill(tmp_path)
        assert main(["store", "info", "--store", str(tmp_path), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["store"] == str(tmp_path)
        tables = report["tables"]
        assert set(tables) == {"calls", "attempts", "events", "spans"}
        for table, rows in written.items():
            assert tables[table]["rows"] == rows
            assert tables[table]["segments"] >= 3
            assert tables[table]["bytes"] > 0
            assert tables[table]["versions"] == [SCHEMA_VERSION]
            assert tables[table]["unreadable"] == 0
        first = dt.datetime.fromisoformat(tables["calls"]["first"])
        last = dt.datetime.fromisoformat(tables["calls"]["last"])
        assert END - dt.timedelta(days=6, seconds=1) <= first < last <= END
        assert tables["calls"]["days"][0] == first.strftime("%Y-%m-%d")
        assert tables["calls"]["days"][-1] == last.strftime("%Y-%m-%d")

    def test_the_table_names_every_table_and_the_totals(self, tmp_path, capsys):
        fill(tmp_path, 600)
        assert main(["store", "info", "--store", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        for word in ("calls", "attempts", "events", "600", f"v{SCHEMA_VERSION}", "total:"):
            assert word in out
        assert (END - dt.timedelta(days=6)).strftime("%Y-%m-%d ") in out  # the time range, in UTC
        assert END.strftime("%Y-%m-%d ") in out

    def test_the_store_defaults_to_TRACER_STORE(self, tmp_path, capsys, monkeypatch):
        fill(tmp_path, 300)
        monkeypatch.setenv("TRACER_STORE", str(tmp_path))
        assert main(["store", "info", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["tables"]["calls"]["rows"] == 300

    def test_without_TRACER_STORE_it_is_dot_tracer_in_the_working_directory(self, tmp_path, capsys, monkeypatch):
        fill(tmp_path / ".tracer", 200)
        monkeypatch.delenv("TRACER_STORE", raising=False)
        monkeypatch.chdir(tmp_path)
        assert main(["store", "info", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["tables"]["calls"]["rows"] == 200

    def test_an_unreadable_segment_is_counted(self, tmp_path, capsys):
        fill(tmp_path, 300)
        victim = sorted((tmp_path / "calls").glob("*/*.parquet"))[0]
        victim.write_bytes(victim.read_bytes()[:100])  # truncated, as a full disk leaves it
        assert main(["store", "info", "--store", str(tmp_path), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["tables"]["calls"]["unreadable"] == 1

    def test_a_missing_store_is_a_one_line_error(self, tmp_path, capsys):
        assert main(["store", "info", "--store", str(tmp_path / "nowhere")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tracer store: no store at") and err.count("\n") == 1
        assert not (tmp_path / "nowhere").exists()  # looking does not create it


class TestCompact:
    def test_compact_merges_each_days_segments_and_keeps_every_row(self, tmp_path, capsys):
        written = fill(tmp_path, chunks=4)
        before = store_info(tmp_path)
        assert main(["store", "compact", "--store", str(tmp_path)]) == 0
        out = capsys.readouterr().out
        after = store_info(tmp_path)
        for table in written:
            assert after[table]["rows"] == written[table]
            assert after[table]["segments"] == len(after[table]["days"])  # one segment per day is left
        for table in ("calls", "attempts"):  # (events are too few to fall on every day in every flush)
            assert after[table]["segments"] < before[table]["segments"]
        total_before = sum(v["segments"] for v in before.values())
        total_after = sum(v["segments"] for v in after.values())
        assert f"{total_before} live segments before, {total_after} after" in out
        assert call_count(tmp_path) == written["calls"]

    def test_compacting_a_compacted_store_changes_nothing(self, tmp_path, capsys):
        fill(tmp_path, 500)
        main(["store", "compact", "--store", str(tmp_path)])
        files = sorted(p.name for p in tmp_path.rglob("*.parquet"))
        capsys.readouterr()
        assert main(["store", "compact", "--store", str(tmp_path)]) == 0
        assert "0 segments merged into 0" in capsys.readouterr().out
        assert sorted(p.name for p in tmp_path.rglob("*.parquet")) == files

    def test_a_missing_store_is_an_error_and_is_not_created(self, tmp_path, capsys):
        assert main(["store", "compact", "--store", str(tmp_path / "nowhere")]) == 2
        assert "no store at" in capsys.readouterr().err
        assert not (tmp_path / "nowhere").exists()


class TestPrune:
    def test_prune_deletes_the_days_that_ended_before_the_age_and_keeps_the_rest(self, tmp_path, capsys):
        fill(tmp_path, days=6.0)
        days = store_info(tmp_path)["calls"]["days"]
        assert len(days) == 7  # six days back from noon touch seven dates
        assert main(["store", "prune", "--older-than", "3d", "--store", str(tmp_path)]) == 0
        assert "pruned" in capsys.readouterr().out
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
        kept = store_info(tmp_path)
        for table in ("calls", "attempts"):
            for day in kept[table]["days"]:
                assert dt.datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=dt.UTC) + dt.timedelta(days=1) > cutoff
            assert len(kept[table]["days"]) in (3, 4)  # today and the three days before (noon split)
        with Store(tmp_path) as store:
            oldest = store.rows("SELECT min(start_time) FROM calls")[0][0]
        assert oldest >= (cutoff - dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)

    @pytest.mark.parametrize(("age", "seconds"), [("45s", 45), ("90m", 5400), ("12h", 43200), ("30d", 2592000), ("1.5h", 5400)])
    def test_ages_take_seconds_minutes_hours_and_days(self, age, seconds):
        assert parse_age(age) == dt.timedelta(seconds=seconds)

    def test_a_long_age_removes_nothing(self, tmp_path, capsys):
        written = fill(tmp_path, 400)
        assert main(["store", "prune", "--older-than", "30d", "--store", str(tmp_path)]) == 0
        assert "0 day partitions" in capsys.readouterr().out
        assert call_count(tmp_path) == written["calls"]

    @pytest.mark.parametrize("age", ["30", "thirty days", "30x", "-3d", "0d", ""])
    def test_a_bad_age_is_a_clear_one_line_error_and_nothing_is_deleted(self, tmp_path, capsys, age):
        written = fill(tmp_path, 300)
        assert main(["store", "prune", f"--older-than={age}", "--store", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("tracer store: --older-than") and err.count("\n") == 1
        assert "30d" in err or "more than zero" in err
        assert call_count(tmp_path) == written["calls"]

    def test_older_than_is_required(self, tmp_path, capsys):
        with pytest.raises(SystemExit) as exit_:
            main(["store", "prune", "--store", str(tmp_path)])
        assert exit_.value.code == 2
        assert "--older-than" in capsys.readouterr().err


def test_tracer_store_alone_prints_its_subcommands(capsys):
    assert main(["store"]) == 2
    out = capsys.readouterr().out
    for name in ("info", "compact", "prune"):
        assert name in out


class TestFirstOpenProgress:
    def test_report_over_a_big_store_says_it_is_loading_and_how_far(self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        fill(tmp_path, 3_000)
        monkeypatch.setattr("tracer.read._reader.LOAD_STEP_ROWS", 1_000)
        monkeypatch.setattr("tracer.cli._loading.SHOW_FROM_ROWS", 1_000)
        monkeypatch.setattr("tracer.read._reader.CACHE_MIN_ROWS", 1_000)
        assert main(["report", "--store", str(tmp_path), "--since", "all"]) == 0
        err = capsys.readouterr().err.splitlines()
        assert err[0].startswith("tracer: loading ") and "reader cache" in err[0], err
        assert err[-1].lstrip().startswith("100%"), err  # not a terminal: a line per quarter, then the end
        assert 2 <= len(err) <= 6, err
        assert main(["report", "--store", str(tmp_path), "--since", "all"]) == 0
        assert capsys.readouterr().err == ""  # the cache is current: nothing to load, nothing said

    def test_a_small_load_prints_nothing(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        fill(tmp_path, 500)
        assert main(["report", "--store", str(tmp_path), "--since", "all"]) == 0
        assert capsys.readouterr().err == ""
