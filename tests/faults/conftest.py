"""The capture tests' fixtures (the real SDK over real HTTP to the fake API, `tracer.instrument()` on), reused."""

from tests.capture.conftest import fake_api, telemetry  # noqa: F401 - fixtures, found by name
