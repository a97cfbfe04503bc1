"""An instrumented call has the same cost on its span, in the store and in `tracer report` as `cost_of` computes
from its usage (issue: exact cost of every call)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import tracer
from tracer import semconv
from tracer._money import usd
from tracer.cli import main
from tracer.cost import cost_of
from tracer.read import Store

from .conftest import HELLO, sync_client


def test_span_store_and_report_agree_with_cost_of(fake_api: Any, telemetry: Any, capsys: Any) -> None:
    client = sync_client(fake_api)
    system = [{"type": "text", "text": "Context. " * 600, "cache_control": {"type": "ephemeral"}}]
    messages = [
        client.messages.create(model="claude-sonnet-4-6", max_tokens=64, system=system, messages=HELLO),
        client.messages.create(model="claude-sonnet-4-6", max_tokens=64, system=system, messages=HELLO),  # cache read
        client.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=HELLO),
    ]
    expected = {m.id: cost_of(m.model, m.usage) for m in messages}
    assert all(v is not None and v > 0 for v in expected.values())

    on_spans = {c.attributes[semconv.GEN_AI_RESPONSE_ID]: Decimal(c.attributes[semconv.COST_USD_EXACT]) for c in telemetry.calls()}
    assert on_spans == expected

    assert tracer.flush()
    in_store = dict(Store(telemetry.store).rows("SELECT response_id, cost_usd FROM calls"))
    assert {k: Decimal(v) for k, v in in_store.items()} == expected

    assert main(["report", "--store", str(telemetry.store)]) == 0
    out = capsys.readouterr().out
    total = sum(expected.values(), Decimal(0))
    assert usd(float(total)) in out, out  # the one money formatter the report prints with
