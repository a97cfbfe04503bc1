"""`tracer fake-api` as a user runs it: a subprocess that prints its URL and serves the SDK until interrupted."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import anthropic
import pytest

from ._sdk import ask

REPO = Path(__file__).parents[2]
ENTRY = "import sys; from tracer.cli import main; sys.exit(main())"


def tracer_cmd(*args: str) -> list[str]:
    return [sys.executable, "-c", ENTRY, *args]


class TestServe:
    def test_starts_prints_the_base_url_answers_and_stops_on_ctrl_c(self) -> None:
        args = ["--port", "0", "--seed", "3", "--latency-scale", "0", "--api-key", "sk-cli", "--faults", "529=0.0001"]
        process = subprocess.Popen(
            tracer_cmd("fake-api", *args), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            hint = process.stdout.readline()
            url = first.split(" on ")[1].split()[0]
            assert url.startswith("http://127.0.0.1:") and "faults 529=0.0001" in first
            assert f"ANTHROPIC_BASE_URL={url}" in hint
            client = anthropic.Anthropic(api_key="sk-cli", base_url=url)
            assert client.messages.create(**ask()).content
            with pytest.raises(anthropic.AuthenticationError):
                anthropic.Anthropic(api_key="sk-other", base_url=url).messages.create(**ask())
        finally:
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)  # a loaded CI machine: the server may take a while to wind down
        assert process.returncode == 0, err
        assert "Traceback" not in err


class TestBadArguments:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--faults", "429=lots"], "--faults: '429=lots': the rate must be a number"),
            (["--faults", "418=0.1"], "--faults: '418': unsupported status"),
            (["--faults", "429=0.8,529=0.4"], "add up to 1.2"),
            (["--rate-limits", "rpm=5"], "--rate-limits"),
            (["--latency-scale", "-1"], "--latency-scale"),
        ],
    )
    def test_one_clear_line_and_exit_2(self, args: list[str], message: str) -> None:
        done = subprocess.run(
            tracer_cmd("fake-api", "--port", "0", *args), cwd=REPO, capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 2
        assert done.stderr.startswith("tracer fake-api: ") and message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and done.stdout == ""
