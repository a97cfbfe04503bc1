"""Where the read side lives: `tracer.read` holds every query, the dashboard composes it without SQL of its own,
and the old import path still answers, with a DeprecationWarning, for code written against it."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import pytest

from tracer import read

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "dashboard"


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module imported, at module level?) for every import in `path`, `from a import b` giving both `a` and `a.b`."""
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, id(node) in top))
            found += [(f"{node.module}.{alias.name}", id(node) in top) for alias in node.names]
    return found


class TestTheWriterAndTheReaderApart:
    """`tracer/store` is what an instrumented process runs; `tracer/read` everything that reads. They share only
    the store's public contract (`tracer.store.schema`, `.segments`, `.locks`)."""

    def test_the_writer_never_imports_the_reading_side(self) -> None:
        found = {
            f"{p.relative_to(ROOT)}: {name}"
            for p in (ROOT / "tracer" / "store").glob("*.py")
            for name, top in _imports(p)
            # the deprecated aliases import it in a function, only when an old name is asked for
            if name.split(".")[:2] == ["tracer", "read"] and (top or p.name not in ("__init__.py", "queries.py"))
        }
        assert found == set()

    def test_neither_imports_the_others_private_modules(self) -> None:
        found = set()
        for p in [*(ROOT / "tracer").rglob("*.py"), *DASHBOARD.glob("*.py")]:
            own = ".".join(p.relative_to(ROOT).with_suffix("").parts[:2])
            for name, _ in _imports(p):
                parts = name.split(".")
                private = next((i for i, part in enumerate(parts) if part.startswith("_") and not part.startswith("__")), None)
                theirs = ".".join(parts[:2])
                if theirs in ("tracer.store", "tracer.read") and private is not None and private >= 2 and theirs != own:
                    found.add(f"{p.relative_to(ROOT)}: {name}")
        assert found == set()

    def test_importing_the_writer_loads_nothing_of_the_reading_side(self) -> None:
        import subprocess
        import sys

        probe = (
            "import sys, tracer.store; from tracer.store import StoreExporter, default_root, rows_from_spans; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyarrow', 'duckdb', 'pandas', 'numpy'} "
            "| {m for m in sys.modules if m.startswith('tracer.read')}))"
        )
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
        assert out.stdout.strip() == "[]", out.stdout + out.stderr

    def test_the_old_names_of_the_reader_answer_with_a_deprecation_warning(self) -> None:
        import tracer.store

        with pytest.warns(DeprecationWarning, match=r"tracer\.store\.Store moved to tracer\.read\.Store"):
            assert tracer.store.Store is read.Store
        with pytest.warns(DeprecationWarning):
            assert tracer.store.compact is read.compact
        with pytest.raises(AttributeError):
            tracer.store.no_such_name  # noqa: B018


class TestTheDashboardOnlyComposes:
    def test_no_page_or_helper_of_the_dashboard_holds_sql(self) -> None:
        sql = re.compile(r"\b(SELECT|FROM calls|FROM attempts|FROM events)\b|\.sql\(|\.rows\(")
        found = {p.name: m.group(0) for p in DASHBOARD.glob("*.py") if (m := sql.search(p.read_text()))}
        assert found == {}

    def test_every_query_the_dashboard_runs_by_name_is_named(self) -> None:
        asked = {m for p in DASHBOARD.glob("*.py") for m in re.findall(r"""state\.run\(\s*["'](\w+)["']""", p.read_text())}
        asked |= set(re.findall(r'"(\w+_calls)"', (DASHBOARD / "calls.py").read_text()))
        assert asked and asked <= set(read.NAMED)


class TestTheOldImportPath:
    def test_each_name_it_had_is_the_read_layers_with_a_deprecation_warning(self) -> None:
        from tracer.store import queries

        with pytest.warns(DeprecationWarning, match=r"use tracer\.read\.overview\.cost_by_model"):
            assert queries.cost_by_model is read.overview.cost_by_model
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert queries.Filters is read.Filters and queries.NAMED is read.NAMED
            for name in queries.__all__:
                assert getattr(queries, name) is not None

    def test_a_name_it_never_had_is_an_attribute_error(self) -> None:
        from tracer.store import queries

        with pytest.raises(AttributeError, match=r"moved to tracer\.read"):
            queries._has_rollups  # noqa: B018
