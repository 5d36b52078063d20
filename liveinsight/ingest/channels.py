"""Channels: where a visit came from, grouped by GA4's default channel rules.

Source of the rules: Google Analytics Help, "[GA4] Default channel group"
(https://support.google.com/analytics/answer/9756891), the rules in their order, first match
wins. GA4 reads a session's source and medium; here they are `utm_source` / `utm_medium` when
the landing page has them, else the referrer's host with the medium GA4 would give it
(`organic` from a search engine, `referral` from any other site), else direct. GA4's source
categories are long lists of sites; the ones below are the sites LiveInsight names
(`referrers.py`) plus the most common others of each category.
"""
from __future__ import annotations

import re

DIRECT, CROSS_NETWORK, UNASSIGNED = "Direct", "Cross-network", "Unassigned"
PAID_SHOPPING, PAID_SEARCH, PAID_SOCIAL, PAID_VIDEO = "Paid Shopping", "Paid Search", "Paid Social", "Paid Video"
DISPLAY, PAID_OTHER = "Display", "Paid Other"
ORGANIC_SHOPPING, ORGANIC_SOCIAL, ORGANIC_VIDEO = "Organic Shopping", "Organic Social", "Organic Video"
ORGANIC_SEARCH, REFERRAL, EMAIL, AFFILIATES = "Organic Search", "Referral", "Email", "Affiliates"
AUDIO, SMS, MOBILE_PUSH = "Audio", "SMS", "Mobile Push Notifications"

# GA4's source categories, as source names or hosts (a host matches itself and its subdomains).
SEARCH_SITES = {"google", "bing", "duckduckgo", "yahoo", "yandex", "baidu", "ecosia", "brave search", "kagi",
                "naver", "seznam", "qwant", "startpage", "search.brave.com", "ecosia.org", "naver.com", "google.com",
                "bing.com", "duckduckgo.com", "search.yahoo.com", "yandex.ru", "yandex.com", "baidu.com"}
SOCIAL_SITES = {"facebook", "instagram", "twitter", "linkedin", "reddit", "pinterest", "tiktok", "mastodon",
                "bluesky", "hacker news", "news.ycombinator.com", "threads.net", "quora", "tumblr", "vk", "weibo",
                "snapchat", "discord", "whatsapp", "telegram", "x", "t.co", "lnkd.in", "fb", "ig",
                "mastodon.social", "bsky.app", "quora.com", "tumblr.com", "vk.com", "weibo.com", "discord.com",
                "facebook.com", "instagram.com", "twitter.com", "x.com", "linkedin.com", "reddit.com", "pinterest.com",
                "tiktok.com"}
VIDEO_SITES = {"youtube", "vimeo", "twitch", "dailymotion", "youtube.com", "youtu.be", "vimeo.com", "twitch.tv",
               "dailymotion.com"}
SHOPPING_SITES = {"amazon", "ebay", "etsy", "shopify", "walmart", "aliexpress", "shopping.google.com",
                  "amazon.com", "ebay.com", "etsy.com", "walmart.com", "aliexpress.com", "shop.app"}

PAID_MEDIUM = re.compile(r"^(.*cp.*|ppc|retargeting|paid.*)$")
SHOPPING_CAMPAIGN = re.compile(r"^(.*(([^a-df-z]|^)shop|shopping).*)$")
DISPLAY_MEDIA = {"display", "banner", "expandable", "interstitial", "cpm"}
SOCIAL_MEDIA = {"social", "social-network", "social-media", "sm", "social network", "social media"}
EMAIL_NAMES = {"email", "e-mail", "e_mail", "e mail"}
REFERRAL_MEDIA = {"referral", "app", "link"}


def _in(source: str, sites: set[str]) -> bool:
    """Whether a source name or host is one of `sites` (a host also through its parent domains)."""
    if source in sites:
        return True
    host = source[4:] if source.startswith("www.") else source
    parts = host.split(".")
    return any(".".join(parts[i:]) in sites for i in range(len(parts) - 1))


def channel(source: str | None, medium: str | None, campaign: str | None = None) -> str:
    """GA4's default channel of a visit's source, medium and campaign (None: not set)."""
    source = (source or "").strip().lower()
    medium = (medium or "").strip().lower()
    campaign = (campaign or "").strip().lower()
    if source in ("", "(direct)", "direct") and medium in ("", "(not set)", "(none)"):
        return DIRECT
    if "cross-network" in campaign:
        return CROSS_NETWORK
    paid = bool(PAID_MEDIUM.match(medium))
    shopping = _in(source, SHOPPING_SITES) or bool(SHOPPING_CAMPAIGN.match(campaign))
    if paid and shopping:
        return PAID_SHOPPING
    if paid and _in(source, SEARCH_SITES):
        return PAID_SEARCH
    if paid and _in(source, SOCIAL_SITES):
        return PAID_SOCIAL
    if paid and _in(source, VIDEO_SITES):
        return PAID_VIDEO
    if medium in DISPLAY_MEDIA:
        return DISPLAY
    if paid:
        return PAID_OTHER
    if shopping:
        return ORGANIC_SHOPPING
    if _in(source, SOCIAL_SITES) or medium in SOCIAL_MEDIA:
        return ORGANIC_SOCIAL
    if _in(source, VIDEO_SITES) or "video" in medium:
        return ORGANIC_VIDEO
    if _in(source, SEARCH_SITES) or medium == "organic":
        return ORGANIC_SEARCH
    if medium in REFERRAL_MEDIA:
        return REFERRAL
    if source in EMAIL_NAMES or medium in EMAIL_NAMES:
        return EMAIL
    if medium == "affiliate":
        return AFFILIATES
    if medium == "audio":
        return AUDIO
    if source == "sms" or medium == "sms":
        return SMS
    if medium.endswith("push") or "mobile" in medium or "notification" in medium or source == "firebase":
        return MOBILE_PUSH
    return UNASSIGNED


def source_and_medium(utm_source: str | None, utm_medium: str | None, referrer_host: str | None,
                      source_name: str) -> tuple[str | None, str | None]:
    """GA4's (source, medium) of a landing: its UTM tags, else the referrer's host with the medium
    GA4 gives it (`organic` from a search engine, `referral` from another site), else direct."""
    if utm_source or utm_medium:
        return utm_source or source_name, utm_medium
    if referrer_host:  # a site LiveInsight names goes by its name (every Google domain is "Google")
        return source_name, "organic" if _in(source_name.lower(), SEARCH_SITES) else "referral"
    return None, None
