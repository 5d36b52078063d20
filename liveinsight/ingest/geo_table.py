"""Regenerate liveinsight/ingest/tz_countries.tsv from tzdata's zone tables.

    python -m liveinsight.ingest.geo_table            # rewrite the shipped table
    python -m liveinsight.ingest.geo_table --check    # exit 1 if it differs from a fresh generation

Reads the pinned `tzdata` PyPI package (requirements-dev.txt), never the network:

- `zone.tab`: one country per zone ("NL  Europe/Amsterdam"); it names a zone's country even
  where tzdata has since merged the zone into another country's ("Europe/Amsterdam" is now a
  link to "Europe/Brussels").
- the links of `tzdata.zi` ("L Asia/Kolkata Asia/Calcutta"): the old and backward names
  browsers still report (Chrome's ICU answers "Asia/Calcutta", "America/Buenos_Aires",
  "Europe/Kiev"), each with the country of the zone it links to. A few links cross a border
  because tzdata merged zones that agree since 1970 ("America/Coral_Harbour", Atikokan in
  Canada, links to "America/Panama"): those take the target's country.

Names without a country (UTC, Etc/GMT+5, EST5EDT) are left out.
"""
from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

TABLE = Path(__file__).with_name("tz_countries.tsv")


def _read(name: str) -> str:
    return resources.files("tzdata.zoneinfo").joinpath(name).read_text(encoding="utf-8")


def tzdata_version() -> str:
    import tzdata

    return tzdata.IANA_VERSION


def generate(zone_tab: str | None = None, tzdata_zi: str | None = None) -> dict[str, str]:
    """Zone name -> ISO 3166-1 alpha-2 country, from zone.tab and tzdata.zi's links (the package's by default)."""
    zone_tab = _read("zone.tab") if zone_tab is None else zone_tab
    tzdata_zi = _read("tzdata.zi") if tzdata_zi is None else tzdata_zi
    countries: dict[str, str] = {}
    for line in zone_tab.splitlines():
        if line and not line.startswith("#"):
            code, _, zone = line.split("\t")[:3]
            countries[zone] = code
    links = {}
    for line in tzdata_zi.splitlines():
        if line.startswith("L "):
            _, target, name = line.split()
            links[name] = target
    for name, target in links.items():
        seen = {name}
        while target in links and target not in countries and target not in seen:  # a link to a link
            seen.add(target)
            target = links[target]
        if name not in countries and target in countries:
            countries[name] = countries[target]
    return dict(sorted(countries.items()))


def render(countries: dict[str, str], version: str) -> str:
    header = (f"# IANA time zone -> ISO 3166-1 country, generated from tzdata {version} (zone.tab and the links\n"
              "# of tzdata.zi) by `python -m liveinsight.ingest.geo_table`; do not edit by hand.\n")
    return header + "".join(f"{zone}\t{code}\n" for zone, code in countries.items())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    fresh = render(generate(), tzdata_version())
    if "--check" in argv:
        same = TABLE.exists() and TABLE.read_text(encoding="utf-8") == fresh
        print(f"{TABLE.name} is {'current' if same else 'OUT OF DATE: regenerate it'} (tzdata {tzdata_version()})")
        return 0 if same else 1
    TABLE.write_text(fresh, encoding="utf-8")
    print(f"wrote {TABLE} ({fresh.count(chr(10)) - 2} zones, tzdata {tzdata_version()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
