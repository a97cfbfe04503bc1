"""Prices never come from the network: only genai-prices' bundled snapshot, whatever else runs in the process."""

from __future__ import annotations

import socket
from decimal import Decimal

import pytest

from tracer.cost import load_prices


def test_a_downloaded_snapshot_in_the_process_does_not_change_our_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_prices import data_snapshot
    from genai_prices.types import ModelInfo, ModelPrice, Provider

    fake = data_snapshot.DataSnapshot(
        providers=[
            Provider(
                id="anthropic",
                name="Anthropic",
                api_pattern=".*",
                models=[ModelInfo(id="claude-sonnet-4-5", match=None, prices=ModelPrice(input_mtok=Decimal(0)))],  # type: ignore[arg-type]
            )
        ],
        from_auto_update=True,
    )
    monkeypatch.setattr(data_snapshot, "_custom_snapshot", fake)
    # 1,000 x $3 = $0.003, from the bundled data, not the $0 "update"
    assert load_prices().cost_of("claude-sonnet-4-5", {"input_tokens": 1000, "output_tokens": 0}) == Decimal("0.003")


def test_loading_and_pricing_open_no_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    import tracer.cost._table as table_module

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("tracer.cost tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    table_module._base_parts.cache_clear()  # load the bundled data again, under the guard
    table = load_prices()
    assert table.cost_of("claude-haiku-4-5", {"input_tokens": 1000, "output_tokens": 0}) == Decimal("0.001")

    import genai_prices.update_prices as updates

    assert updates._shared_updater.ref_count == 0  # no background updater was started


class TestBundledAnthropicPrices:
    """Only genai-prices' Anthropic entry is evaluated, and it is the very object its data module builds."""

    def test_the_anthropic_entry_read_alone_equals_the_data_modules_own(self) -> None:
        import tracer.cost._table as table_module

        alone = table_module._anthropic_from_source()
        from genai_prices.data import providers

        assert alone is not None
        assert alone == next(p for p in providers if p.id == "anthropic")
        assert len(alone.models) > 10

    def test_loading_prices_does_not_import_every_providers_data(self) -> None:
        import subprocess
        import sys

        code = "import sys; from tracer.cost import load_prices; load_prices(); print('genai_prices.data' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == "False"

    def test_an_unexpected_layout_falls_back_to_importing_the_module(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import tracer.cost._table as table_module

        monkeypatch.setattr(table_module, "_ANTHROPIC_OPEN", b"\n    Provider(\n        id='no-such-layout',\n")
        assert table_module._anthropic_from_source() is None
        table_module._base_parts.cache_clear()
        try:
            table = load_prices()
            assert table.cost_of("claude-haiku-4-5", {"input_tokens": 1000, "output_tokens": 0}) == Decimal("0.001")
        finally:
            table_module._base_parts.cache_clear()
