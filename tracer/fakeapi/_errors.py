"""The API's error shape: `{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}`."""

from __future__ import annotations

import json

from tracer.fakeapi._faults import ERROR_TYPES


class ApiError(Exception):
    """An error answer: HTTP status, the API's error type for it, and a message.

    >>> ApiError(404, "model: claude-nope").error_type
    'not_found_error'
    """

    def __init__(self, status: int, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type or ERROR_TYPES.get(status, "api_error")

    def body(self, request_id: str) -> bytes:
        return error_body(self.error_type, self.message, request_id)


def error_body(error_type: str, message: str, request_id: str) -> bytes:
    return json.dumps(
        {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}
    ).encode()


def invalid(message: str) -> ApiError:
    """400 invalid_request_error."""
    return ApiError(400, message)
