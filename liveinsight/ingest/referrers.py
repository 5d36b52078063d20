"""Referrer classification: a referrer host (or utm_source) becomes a named source."""
from __future__ import annotations

DIRECT = "Direct"

# Host suffix → source name. The first matching suffix wins (longest listed first where
# they overlap).
KNOWN_SOURCES: tuple[tuple[str, str], ...] = (
    ("news.ycombinator.com", "Hacker News"),
    ("mail.google.com", "Gmail"),
    ("google.com", "Google"),
    ("google.co.uk", "Google"),
    ("google.de", "Google"),
    ("google.fr", "Google"),
    ("google.co.in", "Google"),
    ("google.co.jp", "Google"),
    ("google.com.br", "Google"),
    ("google.ca", "Google"),
    ("google.es", "Google"),
    ("google.it", "Google"),
    ("google.nl", "Google"),
    ("google.com.au", "Google"),
    ("bing.com", "Bing"),
    ("duckduckgo.com", "DuckDuckGo"),
    ("search.yahoo.com", "Yahoo"),
    ("yahoo.com", "Yahoo"),
    ("yandex.ru", "Yandex"),
    ("yandex.com", "Yandex"),
    ("baidu.com", "Baidu"),
    ("ecosia.org", "Ecosia"),
    ("search.brave.com", "Brave Search"),
    ("kagi.com", "Kagi"),
    ("facebook.com", "Facebook"),
    ("fb.com", "Facebook"),
    ("l.facebook.com", "Facebook"),
    ("instagram.com", "Instagram"),
    ("twitter.com", "Twitter"),
    ("t.co", "Twitter"),
    ("x.com", "Twitter"),
    ("linkedin.com", "LinkedIn"),
    ("lnkd.in", "LinkedIn"),
    ("reddit.com", "Reddit"),
    ("youtube.com", "YouTube"),
    ("youtu.be", "YouTube"),
    ("github.com", "GitHub"),
    ("stackoverflow.com", "Stack Overflow"),
    ("medium.com", "Medium"),
    ("producthunt.com", "Product Hunt"),
    ("pinterest.com", "Pinterest"),
    ("tiktok.com", "TikTok"),
    ("mastodon.social", "Mastodon"),
    ("bsky.app", "Bluesky"),
    ("chatgpt.com", "ChatGPT"),
    ("perplexity.ai", "Perplexity"),
    ("wikipedia.org", "Wikipedia"),
)

# utm_source values people type, mapped onto the same names.
UTM_ALIASES = {
    "google": "Google", "bing": "Bing", "duckduckgo": "DuckDuckGo", "yahoo": "Yahoo",
    "facebook": "Facebook", "fb": "Facebook", "instagram": "Instagram", "twitter": "Twitter",
    "x": "Twitter", "linkedin": "LinkedIn", "reddit": "Reddit", "hn": "Hacker News",
    "hackernews": "Hacker News", "hacker news": "Hacker News", "youtube": "YouTube",
    "github": "GitHub", "newsletter": "Newsletter", "email": "Email",
}


def source_for_host(host: str) -> str:
    """The source name of a referrer host: a known name, else the host without `www.`."""
    host = host.lower().rstrip(".")
    for suffix, name in KNOWN_SOURCES:
        if host == suffix or host.endswith("." + suffix):
            return name
    return host[4:] if host.startswith("www.") else host


def source_for_utm(utm_source: str) -> str:
    """The source name for a `utm_source` value (known aliases normalised, else as given)."""
    value = utm_source.strip()
    return UTM_ALIASES.get(value.lower(), value)


def same_site(host_a: str, host_b: str) -> bool:
    """True when two hosts are the same site (ignoring `www.`), i.e. a self-referral."""
    def strip(h: str) -> str:
        h = h.lower().rstrip(".")
        return h[4:] if h.startswith("www.") else h
    return bool(host_a) and strip(host_a) == strip(host_b)
