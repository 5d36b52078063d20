"""Countries without an IP database: the browser's time zone, mapped by a table generated from tzdata.

The shipped table equals a fresh generation from the pinned tzdata package; the collector uses
the trusted CDN's country first, then the time zone's; the time zone itself is never stored.
"""
from __future__ import annotations

import json
import time
import zlib

import pytest

from collector_paths import ORIGIN_SECRET, on_path
from conftest import page_view


def test_the_shipped_table_is_a_fresh_generation_from_the_pinned_tzdata():
    from liveinsight.ingest import geo, geo_table

    fresh = geo_table.render(geo_table.generate(), geo_table.tzdata_version())
    assert geo.TABLE.read_text(encoding="utf-8") == fresh, "run: python -m liveinsight.ingest.geo_table"


def test_the_pinned_tzdata_is_the_one_installed():
    from importlib.metadata import version
    from pathlib import Path

    pinned = [line.split("==")[1].split()[0] for line in
              (Path(__file__).parent.parent / "requirements.txt").read_text().splitlines()
              if line.startswith("tzdata==")]
    assert pinned == [version("tzdata")]


@pytest.mark.parametrize("zone, country", [
    ("Europe/Berlin", "DE"), ("America/Argentina/Buenos_Aires", "AR"), ("Asia/Kolkata", "IN"),
    # the old names browsers still report (Chrome's ICU), through tzdata's links
    ("Asia/Calcutta", "IN"), ("America/Buenos_Aires", "AR"), ("Europe/Kiev", "UA"), ("Asia/Saigon", "VN"),
    ("Asia/Rangoon", "MM"), ("US/Eastern", "US"),
    # a zone tzdata merged into another country's keeps its own country (zone.tab)
    ("Europe/Amsterdam", "NL"), ("Europe/Kyiv", "UA"),
    ("europe/berlin", "DE"),  # names are matched without case
    # no country: UTC, fixed offsets, a name tzdata does not know
    ("UTC", None), ("Etc/GMT+5", None), ("EST5EDT", None), ("Mars/Olympus_Mons", None), (None, None), ("", None),
])
def test_zone_to_country(zone, country):
    from liveinsight.ingest.geo import country_of_zone

    assert country_of_zone(zone) == country


def test_generation_reads_zone_tab_first_then_links_and_link_chains():
    from liveinsight.ingest.geo_table import generate

    zone_tab = "# comment\nNL\t+5222+00454\tEurope/Amsterdam\nBE\t+5050+00420\tEurope/Brussels\n"
    zi = "L Europe/Brussels Europe/Amsterdam\nL Europe/Brussels Old/Name\nL Old/Name Older/Name\nL Etc/UTC UTC\n"
    assert generate(zone_tab, zi) == {"Europe/Amsterdam": "NL", "Europe/Brussels": "BE", "Old/Name": "BE",
                                      "Older/Name": "BE"}


def post_tz(backend, tz, headers: dict | None = None, session: str = "s-tz") -> tuple[int, dict]:
    return backend.post(page_view(session, "/", time.time() - 5, tz=tz), headers=headers or {})


def stored(backend) -> dict:
    (event,) = backend.raw_events()
    return event


def test_the_time_zone_gives_the_country_when_no_trusted_header_does(backend):
    # GIVEN an event from a browser in Kolkata reaching the API directly (no front door)
    code, _ = post_tz(backend, "Asia/Calcutta")
    # THEN its country is India, with no region or city (a time zone tells neither)
    assert code == 200
    event = stored(backend)
    assert (event["country"], event.get("region"), event.get("city")) == ("IN", None, None)


def test_the_trusted_cdn_country_wins_over_the_time_zone(backend):
    # GIVEN a traveller's laptop on Berlin time, browsing from Seattle through the front door
    backend = on_path(backend, "rest-api")
    post_tz(backend, "Europe/Berlin", headers={"X-LiveInsight-Origin": ORIGIN_SECRET,
                                               "CloudFront-Viewer-Country": "US",
                                               "CloudFront-Viewer-Country-Region": "WA"})
    # THEN the place is CloudFront's
    assert (stored(backend)["country"], stored(backend)["region"]) == ("US", "US-WA")


def test_forged_cdn_headers_do_not_beat_the_time_zone(backend):
    backend = on_path(backend, "rest-api")
    post_tz(backend, "Europe/Berlin", headers={"CloudFront-Viewer-Country": "US"})  # no secret
    assert stored(backend)["country"] == "DE"


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "UTC", "Etc/GMT-14"])
def test_a_well_formed_unknown_or_countryless_zone_is_accepted_without_a_country(backend, tz):
    code, payload = post_tz(backend, tz)
    assert code == 200 and payload["data"]["accepted"] == 1
    assert stored(backend).get("country") is None


@pytest.mark.parametrize("tz", [
    pytest.param("", id="empty"),
    pytest.param("Europe/Berlin\n", id="trailing-newline"),
    pytest.param("Europe/" + "x" * 60, id="too-long"),
    pytest.param("../../etc/passwd", id="path"),
    pytest.param("Europe/Ber lin", id="space"),
    pytest.param("<script>", id="markup"),
    pytest.param(5, id="number"),
])
def test_a_malformed_time_zone_is_a_400_naming_tz_and_what_is_accepted(backend, tz):
    code, payload = post_tz(backend, tz)
    assert code == 400
    assert "`tz`" in payload["message"] and "IANA time zone" in payload["message"]
    assert backend.raw_events() == []


def readable(value) -> str:
    """A binary attribute as text: the rollup and session blobs are zlib-compressed JSON."""
    try:
        return zlib.decompress(value).decode("utf-8", "replace")
    except zlib.error:
        return value.decode("utf-8", "replace")


def test_the_time_zone_itself_is_never_stored(backend):
    # GIVEN events carrying a time zone, aggregated into every table
    post_tz(backend, "America/Argentina/Buenos_Aires", session="s-1")
    post_tz(backend, "America/Argentina/Buenos_Aires", session="s-2")
    backend.stats()
    backend.realtime()
    # THEN no item of any table holds it, only the country it gave
    settings = backend.store.settings
    dumped = ""
    for table in (settings.events_table, settings.sessions_table, settings.stats_table):
        dumped += json.dumps(backend.store.client.scan(TableName=table)["Items"], default=readable)
    assert "Buenos_Aires" not in dumped and "America/Argentina" not in dumped
    assert '\\"country\\":\\"AR\\"' in dumped


def test_the_documented_tz_field_is_what_the_model_accepts():
    import re
    from pathlib import Path

    import yaml

    from liveinsight import config
    from liveinsight.ingest.geo import TZ_NAME

    spec = yaml.safe_load((Path(__file__).parent.parent / "openapi.yaml").read_text())
    tz = spec["components"]["schemas"]["Event"]["properties"]["tz"]
    assert tz["maxLength"] == config.MAX_TZ_CHARS
    for value in ("Europe/Berlin", "Etc/GMT+5", "America/Port-au-Prince", "a/../b", "Europe/Ber lin", "1Zone"):
        assert bool(re.fullmatch(tz["pattern"].strip("^$"), value)) == bool(TZ_NAME.fullmatch(value)), value


def test_the_lambda_zip_ships_the_zone_table():
    from liveinsight import package
    from liveinsight.ingest import geo

    assert geo.TABLE in package.library_files()
