"""A real Prometheus (the Debian binary) on loopback, scraping given targets, queried over its HTTP API."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PromQLError(AssertionError):
    pass


class Prometheus:
    """`with Prometheus(binary, workdir, ["127.0.0.1:9464"]) as prom: prom.query("up")`."""

    def __init__(
        self, binary: str, workdir: Path, targets: list[str], scrape_interval_s: int = 1, rule_files: tuple[Path, ...] = ()
    ) -> None:
        self.rule_files = rule_files
        self.binary = binary
        self.workdir = workdir
        self.targets = targets
        self.scrape_interval_s = scrape_interval_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = workdir / "prometheus.log"

    def __enter__(self) -> Prometheus:
        config = self.workdir / "prometheus.yml"
        config.write_text(
            json.dumps(  # JSON is YAML
                {
                    "global": {
                        "scrape_interval": f"{self.scrape_interval_s}s",
                        "scrape_timeout": f"{self.scrape_interval_s}s",
                        "evaluation_interval": f"{self.scrape_interval_s}s",
                    },
                    "rule_files": [str(p) for p in self.rule_files],
                    "scrape_configs": [{"job_name": "claude-tracer", "static_configs": [{"targets": self.targets}]}],
                }
            )
        )
        with self._log.open("wb") as log:
            self._proc = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--web.enable-remote-write-receiver",  # as in docker-compose.yml (Tempo writes span metrics)
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_until(lambda: self._get("/-/ready", raw=True) is not None, timeout_s=30, what="Prometheus ready")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])

    def _get(self, path: str, params: dict[str, str] | None = None, raw: bool = False) -> Any:
        if self._proc is not None and self._proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {self._proc.returncode}:\n{self.log_tail()}")
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = response.read()
        except urllib.error.HTTPError as e:
            body = e.read()
            if raw:
                return None
            raise PromQLError(f"{path} {params}: HTTP {e.code}: {body.decode(errors='replace')}") from None
        except OSError:
            if raw:
                return None
            raise
        return body if raw else json.loads(body)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query at now: [{"metric": {...labels}, "value": [ts, "1.5"]}, ...]. Raises on a PromQL error."""
        answer = self._get("/api/v1/query", {"query": expr})
        if answer.get("status") != "success":
            raise PromQLError(f"{expr}: {answer}")
        result = answer["data"]["result"]
        return result if isinstance(result, list) else [{"metric": {}, "value": result}]

    def scalar(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def targets_health(self) -> list[str]:
        return [t["health"] for t in self._get("/api/v1/targets")["data"]["activeTargets"]]

    @staticmethod
    def wait_until(check: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.25) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if check():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
            time.sleep(poll_s)
