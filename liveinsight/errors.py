"""Every error LiveInsight raises on purpose, in one tree.

    LiveInsightError
    ├── RequestError            the caller sent something we cannot accept (4xx)
    │   ├── InvalidRequest      400: names the field and what is accepted
    │   ├── PayloadTooLarge     413: body over 256 KiB
    │   ├── Unauthorized        401: missing or wrong API key; invalid or expired share link
    │   ├── Forbidden           403: a share link asked for more than it grants
    │   ├── NotFound            404: no such saved view or definition
    │   └── Conflict            409: the request would pass a limit (saved views, definitions) or break
    │                           what is stored (deleting a goal a funnel uses)
    ├── StoreUnavailable        503: DynamoDB still refused after retries
    └── DeliveryFailed          a report or alert did not reach a channel (e-mail, Slack)

Only the HTTP layer (`liveinsight.handler`) maps these to status codes.
"""
from __future__ import annotations


class LiveInsightError(Exception):
    """Base class of every LiveInsight error."""


class RequestError(LiveInsightError):
    """The request cannot be accepted as sent."""

    status = 400

    def __init__(self, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors


class InvalidRequest(RequestError):
    """A field or parameter is malformed; the message says what is accepted."""

    status = 400


class PayloadTooLarge(RequestError):
    """The body is over the size limit."""

    status = 413


class Unauthorized(RequestError):
    """The API key is missing or wrong."""

    status = 401


class Forbidden(RequestError):
    """A valid share link, asked for data outside its scope; the message names the field."""

    status = 403


class NotFound(RequestError):
    """The request names something that does not exist (a saved view, a definition)."""

    status = 404


class Conflict(RequestError):
    """The request is well formed but the stored state refuses it; the message says what to do."""

    status = 409


class StoreUnavailable(LiveInsightError):
    """The store refused writes even after retries; the client should retry later."""

    status = 503

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class DeliveryFailed(LiveInsightError):
    """A notification channel refused or could not be reached; the message names it and why."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
