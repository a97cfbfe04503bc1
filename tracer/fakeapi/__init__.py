"""A fake Claude API for tests, benchmarks and the demo: the real `anthropic` SDK talks to it over real HTTP.

    from tracer.fakeapi import FakeAPI

    with FakeAPI(seed=0, latency_scale=0.0) as api:
        client = anthropic.Anthropic(api_key="test-key", base_url=api.base_url)
        client.messages.create(..., extra_headers={"x-fake-script": "429:10,429:10,ok"})
        assert [r.attempt for r in api.requests] == [0, 1, 2]

It serves POST /v1/messages (JSON and SSE), /v1/messages/count_tokens, the Message Batches endpoints and
/v1/models; validates requests with the API's typed errors; derives usage from the request (prompt caching, thinking);
simulates per-model latency; sends `request-id` and rate-limit headers from token buckets (429s arise from load); and
injects faults per request (`x-fake-script`) or server-wide (`faults=`). See docs/fakeapi.md.

The models it serves are the API's, kept as dated data (`models.toml`): a retired model gets the API's 404
`not_found_error`. Tests and the demo take models by role, `roles().cheap`, `.workhorse`, `.large`, `.deprecated`,
`.retired`, so that a retirement changes one line.
"""

from __future__ import annotations

from tracer.fakeapi._app import RecordedRequest
from tracer.fakeapi._catalog import Profile, Roles, known_models, profile_for, retired_models, roles, served_models
from tracer.fakeapi._faults import FaultRates, FaultSpecError, Outcome, parse_outcome, parse_script
from tracer.fakeapi._limiter import DEFAULT_RATE_LIMITS, RateLimiter
from tracer.fakeapi._server import FakeAPI
from tracer.fakeapi._tokens import count_input_tokens

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "FakeAPI",
    "FaultRates",
    "FaultSpecError",
    "Outcome",
    "Profile",
    "RateLimiter",
    "RecordedRequest",
    "Roles",
    "count_input_tokens",
    "known_models",
    "parse_outcome",
    "parse_script",
    "profile_for",
    "retired_models",
    "roles",
    "served_models",
]
