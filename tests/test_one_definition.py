"""One definition per derived number: uncached input, output tokens per second, an attempt's outcome and what a call's
cache reads saved and its cache writes cost beyond the input price are worked out in `tracer/_derived.py` alone
(applied at capture, stored as columns); for segments written before they were
columns, the reader derives them in one place, `tracer/store/schema.py`'s `FOR_OLDER_SEGMENTS`. Unpriced is
decided by capture and the writer (`calls.unpriced`, `calls.unpriced_reason`) and only read: no SQL takes a NULL
cost for it. Anywhere else in `tracer/` or `dashboard/` the same arithmetic is a second definition, and this test
names the file and line.

Read from the source, not run: Python arithmetic is found in the syntax tree, SQL in string constants.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("tracer", "dashboard")
HOMES = {Path("tracer/_derived.py"), Path("tracer/store/schema.py")}


def _text(node: ast.AST) -> str:
    return ast.unparse(node).lower()


def _python_uncached(node: ast.AST) -> bool:
    """Input minus cache reads (or writes): `total_in - cache_read - cache_write`, `input - read`."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub)):
        return False
    left, right = _text(node.left), _text(node.right)
    return ("in" in left.split("_") or "input" in left or "total_in" in left) and ("read" in right or "write" in right)


def _python_speed(node: ast.AST) -> bool:
    """Output tokens divided by a duration."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
        return False
    return "output" in _text(node.left) and any(w in _text(node.right) for w in ("duration", "ttft", "elapsed"))


def _python_outcome(node: ast.AST) -> bool:
    """An attempt classified by its status: a comparison with 429 or 529 next to the other."""
    if not isinstance(node, ast.Compare):
        return False
    numbers = {n.value for n in ast.walk(node) if isinstance(n, ast.Constant)}
    return bool(numbers & {429, 529})


def _has(text: str, *words: str) -> bool:
    return any(w in text for w in words)


def _python_cache_price(node: ast.AST) -> bool:
    """A cache price against the input price (`plain - read`, `write_5m_price - input_price`), or cache tokens
    times a rate, saving or premium (`rates[1] * written`). Cache tokens times their own price is a cost, not this."""
    if not isinstance(node, ast.BinOp):
        return False
    left, right = _text(node.left), _text(node.right)
    if isinstance(node.op, ast.Sub):
        inputs, caches = ("plain", "input", "in_price"), ("read", "write")
        return (_has(left, *inputs) and _has(right, *caches)) or (_has(left, *caches) and _has(right, *inputs))
    if isinstance(node.op, ast.Mult):
        tokens, per = ("cache", "read", "write", "written", "hour"), ("rate", "saving", "premium")
        return (_has(left, *tokens) and _has(right, *per)) or (_has(left, *per) and _has(right, *tokens))
    return False


SQL = {
    "uncached input": re.compile(r"input_tokens\s*-\s*(c\.)?cache_(read|write)", re.I),
    "output tokens per second": re.compile(r"output_tokens\s*/\s*(nullif\s*\()?\s*\(?\s*(c\.)?(duration_ms|ttft)", re.I),
    "attempt outcome": re.compile(r"http_status\s*(=|IN\s*\(|>=)\s*(429|529|500)|http_status, 200\) < 400", re.I),
    "unpriced": re.compile(r"cost_usd\s+IS\s+NULL", re.I),
    "cache prices": re.compile(r"cache_(read|write)\w*(\s*,\s*0\s*\))?\s*\*|\*\s*\(?\s*(coalesce\()?\s*(c\.)?cache_(read|write)", re.I),
}
# The same arithmetic with the columns as f-string fields (`{out} / nullif(({duration} - coalesce({ttft}, 0)) ...`).
TEMPLATED = {
    "uncached input": re.compile(r"\{\w*in\w*\}\s*-\s*\{\w*(read|write)\w*\}", re.I),
    "output tokens per second": re.compile(r"\{\w*out\w*\}\s*/\s*nullif\(", re.I),
    "attempt outcome": re.compile(r"\{\w*status\w*\}\s*(=|IN\s*\()\s*(429|529)", re.I),
    "unpriced": re.compile(r"\{\w*cost\w*\}\s+IS\s+NULL", re.I),
    "cache prices": re.compile(r"\{\w*(read|write)\w*\}\s*\*", re.I),
}
PYTHON = {
    "uncached input": _python_uncached, "output tokens per second": _python_speed, "attempt outcome": _python_outcome,
    "unpriced": lambda node: False,  # Python checks `cost is None` for many honest reasons: the SQL is what readers share
    "cache prices": _python_cache_price,
}  # fmt: skip
# Places that compare a status with 429/529 for another purpose than classifying a stored attempt: what to retry,
# what the fake API or the synthetic store answers, what a breaker counts.
OUTCOME_ELSEWHERE = ("tracer/resilience/", "tracer/fakeapi/", "tracer/capture/_attempts.py", "tracer/demo/",
                     "tracer/capture/_metrics.py", "tracer/cost/_reconcile.py", "tracer/read/synthetic.py")  # fmt: skip


def _sources() -> Iterator[tuple[Path, ast.Module]]:
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            yield path.relative_to(ROOT), ast.parse(path.read_text(encoding="utf-8"), str(path))


def _found(value: str) -> list[str]:
    out = []
    for path, tree in _sources():
        if path in HOMES:
            continue
        if value == "attempt outcome" and str(path).startswith(OUTCOME_ELSEWHERE):
            continue
        for node in ast.walk(tree):
            if PYTHON[value](node):
                out.append(f"{path}:{node.lineno}: {ast.unparse(node)[:100]}")  # type: ignore[attr-defined]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL[value].search(node.value):
                out.append(f"{path}:{node.lineno}: {SQL[value].search(node.value).group(0)}")  # type: ignore[union-attr]
            elif isinstance(node, ast.JoinedStr) and (found := TEMPLATED[value].search(ast.unparse(node))):
                out.append(f"{path}:{node.lineno}: {found.group(0)}")
    return out


@pytest.mark.parametrize("value", list(PYTHON))
def test_each_derived_value_is_defined_once(value):
    """Outside `tracer/_derived.py` (and the reader's fill for older segments), no code works the value out again:
    it reads the column, or the attribute capture put on the span."""
    assert _found(value) == []


def test_the_detectors_find_a_second_definition():
    """The detectors are not blind: each finds the arithmetic it looks for."""
    assert _python_uncached(ast.parse("max(total_in - cache_read - cache_write, 0)").body[0].value.args[0])  # type: ignore[attr-defined]
    assert _python_speed(ast.parse("output / (duration_s - ttft)").body[0].value)  # type: ignore[attr-defined]
    assert _python_outcome(ast.parse("http_status in (429, 529)").body[0].value)  # type: ignore[attr-defined]
    assert SQL["attempt outcome"].search("count(*) FILTER (WHERE http_status = 429)")
    assert SQL["output tokens per second"].search("c.output_tokens / nullif((c.duration_ms - coalesce(c.ttft_ms, 0)) / 1000.0, 0)")
    assert SQL["uncached input"].search("sum(input_tokens - cache_read_tokens)")
    assert SQL["unpriced"].search("count(*) FILTER (WHERE c.cost_usd IS NULL AND c.status = 'ok')")
    assert _python_cache_price(ast.parse("rates[1] * (written - hour)").body[0].value)  # type: ignore[attr-defined]
    assert _python_cache_price(ast.parse("float(plain - read) / _PROBE").body[0].value.left.args[0])  # type: ignore[attr-defined]
    assert _python_cache_price(ast.parse("write_5m - plain").body[0].value)  # type: ignore[attr-defined]
    assert not _python_cache_price(ast.parse("cache_read * in_price * 0.1").body[0].value)  # type: ignore[attr-defined]
    assert SQL["cache prices"].search("sum(c.cache_read_tokens * (p.input - p.cache_read))")
    assert SQL["cache prices"].search("sum(coalesce(c.cache_write_tokens, 0) * ?)")
    assert TEMPLATED["cache prices"].search("f'{read} * {saving}'")
    assert TEMPLATED["output tokens per second"].search("f'CASE WHEN {status} = 'ok' THEN {out} / nullif(({duration}'")
