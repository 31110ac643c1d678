"""Errors with stable codes.

Exception tree::

    ClarionError (code, http_status, message, fields)
    ├── ValidationFailed      422  input that does not fit (field, value, row)
    ├── NotFound              404  an object that does not exist in this workspace
    ├── Conflict              409  a state change that the current state forbids
    ├── AuthError             401  missing or unknown API key
    └── PermissionDenied      403  a key without the scope

The API turns any of them into ``{"error": {"code", "message", "fields"}}``; the CLI into one
readable line and exit status 2. Domain code never raises web-framework errors.
"""

from __future__ import annotations

from typing import Any


class ClarionError(Exception):
    """Base of every error Clarion reports to a person or a client."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields: dict[str, Any] = fields

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON body the API sends for this error."""
        return {"error": {"code": self.code, "message": self.message, "fields": self.fields}}

    def __str__(self) -> str:
        extra = ", ".join(f"{k}={v!r}" for k, v in self.fields.items())
        return f"{self.message} ({extra})" if extra else self.message


class ValidationFailed(ClarionError):
    code = "validation_failed"
    http_status = 422


class NotFound(ClarionError):
    code = "not_found"
    http_status = 404


class Conflict(ClarionError):
    code = "conflict"
    http_status = 409


class AuthError(ClarionError):
    code = "unauthenticated"
    http_status = 401


class PermissionDenied(ClarionError):
    code = "forbidden"
    http_status = 403
