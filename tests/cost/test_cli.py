"""`tracer prices`: the effective table, one hypothetical call, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tracer.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["prices", *argv])
    out, err = capsys.readouterr()
    return code, out, err


class TestTable:
    def test_lists_every_model_with_its_prices_source_and_date(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run(capsys, "--at", "2026-11-01")
        assert code == 0
        row = next(line for line in out.splitlines() if "claude-sonnet-4-5 " in line)
        # $3 input, $15 output, $3.75 5m write, $6 1h write, $0.3 read, $10 per 1k searches, tier $6/$22.5
        for cell in ("$3 ", "$15 ", "$3.75", "$6 ", "$0.3 ", "$10 ", ">200k: $6/$22.5", "genai-prices"):
            assert cell in row, (cell, row)
        opus = next(line for line in out.splitlines() if "claude-opus-4-6 " in line)
        assert "2026-03-13" in opus and "6x" in opus
        assert "claude-mythos-preview" in out and "extra.toml" in out

    def test_an_override_file_shows_in_the_table(self, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
        path = tmp_path / "deal.toml"
        path.write_text('[models."acme-model"]\ninput = 1\noutput = 2\n', encoding="utf-8")
        code, out, _ = run(capsys, "--prices", str(path))
        assert code == 0
        assert "acme-model" in out and "override:deal.toml" in out


class TestOneCall:
    def test_prices_a_batch_call_line_by_line(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run(
            capsys,
            "claude-sonnet-4-5-20250929",
            "--input",
            "1000",
            "--output",
            "1000",
            "--cache-read",
            "10000",
            "--batch",
        )
        assert code == 0
        # batch: 1,000 x $1.50 = $0.0015; 10,000 x $0.15 = $0.0015; 1,000 x $7.50 = $0.0075; total $0.0105
        assert "$0.0105" in out
        assert "$7.5 / MTok" in out and "$0.15 / MTok" in out
        assert "batch" in out

    def test_thinking_is_inside_the_output(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run(capsys, "claude-sonnet-4-6", "--output", "3000", "--thinking", "2500")
        # 3,000 x $15 = $0.045
        assert code == 0 and "$0.045" in out and "2,500 of the 3,000 output tokens are thinking" in out

    def test_bedrock_id_with_us_only_and_web_search(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, out, _ = run(
            capsys, "us.anthropic.claude-opus-4-6-v1:0", "--input", "10000", "--web-search", "2", "--us-only"
        )
        # 10,000 x $5.50 = $0.055; 2 x $10/1,000 = $0.02; total $0.075
        assert code == 0 and "$0.075" in out and "claude-opus-4-6" in out

    def test_unknown_model_is_one_line_with_close_matches(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, _out, err = run(capsys, "claude-sonet-4-5", "--input", "10")
        assert code == 2
        assert err.strip().count("\n") == 0
        assert "unknown model 'claude-sonet-4-5'" in err and "claude-sonnet-4-5" in err

    def test_malformed_override_is_one_line_naming_the_file(
        self, capsys: pytest.CaptureFixture[str], tmp_path: Path
    ) -> None:
        path = tmp_path / "bad.toml"
        path.write_text('[models."claude-sonnet-4-5"]\ninput = "x"\n', encoding="utf-8")
        code, _, err = run(capsys, "--prices", str(path))
        assert code == 2 and str(path) in err and "input" in err and err.strip().count("\n") == 0

    def test_priority_without_contract_prices_says_why(self, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run(capsys, "claude-sonnet-4-6", "--input", "10", "--priority")
        assert code == 2 and "contract" in err


def test_the_installed_command_runs() -> None:
    """The real `tracer` entry point, as a user types it."""
    tracer = Path(sys.executable).with_name("tracer")
    command = [str(tracer)] if tracer.exists() else [sys.executable, "-m", "tracer.cli"]
    done = subprocess.run(
        [*command, "prices", "claude-haiku-4-5", "--input", "1000", "--output", "1000"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # 1,000 x $1 + 1,000 x $5 = $0.006
    assert done.returncode == 0, done.stderr
    assert "$0.006" in done.stdout
