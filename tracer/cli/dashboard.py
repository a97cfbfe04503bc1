"""`tracer dashboard [--store DIR] [--port N] [--host 127.0.0.1]`: the Streamlit dashboard over a store.

Streamlit runs headless in a child process (no usage statistics, no browser unless `--open`), bound to
127.0.0.1 unless told otherwise. Other commands (`tracer demo`) start it through `serve()`:

>>> from tracer.cli.dashboard import serve
>>> dash = serve(".tracer", port=0, block=False)      # doctest: +SKIP
>>> dash.wait_ready(); print(dash.url); dash.stop()    # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracer.cli import CliError, require_dashboard_extra

DEFAULT_PORT = 8501


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="serve the dashboard (cost, latency, 429s, retries) over a store",
        description="Serve the Streamlit dashboard over a claude-tracer store, on 127.0.0.1 unless --host says otherwise.",
    )
    parser.add_argument("--store", help="store directory (or a DuckDB file); default $TRACER_STORE, else ./.tracer")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--open", action="store_true", help="open the dashboard in a browser once it is up")
    parser.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    # Streamlit runs in a child process: find out here, in one line, that the extra is missing.
    require_dashboard_extra("streamlit", "plotly", "duckdb", "pandas")
    dash = serve(args.store, port=args.port, host=args.host, open_browser=args.open, block=True)
    return dash.returncode or 0


@dataclass
class Dashboard:
    """A running dashboard: its `url` and the Streamlit child `process`."""

    url: str
    process: subprocess.Popen[bytes]
    store: Path

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def wait_ready(self, timeout_s: float = 60.0) -> bool:
        """True once Streamlit answers its health check; False if it exited or did not answer in time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return True
            time.sleep(0.2)
        return False

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def command(store: Path, port: int, host: str) -> list[str]:
    """The `streamlit run` command line for the dashboard (through `claude_tracer_dashboard._serve`, which loads
    what the pages need before the server answers)."""
    import claude_tracer_dashboard

    app = Path(claude_tracer_dashboard.__file__).parent / "app.py"
    return [
        sys.executable, "-m", "claude_tracer_dashboard._serve", "run", str(app),
        "--server.headless=true",
        f"--server.port={port}",
        f"--server.address={host}",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--server.runOnSave=false",
        "--global.developmentMode=false",
        "--client.toolbarMode=viewer",
        "--theme.base=light",
        "--", "--store", str(store),
    ]  # fmt: skip


def serve(
    store_dir: str | os.PathLike[str] | None = None,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    open_browser: bool = False,
    block: bool = True,
    *,
    quiet: bool = False,
) -> Dashboard:
    """Start the dashboard over `store_dir` ($TRACER_STORE, else ./.tracer) and print its URL once it answers.

    `port=0` picks a free port. With `block=True` it runs until interrupted (Ctrl-C stops Streamlit) and returns
    the finished `Dashboard`; with `block=False` it returns the running one: `.url`, `.wait_ready()`, `.stop()`.
    """
    store = Path(store_dir or os.environ.get("TRACER_STORE") or ".tracer").expanduser().resolve()
    if port == 0:
        port = _free_port(host)
    url_host = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    url = f"http://{url_host}:{port}"
    env = {**os.environ, "TRACER_STORE": str(store), "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    # Started first: the server loads the pages' modules while the reader cache is brought up to date here; it
    # opens the store only for its first visitor, after `_prepare` is done.
    process = subprocess.Popen(command(store, port, host), env=env, stdout=subprocess.DEVNULL if quiet or not block else None)
    if not quiet:
        try:
            _prepare(store)
        except BaseException:  # Ctrl-C during a long first load: the server goes too
            process.terminate()
            process.wait()
            raise
    dash = Dashboard(url=url, process=process, store=store)
    if not block:
        return dash
    # SIGTERM (a service manager, `kill`, a container stopping) ends us like Ctrl-C does, through the `finally`
    # below that stops Streamlit: the default action would end this process and leave Streamlit on the port.
    restore = _on_sigterm_interrupt()
    try:
        if not dash.wait_ready():
            dash.stop()
            raise CliError(f"the dashboard did not start on {url} (is the port in use? try --port 0)")
        print(f"claude-tracer dashboard: {url}  (store {store}; Ctrl-C to stop)", flush=True)
        if open_browser:
            webbrowser.open(url)
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        dash.stop()
        restore()
    return dash


def _prepare(store: Path) -> None:
    """Bring a big store's reader cache up to date here, showing progress, so that the dashboard's first page
    opens at once instead of a blank page while it loads. Nothing to do for a small store or a current cache;
    any failure is left for the dashboard to report on its page."""
    if not store.is_dir():
        return
    try:
        from tracer.cli._loading import printer
        from tracer.read import prepare

        prepare(store, printer())
    except Exception:
        return


def _on_sigterm_interrupt() -> Callable[[], None]:
    """Make SIGTERM raise KeyboardInterrupt in this (main) thread; returns what puts the previous handler back.
    Signal handlers can only be set from the main thread: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host if host not in ("", "0.0.0.0") else "127.0.0.1", 0))
        return int(sock.getsockname()[1])
