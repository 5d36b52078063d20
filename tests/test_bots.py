"""Bot filtering measured on public labelled corpora (tests/data/useragents/README.md).

Targets: at least 95 % of each crawler corpus filtered, at most 0.5 % of each set of real
browsers filtered. crawlerdetect alone filtered 86 % and 79 % of the two crawler corpora.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CHROME, GOOGLEBOT, IPHONE, page_view
from liveinsight.ingest.enrich import client_info

CORPORA = Path(__file__).resolve().parent / "data" / "useragents"
MIN_CRAWLERS_FILTERED = 0.95
MAX_BROWSERS_FILTERED = 0.005


def user_agents(name: str) -> list[str]:
    return (CORPORA / name).read_text(encoding="utf-8").split("\n")[:-1]


def filtered_share(agents: list[str]) -> float:
    return sum(client_info(agent).is_bot for agent in agents) / len(agents)


@pytest.mark.parametrize("corpus", ["crawlers-monperrus.txt", "crawlers-matomo.txt"])
def test_crawler_corpora_are_filtered(corpus):
    agents = user_agents(corpus)
    share = filtered_share(agents)
    print(f"{corpus}: {share:.2%} of {len(agents)} filtered")
    assert len(agents) > 1000
    assert share >= MIN_CRAWLERS_FILTERED, [a for a in agents if not client_info(a).is_bot][:30]


@pytest.mark.parametrize("corpus", ["browsers-intoli.txt", "browsers-matomo-sample.txt"])
def test_real_browsers_are_not_filtered(corpus):
    agents = user_agents(corpus)
    share = filtered_share(agents)
    print(f"{corpus}: {share:.2%} of {len(agents)} filtered")
    assert len(agents) > 900
    assert share <= MAX_BROWSERS_FILTERED, [a for a in agents if client_info(a).is_bot]


@pytest.mark.parametrize("agent", [
    pytest.param("curl/8.4.0", id="curl"),
    pytest.param("python-requests/2.31.0", id="python-requests"),
    pytest.param("Go-http-client/2.0", id="go"),
    pytest.param("node", id="node"),
    pytest.param("Deno/1.38.0", id="deno"),
    pytest.param("Mozilla/5.0", id="bare-mozilla"),
    pytest.param("-", id="dash"),
    pytest.param(GOOGLEBOT, id="googlebot"),
    pytest.param("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 "
                 "Safari/537.36", id="headless-chrome"),
    pytest.param("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
                 "Safari/537.36 Playwright/1.40.0", id="playwright"),
    pytest.param("Mozilla/5.0 (compatible; ExampleBot/1.0; +https://example.com/bot)", id="url-in-agent"),
])
def test_what_is_not_a_browser_is_a_bot(agent):
    assert client_info(agent).is_bot


@pytest.mark.parametrize("agent, browser, device", [
    pytest.param(CHROME, "Chrome", "Desktop", id="chrome"),
    pytest.param(IPHONE, "Mobile Safari", "Mobile", id="iphone"),
    pytest.param("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox", "Desktop",
                 id="firefox"),
])
def test_browsers_are_described_not_filtered(agent, browser, device):
    info = client_info(agent)
    assert (info.is_bot, info.browser, info.device) == (False, browser, device)


@pytest.mark.parametrize("agent", [None, "", "   "])
def test_no_user_agent_is_unknown_not_a_bot(agent):
    # Imported history often has no user agent; that alone says nothing about the visitor.
    assert client_info(agent).is_bot is False


def test_a_bot_event_is_acknowledged_as_filtered(backend):
    code, payload = backend.post(page_view("s", "/", None), headers={"User-Agent": "Go-http-client/2.0"})
    assert code == 200 and (payload["data"]["accepted"], payload["data"]["filtered"]) == (0, 1)
