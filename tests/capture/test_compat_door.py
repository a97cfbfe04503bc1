"""One door to private parts: outside `tracer/_compat.py`, no code of ours reaches past a foreign leading underscore.

Read from the source, not run: every `obj._name` whose `_name` is not one of ours (a module, or a name a module,
a class body or a `self.`/`cls.` assignment of ours defines), every `getattr`/`setattr`/`hasattr`/`delattr` of such
a name (written out, or through a module-level constant), and every import from another package's private module.
A new private part goes into `_compat`, with what is lost without it.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("tracer", "dashboard")
DOOR = Path("tracer/_compat.py")
# Files still reaching past the door, each with why it may for now.
ALLOWED: set[Path] = set()
_BY_NAME = ("getattr", "setattr", "hasattr", "delattr")


@functools.cache
def _sources() -> dict[Path, ast.Module]:
    return {
        path.relative_to(ROOT): ast.parse(path.read_text(encoding="utf-8"), str(path))
        for top in SCANNED
        for path in sorted((ROOT / top).rglob("*.py"))
    }


def _private(name: object) -> bool:
    return isinstance(name, str) and name.startswith("_") and not name.startswith("__") and name.isidentifier()


def _defined_in(body: list[ast.stmt], names: set[str]) -> None:
    """The names a module or class body defines (functions, classes, assignments, also under if/try)."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(n.id for target in node.targets for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.If | ast.Try):
            _defined_in(node.body + node.orelse, names)
            for handler in getattr(node, "handlers", []):
                _defined_in(handler.body, names)


def _ours(sources: dict[Path, ast.Module]) -> set[str]:
    names: set[str] = set()
    for path, tree in sources.items():
        names.update(path.parts[:-1])
        names.add(path.stem)
        _defined_in(tree.body, names)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                _defined_in(node.body, names)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
            ):
                names.add(node.attr)
    return names


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level `NAME = "string"` assignments."""
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            out.update((t.id, node.value.value) for t in node.targets if isinstance(t, ast.Name))
    return out


def _reaches(tree: ast.Module, ours: set[str]) -> Iterator[tuple[int, str]]:
    """(line, what) for each foreign private part `tree` touches."""
    constants = _constants(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in ours:
            yield node.lineno, f".{node.attr}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _BY_NAME
            and len(node.args) >= 2
        ):
            arg = node.args[1]
            name = arg.value if isinstance(arg, ast.Constant) else constants.get(getattr(arg, "id", ""))
            if _private(name) and name not in ours:
                yield node.lineno, f"{node.func.id}(..., {name!r})"
        elif isinstance(node, ast.ImportFrom | ast.Import):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            for module in modules:
                top = module.split(".")[0]
                if top not in SCANNED and any(_private(part) for part in module.split(".")):
                    yield node.lineno, f"import {module}"


class TestTheDoor:
    def test_no_foreign_private_part_is_touched_outside_compat(self) -> None:
        """Every private attribute, marker and module of the SDK or OpenTelemetry is named in `_compat` alone."""
        sources = _sources()
        ours = _ours(sources)
        found = [
            f"{path}:{line}: {what}"
            for path, tree in sources.items()
            if path != DOOR and path not in ALLOWED
            for line, what in _reaches(tree, ours)
        ]
        assert found == [], "private parts reached outside tracer/_compat.py:\n" + "\n".join(found)

    def test_the_check_sees_a_foreign_private_part(self) -> None:
        """The reader finds what it is meant to find (a test that can fail)."""
        tree = ast.parse(
            "from anthropic._base_client import SyncAPIClient\n"
            "MARK = '_claude_mark'\n"
            "def f(client, span):\n"
            "    client._open_telemetry\n"
            "    setattr(span, MARK, True)\n"
            "    return span._ours\n"
        )
        found = sorted(what for _, what in _reaches(tree, {"_ours"}))
        assert found == ["._open_telemetry", "import anthropic._base_client", "setattr(..., '_claude_mark')"]

    def test_every_allowance_still_needs_to_be_one(self) -> None:
        """An allowed file that no longer reaches past the door leaves the list."""
        sources = _sources()
        ours = _ours(sources)
        stale = [str(path) for path in ALLOWED if path in sources and not list(_reaches(sources[path], ours))]
        assert stale == []
