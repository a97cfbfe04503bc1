"""instrument() / uninstrument() / flush(), the entry point, and privacy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from anthropic._base_client import SyncAPIClient

import tracer
from tracer import semconv
from tracer.capture import ClaudeTracerInstrumentor

from .conftest import API_KEY, HELLO, MODEL, sync_client


class TestLifecycle:
    def test_instrument_twice_is_harmless(self, fake_api: Any, telemetry: Any) -> None:
        tracer.instrument()
        sync_client(fake_api).messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        assert len(telemetry.calls()) == 1 and len(telemetry.attempts()) == 1

    def test_uninstrument_restores_everything(self, fake_api: Any) -> None:
        from tests._telemetry import EXPORTER, join_provider
        from tracer import _compat
        from tracer.capture import _worker
        from tracer.capture._patch import Patcher

        join_provider()
        found = _compat.parts()
        owners = [(owner if index is None or owner is None else (owner[index] if index < len(owner) else None), name)
                  for part, index, name, _ in Patcher.TABLE for owner in [getattr(found, part)]]  # fmt: skip
        # Every part but the speed-ups an older anthropic lacks: `dig` (from 2.6.0 on) and `record_response` (1.14.0
        # has neither; see docs/compatibility.md).
        assert {name for owner, name in owners if owner is None} <= {"dig", "record_response"}
        originals = {(owner, name): vars(owner)[name] for owner, name in owners if owner is not None}
        client = sync_client(fake_api)
        tracer.instrument(store=False, capture_content=True)  # content: the `_tracer` row is applied too
        assert all(vars(owner)[name] is not original for (owner, name), original in originals.items())
        client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        assert client.middleware == ()  # nothing is added to a client's middleware chain
        _worker.drain()  # attempt spans are made on the worker thread
        assert [s for s in EXPORTER.get_finished_spans() if s.name == semconv.SPAN_ATTEMPT]
        tracer.uninstrument()
        assert all(vars(owner)[name] is original for (owner, name), original in originals.items())
        assert client.open_telemetry["traces"]["content_mode"] == "metadata_only"  # the client's own mode is back
        EXPORTER.clear()
        client.messages.create(model=MODEL, max_tokens=16, messages=HELLO)
        _worker.drain()
        assert not [s for s in EXPORTER.get_finished_spans() if s.name == semconv.SPAN_ATTEMPT]

    def test_entry_point_names_the_instrumentor(self) -> None:
        (ep,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "anthropic_tracer"]
        assert ep.load() is ClaudeTracerInstrumentor
        assert ClaudeTracerInstrumentor().instrumentation_dependencies() == ("anthropic >= 1.14, < 3",)

    def test_opentelemetry_instrument_runs_an_app(self, fake_api: Any, tmp_path: Path) -> None:
        """`opentelemetry-instrument python app.py` with TRACER_STORE: the calls land in the store."""
        app = tmp_path / "app.py"
        app.write_text(textwrap.dedent(f"""
            import anthropic, tracer
            client = anthropic.Anthropic(api_key="k", base_url={fake_api.base_url!r})
            client.messages.create(model={MODEL!r}, max_tokens=16, messages={HELLO!r}, extra_headers={{"x-fake-script": "429:1,ok"}})
            tracer.flush()
        """))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACER_"))}
        env.update(TRACER_STORE=str(tmp_path / "store"), OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none",
                   OTEL_LOGS_EXPORTER="none")  # fmt: skip
        exe = Path(sys.executable).with_name("opentelemetry-instrument")
        out = subprocess.run([str(exe), sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        from tracer.read import Store

        assert Store(tmp_path / "store").rows("SELECT model, attempts FROM calls") == [(MODEL, 2)]


class TestPrivacy:
    def _all_values(self, spans: list[Any]) -> str:
        return json.dumps([{k: str(v) for k, v in (s.attributes or {}).items()} for s in spans])

    def test_no_api_key_and_no_content_by_default(self, fake_api: Any, telemetry: Any) -> None:
        sync_client(fake_api).messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "my secret plan"}])
        values = self._all_values(telemetry.spans())
        assert API_KEY not in values and "x-api-key" not in values.lower() and "authorization" not in values.lower()
        assert "my secret plan" not in values
        assert semconv.GEN_AI_INPUT_MESSAGES not in telemetry.call().attributes

    def test_capture_content_opt_in_is_bounded(self, fake_api: Any) -> None:
        from tests._telemetry import EXPORTER, join_provider

        join_provider()
        EXPORTER.clear()
        tracer.instrument(store=False, capture_content=True, max_content_bytes=2000)
        try:
            client = sync_client(fake_api)
            client.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "my plan " * 20}])
            client.messages.create(model=MODEL, max_tokens=16, messages=[{"role": "user", "content": "word " * 5000}])
            short, long = sorted(
                (s for s in EXPORTER.get_finished_spans() if s.attributes.get(semconv.SPAN_TYPE) == "call"),
                key=lambda s: s.start_time,
            )
            assert "my plan my plan" in short.attributes[semconv.GEN_AI_INPUT_MESSAGES]
            # Over the bound the SDK leaves the parts out rather than cut a message in the middle.
            assert len(long.attributes[semconv.GEN_AI_INPUT_MESSAGES].encode()) <= 2000
            tracer.flush()
            assert API_KEY not in self._all_values(list(EXPORTER.get_finished_spans()))
        finally:
            tracer.uninstrument()
            EXPORTER.clear()


class TestBadConfiguration:
    def test_a_malformed_price_file_stops_instrument_before_anything_is_patched(self, tmp_path: Path) -> None:
        from tracer.cost import PriceFileError

        bad = tmp_path / "prices.toml"
        bad.write_text('[models."my-model"]\ninput = "three dollars"\n')
        original = SyncAPIClient.__dict__["_attempt_request"]
        try:
            tracer.instrument(store=False, prices=bad)
        except PriceFileError as exc:
            assert str(bad) in str(exc)
        else:
            raise AssertionError("instrument() accepted a malformed price file")
        finally:
            tracer.uninstrument()
        assert SyncAPIClient.__dict__["_attempt_request"] is original
        assert not ClaudeTracerInstrumentor().is_instrumented_by_opentelemetry

    def test_a_bad_prometheus_port_variable_is_a_clear_error(self, monkeypatch: Any) -> None:
        monkeypatch.setenv("TRACER_PROMETHEUS_PORT", "ninety")
        try:
            tracer.instrument(store=False)
        except ValueError as exc:
            assert "TRACER_PROMETHEUS_PORT" in str(exc)
        else:
            raise AssertionError("instrument() accepted TRACER_PROMETHEUS_PORT=ninety")
        finally:
            tracer.uninstrument()


class TestFork:
    def test_a_process_forked_right_after_instrument_prices_its_calls(self, tmp_path: Path) -> None:
        """A pre-forking server instruments, then forks: the child must not wait on anything the parent's threads
        held at the fork (a background price load once deadlocked it on a module import lock)."""
        script = tmp_path / "fork.py"
        script.write_text(textwrap.dedent("""
            import os, tracer
            tracer.instrument(store=False)
            pid = os.fork()
            if pid == 0:
                from tracer import cost
                os._exit(0 if cost.default_table().resolve_model("claude-haiku-4-5") else 3)
            print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
        """))
        out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                             stdin=subprocess.DEVNULL)  # fmt: skip
        assert out.returncode == 0 and out.stdout.strip() == "0", out.stderr
