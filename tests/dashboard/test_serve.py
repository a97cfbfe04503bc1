"""`tracer dashboard` as a process: it stops the Streamlit it started when it is told to stop (SIGTERM, as a
service manager or a container runtime sends), not only on Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tracer.cli.dashboard import _free_port


def answers(url: str) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
        return response.status == 200
    return False


class TestSigterm:
    def test_sigterm_stops_streamlit_and_frees_the_port(self, tmp_path: Path) -> None:
        port = _free_port("127.0.0.1")
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-c", "import sys; from tracer.cli import main; sys.exit(main())",
                   "dashboard", "--store", str(tmp_path / "empty"), "--port", str(port)]  # fmt: skip
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
        try:
            deadline = time.monotonic() + 60
            while not answers(url):
                assert process.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.3)
            process.send_signal(signal.SIGTERM)
            process.wait(20)
            assert not answers(url)  # Streamlit went with it: nothing left on the port
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
