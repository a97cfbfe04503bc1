"""Models about to retire: a store with calls to models the installed anthropic SDK lists as deprecated (the synthetic
store calls claude-sonnet-4-5 and claude-opus-4-5) has them named on the overview and in `tracer report`, each with
its end-of-life date and the calls and cost still going to it, checked against SQL over the store and the SDK's
own table; a current model is not named.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from pathlib import Path

import pytest
from dashtest import parse_count, parse_usd, run_page

from tracer import _models
from tracer._money import usd
from tracer.read import Store
from tracer.read.synthetic import write_synthetic


def sdk_table() -> dict[str, str]:
    deprecated = pytest.importorskip("anthropic._data.deprecated_models", reason="this SDK lists no deprecated models")
    return dict(deprecated.DEPRECATED_MODELS)


def sdk_date(text: str) -> dt.date:
    """ "November 30th, 2026" -> the date (written here again, apart from the code under test)."""
    return dt.datetime.strptime(re.sub(r"(?<=\d)(st|nd|rd|th)", "", text), "%B %d, %Y").date()


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("retiring")
    write_synthetic(root, 3_000, seed=5, days=1)
    return root


@pytest.fixture(scope="module")
def expected(store_dir: Path) -> dict[str, tuple[int, float, dt.date]]:
    """Each deprecated model the store calls: its calls, cost and end-of-life date."""
    table = sdk_table()
    rows = Store(store_dir).rows("SELECT model, count(*), sum(cost_usd)::DOUBLE FROM calls GROUP BY model")
    found = {model: (calls, cost, sdk_date(table[model])) for model, calls, cost in rows if model in table}
    if not found:
        pytest.skip("the installed SDK deprecates none of the synthetic store's models")
    return found


class TestOverview:
    def test_names_each_retiring_model_with_its_date_calls_and_cost(
        self, store_dir: Path, expected: dict[str, tuple[int, float, dt.date]]
    ) -> None:
        at = run_page(store_dir, "overview")
        assert not at.exception
        notices = [w.value for w in at.warning if " retires " in w.value]
        assert len(notices) == len(expected), notices
        for model, (calls, cost, retires) in expected.items():
            (notice,) = [n for n in notices if f"**{model}**" in n]
            match = re.search(r"retires on (\S+) .*?: ([\d,]+) calls and (\$[\d,.]+)", notice)
            assert match, notice
            assert dt.date.fromisoformat(match.group(1)) == retires
            assert parse_count(match.group(2)) == calls
            assert parse_usd(match.group(3)) == pytest.approx(cost, abs=0.005 if cost >= 1 else 0.00005)

    def test_a_current_model_is_not_named(self, store_dir: Path, expected: dict[str, tuple[int, float, dt.date]]) -> None:
        at = run_page(store_dir, "overview")
        notices = " ".join(w.value for w in at.warning if " retires " in w.value)
        for model in ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-7"):
            assert model not in expected and model not in notices


class TestReport:
    def test_lists_each_retiring_model_with_its_date_calls_and_cost(
        self, store_dir: Path, expected: dict[str, tuple[int, float, dt.date]]
    ) -> None:
        from rich.console import Console

        from tracer.cli.report import render
        from tracer.read import Filters, open_store

        console = Console(record=True, width=200)
        render(console, open_store(store_dir), Filters())
        text = console.export_text()
        assert "Models about to retire" in text
        section = text.split("Models about to retire", 1)[1].split("└", 1)[0]  # to the end of that table
        for model, (calls, cost, retires) in expected.items():
            (line,) = [line for line in section.splitlines() if f" {model} " in line]
            assert retires.isoformat() in line
            assert f"{calls:,}" in line
            assert usd(cost) in line  # the one money format (tracer._money)
        assert "claude-haiku-4-5" not in section


class TestTheSdkTable:
    def test_an_sdk_without_the_table_has_no_deprecated_models(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "anthropic._data.deprecated_models", None)  # importing it raises ImportError
        _models.deprecated_models.cache_clear()
        try:
            assert _models.deprecated_models() == {}
        finally:
            _models.deprecated_models.cache_clear()

    def test_every_date_the_sdk_gives_is_read(self) -> None:
        for model, text in sdk_table().items():
            assert _models.retirement_date(text) == sdk_date(text), model

    def test_a_reading_process_reads_the_table_without_importing_the_sdk(self) -> None:
        """The dashboard and `tracer report` never call Claude: the table is read from the SDK's file, and the
        `anthropic` package (a second or more to import) stays unimported; the table is the same."""
        import subprocess

        code = (
            "import sys, json; from tracer import _models; table = _models.deprecated_models();"
            " print(json.dumps([table, 'anthropic' in sys.modules]))"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
        import json

        table, imported = json.loads(done.stdout)
        assert not imported
        assert table == sdk_table()
