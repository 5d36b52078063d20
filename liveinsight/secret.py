"""Secrets the functions read from Secrets Manager on first use, never from a plain environment variable."""
from __future__ import annotations

import time
from typing import Any

# A warm Lambda re-reads a secret this often, so a rotation takes effect within minutes
# (a new share secret revokes every link).
SECRET_CACHE_SECONDS = 300


class Secret:
    """A deployment secret (the share-link key, the API key): a given value, or a Secrets Manager
    secret read on first use.

    The secret read from Secrets Manager is cached for SECRET_CACHE_SECONDS, so a warm function
    does not call Secrets Manager per request and a rotation still revokes links within minutes.
    """

    def __init__(self, value: str | None = None, arn: str | None = None, region: str | None = None,
                 client: Any = None, cache_seconds: float = SECRET_CACHE_SECONDS):
        self.value = value
        self.arn = arn
        self.region = region
        self._client = client
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, str] | None = None

    def __repr__(self) -> str:
        return f"Secret(value={'***' if self.value else None}, arn={self.arn!r})"

    def get(self) -> str | None:
        """The secret, or None when share links are not configured."""
        if self.value:
            return self.value
        if not self.arn:
            return None
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > self.cache_seconds:
            self._cached = (now, self._fetch())
        return self._cached[1]

    def _fetch(self) -> str:
        if self._client is None:
            import boto3  # only when the secret is first needed: never at import time

            self._client = boto3.client("secretsmanager", region_name=self.region)
        return self._client.get_secret_value(SecretId=self.arn)["SecretString"]
