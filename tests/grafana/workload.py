"""A workload for the Prometheus test, run in its own process: `python workload.py METRICS_PORT ROUNDS`.

The process instruments itself with `tracer.instrument(prometheus_port=METRICS_PORT, store=False)`, runs ROUNDS
identical rounds of calls with the real anthropic SDK against the fake API (scripted 429s, 529s and 500s,
streams, rate-limit headers, a circuit breaker that trips), prints one JSON line that counts what the fake API
received, and keeps serving /metrics until its standard input closes.

Every round has the same mix, so the share of 429s among attempts is the same over any whole number of rounds
and Prometheus' rate() over a window must find it whatever rounds the window holds.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections import Counter

import anthropic

import tracer
from tracer import semconv
from tracer.fakeapi import FakeAPI

MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5")
RATE_LIMITS = {"requests": 1000, "tokens": 2_000_000, "input_tokens": 1_000_000, "output_tokens": 400_000}
ROUND_PAUSE_S = 0.4  # spreads the rounds over several 1 s scrapes


def one_round(client: anthropic.Anthropic, no_retry: anthropic.Anthropic, breaker: object | None) -> None:
    for model in MODELS:
        ask = {"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hello"}]}
        client.messages.create(**ask)
        with client.messages.stream(**ask) as stream:
            stream.get_final_message()
        client.messages.create(**ask, extra_headers={"x-fake-script": "429:1,ok"})  # one 429, retried after 1 ms
        for script in ("529", "500"):  # answered once, not retried: a failed call each
            with contextlib.suppress(anthropic.APIStatusError):
                no_retry.messages.create(**ask, extra_headers={"x-fake-script": script})
            _breaker_failure(breaker)


def _make_breaker() -> object | None:
    """The resilience toolkit's breaker, tripping on the first failure and closing again at once."""
    try:
        from tracer.resilience import CircuitBreaker

        return CircuitBreaker(name="grafana-test", failure_threshold=1, reset_timeout_s=0.0)
    except Exception:  # not built yet, or another signature: the events below come from record_event itself
        return None


def _breaker_failure(breaker: object | None) -> None:
    """One breaker cycle: a failure opens it, a success after its zero reset timeout closes it."""
    if breaker is None:
        from tracer._events import record_event

        record_event(semconv.EVENT_KIND_BREAKER_TRANSITION, "grafana-test", from_state="closed", to_state="open")
        record_event(semconv.EVENT_KIND_BREAKER_TRANSITION, "grafana-test", from_state="open", to_state="closed")
        return

    def fail() -> None:
        raise RuntimeError("scripted failure")

    for attempt in (fail, lambda: None):
        with contextlib.suppress(Exception):
            breaker.call(attempt)  # type: ignore[attr-defined]


def scripted_status(request: object) -> str:
    """The status the fake API answered a request with, read from its x-fake-script and attempt index."""
    script = getattr(request, "headers", {}).get("x-fake-script", "ok")
    outcomes = script.split(",")
    outcome = outcomes[min(getattr(request, "attempt", 0), len(outcomes) - 1)]
    code = outcome.split(":")[0]
    return code if code.isdigit() else "200"


def main() -> int:
    metrics_port, rounds = int(sys.argv[1]), int(sys.argv[2])
    tracer.instrument(store=False, prometheus_port=metrics_port, service_name="grafana-test")
    breaker = _make_breaker()
    with FakeAPI(seed=0, latency_scale=0.0, rate_limits=RATE_LIMITS) as api:
        client = anthropic.Anthropic(api_key="test-key", base_url=api.base_url, max_retries=2)
        no_retry = client.with_options(max_retries=0)
        for _ in range(rounds):
            one_round(client, no_retry, breaker)
            time.sleep(ROUND_PAUSE_S)
        statuses = Counter(scripted_status(r) for r in api.requests)
    tracer.flush()
    summary = {"attempts": sum(statuses.values()), "by_status": dict(statuses), "models": list(MODELS),
               "breaker": breaker is not None, "kinds": [semconv.EVENT_KIND_BREAKER_TRANSITION]}  # fmt: skip
    print(json.dumps(summary), flush=True)
    sys.stdin.read()  # keep serving /metrics until the test is done
    tracer.uninstrument()
    return 0


if __name__ == "__main__":
    sys.exit(main())
