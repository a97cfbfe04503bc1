"""The SDK's own exception objects, built the way the SDK builds them (over an httpx2 response), for pure tests.

Integration tests get these from the fake API over real HTTP; these let the pure cores be specified without I/O.
"""

from __future__ import annotations

import anthropic
import httpx2

_REQUEST = httpx2.Request("POST", "http://127.0.0.1/v1/messages")


def status_error(status: int, headers: dict[str, str] | None = None) -> anthropic.APIStatusError:
    response = httpx2.Response(status, headers=headers or {}, request=_REQUEST)
    client = anthropic.Anthropic(api_key="test-key", base_url="http://127.0.0.1")
    return client._make_status_error(f"Error code: {status}", body=None, response=response)


def connection_error() -> anthropic.APIConnectionError:
    return anthropic.APIConnectionError(request=_REQUEST)


def timeout_error() -> anthropic.APITimeoutError:
    return anthropic.APITimeoutError(request=_REQUEST)
