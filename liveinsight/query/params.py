"""Query parameters of the read APIs: one validation rule each, messages that name the parameter.

Parameters arrive as {name: [values]}; errors are InvalidRequest (400) saying what is accepted.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone

from .. import config
from ..errors import InvalidRequest


def single(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1 and len(set(values)) > 1:
        raise InvalidRequest(f"`{name}` is given {len(values)} times; give it once")
    return values[0]


def check_known(params: dict[str, list[str]], accepted: tuple[str, ...]) -> None:
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidRequest(f"unknown parameter `{unknown[0]}`; accepted parameters: {', '.join(accepted)}")


def whole_number(params: dict[str, list[str]], name: str, default: int, low: int, high: int, message: str) -> int:
    """An integer parameter within [low, high]; `message` (plus the value given) when it is not."""
    text = single(params, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise InvalidRequest(f"{message}, not {text!r}")
    return value


def parse_time(name: str, value: str) -> float:
    """Epoch seconds (or milliseconds above 10^11) or ISO 8601 (UTC unless an offset is given)."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if not math.isfinite(number) or number < 0:
            raise InvalidRequest(f"`{name}` must be epoch seconds or an ISO 8601 time, not {value!r}")
        return number / 1000.0 if number > config.MILLISECONDS_THRESHOLD else number
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "+") if "T" in text else text)
    except ValueError:
        raise InvalidRequest(f"`{name}` must be epoch seconds or an ISO 8601 time such as "
                             f"2026-11-28T09:00:00Z, not {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()



def site(params: dict[str, list[str]], settings: config.Settings) -> str | None:
    """The `site` parameter as a site key (`www.` folded), checked against LIVEINSIGHT_SITES when set."""
    text = single(params, "site")
    if text is None:
        return None
    value = config.site_of(text)
    if not value:
        raise InvalidRequest("`site` is empty; leave it out for all sites or give a host such as shop.example.com")
    if settings.sites and value not in settings.sites:
        raise InvalidRequest(f"`site` must be one of {', '.join(settings.sites)}, not {text!r}")
    return value
