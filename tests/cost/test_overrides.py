"""Override files: negotiated discounts, new models, priority-tier contract prices, and malformed files that
stop with an error naming the file, the entry and the problem."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

import tracer.cost as cost
from tracer.cost import PriceFileError, load_prices

D = Decimal


def write(tmp_path: Path, text: str, name: str = "prices.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def call(input: int = 0, output: int = 0, read: int = 0, **extra: object) -> dict[str, object]:
    return {"input_tokens": input, "output_tokens": output, "cache_read_input_tokens": read, **extra}


class TestDiscounts:
    def test_a_per_model_discount_applies_to_every_name_of_the_model(self, tmp_path: Path) -> None:
        table = load_prices(write(tmp_path, '[models."claude-sonnet-4-5"]\ndiscount_percent = 15\n'))
        # 1,000 input x $3 x 0.85 = $0.00255
        assert table.cost_of("claude-sonnet-4-5", call(input=1_000)) == D("0.00255")
        assert table.cost_of("us.anthropic.claude-sonnet-4-5-20250929-v1:0", call(input=1_000)) == D("0.00255")
        # other models untouched: claude-haiku-4-5 1,000 x $1 = $0.001
        assert table.cost_of("claude-haiku-4-5", call(input=1_000)) == D("0.001")

    def test_a_global_discount_with_a_per_model_exception(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            """
            [defaults]
            discount_percent = 10

            [models."claude-opus-4-5"]
            discount_percent = 20
            """,
        )
        table = load_prices(path)
        # claude-haiku-4-5: 1,000 x $1 x 0.9 = $0.0009
        assert table.cost_of("claude-haiku-4-5", call(input=1_000)) == D("0.0009")
        # claude-opus-4-5: 1,000 x $5 x 0.8 = $0.004 (its own 20% wins over the global 10%)
        assert table.cost_of("claude-opus-4-5", call(input=1_000)) == D("0.004")

    def test_discount_stacks_with_batch(self, tmp_path: Path) -> None:
        table = load_prices(write(tmp_path, '[models."claude-opus-4-5"]\ndiscount_percent = 20\n'))
        # 10,000 x $5 x 0.5 (batch) x 0.8 = 10,000 x $2 = $0.02
        assert table.cost_of("claude-opus-4-5", call(input=10_000), batch=True) == D("0.02")

    def test_the_bundled_table_is_not_changed_by_an_override(self, tmp_path: Path) -> None:
        load_prices(write(tmp_path, '[models."claude-sonnet-4-5"]\ndiscount_percent = 50\n'))
        assert load_prices().cost_of("claude-sonnet-4-5", call(input=1_000)) == D("0.003")


class TestPriceSets:
    def test_a_new_model_with_its_own_prices(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            """
            [models."acme-gateway-claude"]
            input = 2
            output = "8"
            aliases = ["acme-latest"]
            """,
        )
        table = load_prices(path)
        # 1,000 x $2 + 1,000 x $8 + 10,000 reads x ($2 x 0.1 = $0.20) = $0.002 + $0.008 + $0.002 = $0.012
        assert table.cost_of("acme-gateway-claude", call(input=1_000, output=1_000, read=10_000)) == D("0.012")
        assert table.cost_of("acme-latest", call(input=1_000)) == D("0.002")
        assert table.entry("acme-gateway-claude").source == "override:prices.toml"

    def test_a_new_model_priced_like_a_known_one(self, tmp_path: Path) -> None:
        table = load_prices(write(tmp_path, '[models."my-haiku"]\nsame_as = "claude-haiku-4-5-20251001"\n'))
        # as claude-haiku-4-5: 1,000 x $5 = $0.005
        assert table.cost_of("my-haiku", call(output=1_000)) == D("0.005")

    def test_replacing_prices_of_a_known_model(self, tmp_path: Path) -> None:
        table = load_prices(write(tmp_path, '[models."claude-sonnet-4-6"]\ninput = 2.4\noutput = 12\n'))
        # 1,000 x $2.40 + 1,000 x $12 = $0.0024 + $0.012 = $0.0144; cache read stays $0.30: 10,000 x 0.3 = $0.003
        assert table.cost_of("claude-sonnet-4-6", call(input=1_000, output=1_000)) == D("0.0144")
        assert table.cost_of("claude-sonnet-4-6", call(read=10_000)) == D("0.003")
        # batch is then 50% of the new price: 1,000 x $1.20 = $0.0012
        assert table.cost_of("claude-sonnet-4-6", call(input=1_000), batch=True) == D("0.0012")

    def test_a_long_context_tier_in_an_override(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            """
            [models."acme-long"]
            input = 1
            output = 5
            [models."acme-long".long_context]
            above = 100000
            input = 2
            """,
        )
        table = load_prices(path)
        # 100,001 > 100,000: 100,001 x $2 = $0.200002
        assert table.cost_of("acme-long", call(input=100_001)) == D("0.200002")
        # 100,000 x $1 = $0.1
        assert table.cost_of("acme-long", call(input=100_000)) == D("0.1")


class TestPriorityTier:
    def test_contract_prices_for_priority(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            """
            [models."claude-sonnet-4-6".priority]
            input = 3.6
            output = 18
            """,
        )
        table = load_prices(path)
        # 1,000 x $3.60 + 1,000 x $18 = $0.0036 + $0.018 = $0.0216
        assert table.cost_of("claude-sonnet-4-6", call(input=1_000, output=1_000, service_tier="priority")) == D(
            "0.0216"
        )
        # standard calls are unaffected: 1,000 x $3 = $0.003
        assert table.cost_of("claude-sonnet-4-6", call(input=1_000)) == D("0.003")

    def test_a_discount_does_not_apply_to_contract_priority_prices(self, tmp_path: Path) -> None:
        path = write(
            tmp_path,
            """
            [defaults]
            discount_percent = 10
            [models."claude-sonnet-4-6".priority]
            input = 3.6
            output = 18
            """,
        )
        table = load_prices(path)
        # priority: 1,000 x $3.60 = $0.0036 (the contract price as written)
        assert table.cost_of("claude-sonnet-4-6", call(input=1_000), service_tier="priority") == D("0.0036")
        # standard: 1,000 x $3 x 0.9 = $0.0027
        assert table.cost_of("claude-sonnet-4-6", call(input=1_000)) == D("0.0027")

    def test_a_priority_multiplier_for_every_model(self, tmp_path: Path) -> None:
        table = load_prices(write(tmp_path, "[defaults]\npriority_multiplier = 1.25\n"))
        # 1,000 x $3 x 1.25 = $0.00375
        assert table.cost_of("claude-sonnet-4-6", call(input=1_000), service_tier="priority") == D("0.00375")


class TestDefaultTable:
    def test_tracer_prices_env_and_set_default_table(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        path = write(tmp_path, '[models."claude-sonnet-4-5"]\ndiscount_percent = 50\n')
        previous = cost.default_table()
        try:
            monkeypatch.setenv("TRACER_PRICES", str(path))
            cost.set_default_table(None)
            # 1,000 x $3 x 0.5 = $0.0015
            assert cost.cost_of("claude-sonnet-4-5", call(input=1_000)) == D("0.0015")
            bad = write(tmp_path, "[models\n", name="bad.toml")
            with pytest.raises(PriceFileError):
                cost.set_default_table(bad)
            # a malformed file leaves the table in use as it was
            assert cost.cost_of("claude-sonnet-4-5", call(input=1_000)) == D("0.0015")
        finally:
            cost.set_default_table(previous)


MALFORMED = [
    ("[models\n", None, "not valid TOML"),
    (
        '[models."claude-sonnet-4-5"]\ninput = "three dollars"\n',
        '[models."claude-sonnet-4-5"] input',
        "expected a number",
    ),
    ('[models."claude-sonnet-4-5"]\ninput = -3\n', '[models."claude-sonnet-4-5"] input', "non-negative"),
    ('[models."claude-sonnet-4-5"]\nouptut = 15\n', '[models."claude-sonnet-4-5"]', "unknown key 'ouptut'"),
    ('[models."acme-new"]\ninput = 1\n', '[models."acme-new"]', "give at least `input` and `output`"),
    ('[models."claude-sonnet-4-5"]\ndiscount_percent = 150\n', "discount_percent", "below 100"),
    ('[models."x-model"]\nsame_as = "gpt-4o"\n', '[models."x-model"] same_as', "unknown model 'gpt-4o'"),
    ('[models."claude-sonnet-4-5".long_context]\ninput = 6\n', "long_context]", "missing `above`"),
    ('[models."claude-sonnet-4-5".priority]\nmultiplier = 1.2\ninput = 4\n', "priority]", "either `multiplier`"),
    ('[models."claude-sonnet-4-5".priority]\ninput = 4\n', "priority]", "at least `input` and `output`"),
    ("models = 3\n", "[models]", "expected a table"),
    ("[discounts]\npercent = 5\n", "top level", "unknown key 'discounts'"),
    ('[models."claude-sonnet-4-5"]\n', '[models."claude-sonnet-4-5"]', "sets nothing"),
    ('[models."claude-sonnet-4-5"]\naliases = "sonnet"\n', "aliases", "expected a list"),
]


class TestMalformedFiles:
    @pytest.mark.parametrize(("text", "entry", "problem"), MALFORMED)
    def test_the_error_names_the_file_the_entry_and_the_problem(
        self, tmp_path: Path, text: str, entry: str | None, problem: str
    ) -> None:
        path = write(tmp_path, text, name="negotiated.toml")
        with pytest.raises(PriceFileError) as caught:
            load_prices(path)
        message = str(caught.value)
        assert message.startswith(str(path)), message
        assert problem in message, message
        if entry is not None:
            assert entry in message, message
            assert caught.value.entry is not None and entry in caught.value.entry

    def test_a_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(PriceFileError, match="cannot read"):
            load_prices(tmp_path / "nope.toml")
