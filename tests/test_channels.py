"""GA4's default channel rules (liveinsight/ingest/channels.py), one case per rule, in their order."""
from __future__ import annotations

import pytest

from liveinsight.ingest import channels as c


@pytest.mark.parametrize(("source", "medium", "campaign", "expected"), [
    pytest.param(None, None, None, c.DIRECT, id="direct"),
    pytest.param("(direct)", "(none)", None, c.DIRECT, id="direct-ga-spelling"),
    pytest.param("google", "cpc", "spring cross-network push", c.CROSS_NETWORK, id="cross-network"),
    pytest.param("amazon", "cpc", None, c.PAID_SHOPPING, id="paid-shopping-site"),
    pytest.param("google", "cpc", "summer shopping", c.PAID_SHOPPING, id="paid-shopping-campaign"),
    pytest.param("google", "cpc", None, c.PAID_SEARCH, id="paid-search"),
    pytest.param("bing", "ppc", None, c.PAID_SEARCH, id="paid-search-ppc"),
    pytest.param("facebook", "paid-social", None, c.PAID_SOCIAL, id="paid-social"),
    pytest.param("youtube", "cpv", None, c.PAID_VIDEO, id="paid-video"),
    pytest.param("adnetwork", "banner", None, c.DISPLAY, id="display"),
    pytest.param("partner", "retargeting", None, c.PAID_OTHER, id="paid-other"),
    pytest.param("etsy.com", "referral", None, c.ORGANIC_SHOPPING, id="organic-shopping"),
    pytest.param("Facebook", "referral", None, c.ORGANIC_SOCIAL, id="organic-social-site"),
    pytest.param("forum", "social", None, c.ORGANIC_SOCIAL, id="organic-social-medium"),
    pytest.param("m.youtube.com", "referral", None, c.ORGANIC_VIDEO, id="organic-video-subdomain"),
    pytest.param("Google", "organic", None, c.ORGANIC_SEARCH, id="organic-search"),
    pytest.param("blog.example.org", "referral", None, c.REFERRAL, id="referral"),
    pytest.param("newsletter", "email", None, c.EMAIL, id="email-medium"),
    pytest.param("e-mail", None, None, c.EMAIL, id="email-source"),
    pytest.param("partner", "affiliate", None, c.AFFILIATES, id="affiliates"),
    pytest.param("podcast", "audio", None, c.AUDIO, id="audio"),
    pytest.param("sms", None, None, c.SMS, id="sms"),
    pytest.param("app", "web-push", None, c.MOBILE_PUSH, id="mobile-push"),
    pytest.param("something", "unknown-medium", None, c.UNASSIGNED, id="unassigned"),
])
def test_each_rule(source, medium, campaign, expected):
    assert c.channel(source, medium, campaign) == expected


@pytest.mark.parametrize(("utm_source", "utm_medium", "referrer", "name", "expected"), [
    pytest.param(None, None, "www.google.com", "Google", ("Google", "organic"), id="search-engine-referrer"),
    pytest.param(None, None, "l.facebook.com", "Facebook", ("Facebook", "referral"), id="named-site"),
    pytest.param(None, None, "blog.example.org", "blog.example.org", ("blog.example.org", "referral"), id="other-site"),
    pytest.param("newsletter", "email", "mail.example.com", "Newsletter", ("newsletter", "email"), id="utm-wins"),
    pytest.param(None, None, None, "Direct", (None, None), id="direct"),
])
def test_a_landing_gets_the_source_and_medium_ga4_would_give_it(utm_source, utm_medium, referrer, name, expected):
    assert c.source_and_medium(utm_source, utm_medium, referrer, name) == expected
