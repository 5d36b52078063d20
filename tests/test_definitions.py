"""Page groups, goals and funnels: the pattern rule, what a definition converts, and the definitions API
(GET /api/definitions, PUT and DELETE /api/definitions/{kind}/{name}) through the Lambda handler against moto.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from decimal import Decimal
from urllib.parse import quote

import pytest

from liveinsight import config, definitions as defs, share
from liveinsight.items import definitions as d
from liveinsight.items.definitions import Definitions, Goal, PageGroup, Revenue

KEY = "s3cret-key-for-definitions"
SHARE_SECRET = "a-share-secret-for-definitions"
SITE = "shop.example.com"


# --- the pattern rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "path", "expected"), [
    pytest.param("/products/*", "/products/red-shoe", True, id="star-one-segment"),
    pytest.param("/products/*", "/products", False, id="star-needs-a-segment"),
    pytest.param("/products/*", "/products/red-shoe/reviews", False, id="star-only-one-segment"),
    pytest.param("/products/*", "/productsx/a", False, id="literal-prefix-is-a-whole-segment"),
    pytest.param("/blog/**", "/blog", True, id="double-star-none"),
    pytest.param("/blog/**", "/blog/2026/11/hello", True, id="double-star-many"),
    pytest.param("/blog/**", "/blogroll", False, id="double-star-not-a-prefix"),
    pytest.param("/**", "/", True, id="everything-matches-root"),
    pytest.param("/*", "/", False, id="root-has-no-segment"),
    pytest.param("/", "/", True, id="root-matches-root"),
    pytest.param("/", "/pricing", False, id="root-only-root"),
    pytest.param("/checkout/*/done", "/checkout/42/done", True, id="star-in-the-middle"),
    pytest.param("/checkout/*/done", "/checkout/42/7/done", False, id="star-in-the-middle-one-only"),
    pytest.param("/docs/**/install", "/docs/install", True, id="double-star-in-the-middle-none"),
    pytest.param("/docs/**/install", "/docs/v2/linux/install", True, id="double-star-in-the-middle-many"),
    pytest.param("/products/shoe-*", "/products/shoe-red", True, id="star-in-part-of-a-segment"),
    pytest.param("/products/shoe-*", "/products/shoe-red/x", False, id="star-in-part-stays-in-its-segment"),
    pytest.param("/pricing", "/pricing", True, id="plain-path-matches-itself"),
    pytest.param("/pricing", "/Pricing", False, id="paths-are-case-sensitive"),
    pytest.param("/a.b", "/axb", False, id="dot-is-literal"),
    pytest.param("/a+(b)", "/a+(b)", True, id="regex-characters-are-literal"),
    pytest.param("/café/*", "/caf%C3%A9/menu", True, id="non-ascii-as-the-browser-encodes-it"),
])
def test_patterns_match_cleaned_page_paths(pattern, path, expected):
    # GIVEN a pattern WHEN a cleaned page path is asked THEN it matches as the rule says
    assert d.matches(pattern, path) is expected
    assert d.compile_pattern(pattern)(path) is expected


@pytest.mark.parametrize(("pattern", "reason"), [
    pytest.param("products/*", "must start with /", id="no-leading-slash"),
    pytest.param("/search?q=*", "stored without a query", id="query"),
    pytest.param("/docs#install", "stored without a fragment", id="fragment"),
    pytest.param("/my page", "whitespace", id="space"),
    pytest.param("/a\tb", "whitespace", id="tab"),
    pytest.param("/blog/", "without a trailing slash", id="trailing-slash"),
    pytest.param("/a//b", "empty segment", id="empty-segment"),
    pytest.param("/a/***", "***", id="triple-star"),
    pytest.param("/a/b**", "inside the segment", id="double-star-in-part"),
    pytest.param("/" + "a" * 200, "at most 200", id="too-long"),
    pytest.param("", "starting with /", id="empty"),
    pytest.param(7, "starting with /", id="not-a-string"),
])
def test_patterns_that_could_never_match_are_refused_with_the_reason(pattern, reason):
    assert reason in d.pattern_problem(pattern)
    if isinstance(pattern, str):
        with pytest.raises(ValueError, match="the pattern"):
            d.compile_pattern(pattern)


def test_a_trailing_slash_refusal_says_what_to_write_instead():
    assert "use /blog or /blog/**" in d.pattern_problem("/blog/")


# --- what a definition converts -----------------------------------------------------------------

SHOP = Definitions(
    SITE,
    page_groups=(PageGroup("products", "/products/*"), PageGroup("blog", "/blog/**"), PageGroup("all", "/**")),
    goals=(Goal("pricing", page="/pricing"),
           Goal("read blog", page_group="blog"),
           Goal("signup", event_type="signup"),
           Goal("pro signup", event_type="signup", props={"plan": "pro", "seats": 3, "trial": False}),
           Goal("purchase", event_type="purchase", revenue=Revenue("amount", "EUR"))),
)


def view(page: str) -> dict:
    return {"event_type": "page_view", "page": page, "props": {}}


def test_a_path_is_in_every_group_whose_pattern_matches_it():
    assert SHOP.groups_of("/products/red-shoe") == ["products", "all"]
    assert SHOP.groups_of("/blog") == ["blog", "all"]
    assert SHOP.groups_of("/") == ["all"]
    assert SHOP.groups_of(None) == []


def test_page_and_page_group_goals_are_converted_by_page_views_only():
    assert SHOP.goals_hit(view("/pricing")) == ["pricing"]
    assert SHOP.goals_hit(view("/blog/hello")) == ["read blog"]
    assert SHOP.goals_hit(view("/pricing/enterprise")) == []
    # The tracker's engagement report names the page too, but is no visit of it.
    assert SHOP.goals_hit({"event_type": "engagement", "page": "/pricing", "props": {"engaged_seconds": 9}}) == []
    assert SHOP.goals_hit({"event_type": "page_view", "page": None}) == []


def test_event_goals_need_the_type_and_every_named_property_value():
    assert SHOP.goals_hit({"event_type": "signup", "page": "/pricing", "props": {}}) == ["signup"]
    pro = {"plan": "pro", "seats": 3, "trial": False, "coupon": "x"}
    assert SHOP.goals_hit({"event_type": "signup", "props": pro}) == ["signup", "pro signup"]
    # A value is compared as the events page shows it: "3" is 3, "false" is false.
    assert SHOP.goals_hit({"event_type": "signup", "props": {"plan": "pro", "seats": "3", "trial": "false"}}) == [
        "signup", "pro signup"]
    assert SHOP.goals_hit({"event_type": "signup", "props": {**pro, "plan": "free"}}) == ["signup"]
    assert SHOP.goals_hit({"event_type": "signup", "props": {"plan": "pro", "seats": 3}}) == ["signup"]
    assert SHOP.goals_hit({"event_type": "Signup", "props": pro}) == []


@pytest.mark.parametrize(("hits", "reached"), [
    pytest.param([["landing"], ["pricing"], ["signup"], ["purchase"]], 4, id="every-step-in-order"),
    pytest.param([["landing"], ["signup"], ["pricing"]], 2, id="a-step-out-of-order-waits-for-its-turn"),
    pytest.param([["pricing"], ["landing"], ["pricing"]], 2, id="a-step-before-the-start-does-not-count"),
    pytest.param([["landing", "pricing"]], 1, id="one-event-is-one-step"),
    pytest.param([["landing"], [], ["other"], ["pricing"]], 2, id="other-events-between-steps"),
    pytest.param([], 0, id="no-events"),
])
def test_a_funnel_counts_the_steps_reached_in_order(hits, reached):
    funnel = d.Funnel("checkout", ("landing", "pricing", "signup", "purchase"))
    assert funnel.progress(hits) == reached
    assert funnel.progress(hits[1:], reached=1 if hits and "landing" in hits[0] else 0) == reached


@pytest.mark.parametrize(("amount", "expected"), [
    pytest.param(19.99, (Decimal("19.99"), "EUR"), id="float"),
    pytest.param(20, (Decimal("20"), "EUR"), id="integer"),
    pytest.param("7.50", (Decimal("7.50"), "EUR"), id="numeric-string"),
    pytest.param(0, (Decimal("0"), "EUR"), id="zero"),
])
def test_a_purchase_carries_its_amount_and_currency(amount, expected):
    event = {"event_type": "purchase", "props": {"amount": amount}}
    assert d.revenue_of(SHOP.goal("purchase"), event) == expected
    assert d.revenue_problem(SHOP.goal("purchase"), event) is None


@pytest.mark.parametrize("amount", [
    pytest.param(-5, id="negative"), pytest.param(10**13, id="beyond-the-range"),
    pytest.param(True, id="boolean"), pytest.param("ten", id="text"), pytest.param(float("nan"), id="nan"),
    pytest.param("Infinity", id="infinity-text"),
])
def test_an_amount_that_is_not_one_is_no_revenue_and_named_as_a_problem(amount):
    event = {"event_type": "purchase", "props": {"amount": amount}}
    assert d.revenue_of(SHOP.goal("purchase"), event) is None
    assert "`props.amount` is the revenue of goal 'purchase'" in d.revenue_problem(SHOP.goal("purchase"), event)


def test_a_purchase_without_the_amount_still_converts_without_revenue():
    event = {"event_type": "purchase", "props": {"sku": "A1"}}
    assert SHOP.goals_hit(event) == ["purchase"]
    assert d.revenue_of(SHOP.goal("purchase"), event) is None
    assert d.revenue_problem(SHOP.goal("purchase"), event) is None
    assert d.revenue_of(SHOP.goal("signup"), {"event_type": "signup", "props": {"amount": 5}}) is None


def test_the_stored_item_round_trips_and_holds_no_seeds():
    seeded = Definitions(SITE, page_groups=(PageGroup("docs", "/docs/**", seeded=True),))
    mine = Definitions(SITE, goals=(SHOP.goal("pro signup"), replace(SHOP.goal("purchase"), since=1_700_000_000)),
                       page_groups=(PageGroup("products", "/products/*", since=5),), version=3)
    item = mine.merged_over(seeded).to_item()
    assert item["pk"] == f"{SITE}#def" and item["sk"] == "def" and item["v"] == 3
    assert "docs" not in item["d"]
    back = Definitions.from_item(SITE, item)
    assert back == mine
    assert Definitions.from_item(SITE, None) == Definitions(SITE)


# --- the API ------------------------------------------------------------------------------------


@pytest.fixture
def api(backend):
    """GIVEN the API with a key and a share secret."""
    from liveinsight import handler

    handler.configure(replace(backend.store.settings, api_key=KEY, share_secret=SHARE_SECRET), backend.store)
    return backend


def call(api, method: str, kind: str | None = None, name: str | None = None, body=None, key: str | None = KEY,
         query: str | None = None):
    path = "/api/definitions" + (f"/{kind}/{quote(name, safe='')}" if kind is not None else "")
    path += "?" + (query if query is not None else f"site={SITE}")
    if body is not None and not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    status, payload, _ = api.request(method, path, body=body, headers={"X-API-Key": key} if key else {})
    return status, payload


def listed(api, site: str = SITE) -> dict:
    status, payload = call(api, "GET", query=f"site={site}")
    assert status == 200, payload
    return payload["data"]


def define_shop(api) -> None:
    for kind, name, body in (("page_groups", "products", {"pattern": "/products/*"}),
                             ("goals", "pricing", {"page": "/pricing"}),
                             ("goals", "signup", {"event_type": "signup"}),
                             ("goals", "purchase", {"event_type": "purchase",
                                                    "revenue": {"property": "amount", "currency": "EUR"}}),
                             ("goals", "product viewed", {"page_group": "products"}),
                             ("funnels", "checkout", {"steps": ["pricing", "signup", "purchase"]})):
        status, payload = call(api, "PUT", kind, name, body)
        assert status == 200, payload


def test_a_site_without_definitions_lists_none(api):
    assert listed(api) == {"site": SITE, "version": 0, "page_groups": [], "goals": [], "funnels": []}


def test_definitions_are_listed_with_since_and_a_version_bumped_on_every_change(api):
    before = time.time()
    define_shop(api)
    data = listed(api)
    assert data["version"] == 6
    assert [g["name"] for g in data["page_groups"]] == ["products"]
    assert [g["name"] for g in data["goals"]] == ["pricing", "signup", "purchase", "product viewed"]
    assert data["funnels"] == [{"name": "checkout", "steps": ["pricing", "signup", "purchase"],
                                "since": data["funnels"][0]["since"], "seeded": False, "counted_from": None}]
    purchase = data["goals"][2]
    assert purchase == {"name": "purchase", "event_type": "purchase", "page": None, "page_group": None, "props": {},
                        "revenue": {"property": "amount", "currency": "EUR"}, "since": purchase["since"],
                        "seeded": False, "counted_from": None}  # the recount job's to come
    assert all(before + 59 <= x["since"] <= time.time() + 61 for kind in d.KINDS for x in data[kind])
    # Another site has its own.
    assert listed(api, "blog.example.com")["goals"] == []


def test_put_and_delete_answer_the_sites_definitions_after_the_change(api):
    status, payload = call(api, "PUT", "goals", "signup", {"event_type": "signup"})
    assert status == 200 and payload["data"]["version"] == 1 and payload["data"]["goals"][0]["name"] == "signup"
    status, payload = call(api, "DELETE", "goals", "signup")
    assert status == 200 and payload["data"]["goals"] == [] and payload["data"]["version"] == 2


def test_a_changed_definition_counts_from_its_change_and_the_same_one_saved_again_keeps_its_since(api, monkeypatch):
    clock = [1_800_000_000.0]
    from liveinsight import handler

    monkeypatch.setattr(handler.services().definitions, "clock", lambda: clock[0])
    call(api, "PUT", "page_groups", "blog", {"pattern": "/blog/*"})
    clock[0] += 3600
    call(api, "PUT", "page_groups", "blog", {"pattern": "/blog/*"})
    assert listed(api)["page_groups"][0]["since"] == 1_800_000_060  # it counts a minute after it is saved
    assert listed(api)["version"] == 1  # saved as it was: no change
    clock[0] += 3600
    call(api, "PUT", "page_groups", "blog", {"pattern": "/blog/**"})
    assert listed(api)["page_groups"][0] == {"name": "blog", "pattern": "/blog/**", "since": 1_800_007_260,
                                             "seeded": False, "counted_from": None}


def test_names_travel_percent_encoded_and_are_kept_as_typed(api):
    name = "Ünïcode & spaces: 100% #1?"
    assert call(api, "PUT", "goals", name, {"event_type": "signup"})[0] == 200
    assert [g["name"] for g in listed(api)["goals"]] == [name]
    assert call(api, "DELETE", "goals", name)[0] == 200


def test_another_spelling_of_an_existing_name_is_refused(api):
    call(api, "PUT", "goals", "Signup", {"event_type": "signup"})
    status, payload = call(api, "PUT", "goals", "signup", {"event_type": "signup"})
    assert status == 409 and "has a goal named 'Signup'; use that exact name" in payload["message"]


@pytest.mark.parametrize(("kind", "name", "body", "named"), [
    pytest.param("targets", "x", {}, "must be one of page_groups, goals, funnels", id="unknown-kind"),
    pytest.param("goals", "x" * 61, {"event_type": "a"}, "`name` must be 1-60 printable", id="name-too-long"),
    pytest.param("goals", "bell\a", {"event_type": "a"}, "`name` must be 1-60 printable", id="name-control"),
    pytest.param("goals", " ", {"event_type": "a"}, "`name` must be", id="blank-name"),
    pytest.param("goals", "x", "not json", "must be a JSON object such as", id="not-json"),
    pytest.param("goals", "x", [1], "must be a JSON object", id="not-an-object"),
    pytest.param("goals", "x", {"event_type": "a", "owner": "me"},
                 "unknown fields 'owner' for a goal; accepted: event_type, page, page_group, props, revenue",
                 id="unknown-field"),
    pytest.param("page_groups", "x", {}, "a page group needs `pattern`", id="group-without-pattern"),
    pytest.param("page_groups", "x", {"pattern": "/search?q=shoes"}, "`pattern` contains '?'", id="pattern-query"),
    pytest.param("page_groups", "x", {"pattern": "/a//b"}, "`pattern` has an empty segment", id="pattern-empty"),
    pytest.param("page_groups", "x", {"pattern": "/a/***"}, "`pattern` has ***", id="pattern-triple-star"),
    pytest.param("page_groups", "x", {"pattern": "blog/*"}, "`pattern` must start with /", id="pattern-relative"),
    pytest.param("goals", "x", {}, "exactly one of `event_type`", id="goal-of-nothing"),
    pytest.param("goals", "x", {"event_type": "a", "page": "/b"}, "not `event_type` and `page`", id="goal-of-two"),
    pytest.param("goals", "x", {"event_type": "sign up"}, "`event_type` is 'sign up'; accepted: a string of 1-64",
                 id="event-type-with-space"),
    pytest.param("goals", "x", {"event_type": "a" * 65}, "accepted: a string of 1-64", id="event-type-too-long"),
    pytest.param("goals", "x", {"event_type": 3}, "`event_type` is 3", id="event-type-number"),
    pytest.param("goals", "x", {"page": "/pricing/"}, "`page` ends with /", id="page-trailing-slash"),
    pytest.param("goals", "x", {"page": "/p", "props": {"a": "b"}}, "`props` go with an `event_type` goal only",
                 id="props-with-page"),
    pytest.param("goals", "x", {"page": "/p", "revenue": {"property": "a", "currency": "EUR"}},
                 "`revenue` go with an `event_type` goal only", id="revenue-with-page"),
    pytest.param("goals", "x", {"page_group": "nope"}, "`page_group` 'nope' is not a page group of shop.example.com",
                 id="unknown-page-group"),
    pytest.param("goals", "x", {"event_type": "a", "props": {"k" * 65: "v"}}, "`props` has a key of 65 characters",
                 id="prop-key-too-long"),
    pytest.param("goals", "x", {"event_type": "a", "props": {"k": "v" * 257}}, "has 257 characters",
                 id="prop-value-too-long"),
    pytest.param("goals", "x", {"event_type": "a", "props": {"k": [1]}}, "`props.k` must be a string, number",
                 id="prop-value-list"),
    pytest.param("goals", "x", {"event_type": "a", "props": {}}, "`props` must be an object of property values",
                 id="props-empty"),
    pytest.param("goals", "x", {"event_type": "a", "revenue": {"property": "amount"}}, "`revenue` must be an object",
                 id="revenue-without-currency"),
    pytest.param("goals", "x", {"event_type": "a", "revenue": {"property": "amount", "currency": "eur"}},
                 "`revenue.currency` must be an ISO 4217 code", id="currency-lower-case"),
    pytest.param("goals", "x", {"event_type": "a", "revenue": {"property": "amount", "currency": "EURO"}},
                 "`revenue.currency` must be an ISO 4217 code", id="currency-four-letters"),
    pytest.param("goals", "x", {"event_type": "a", "revenue": {"property": "", "currency": "EUR"}},
                 "`revenue.property` must be a property key", id="revenue-property-empty"),
    pytest.param("funnels", "x", {"steps": ["pricing"]}, "`steps` must be a list of 2-8 goal names in order, not 1",
                 id="one-step"),
    pytest.param("funnels", "x", {"steps": ["pricing"] * 9}, "not 9 steps", id="nine-steps"),
    pytest.param("funnels", "x", {"steps": "pricing,signup"}, "not no list of steps", id="steps-not-a-list"),
    pytest.param("funnels", "x", {"steps": ["pricing", "gone"]}, "step 'gone' of `steps` is not a goal",
                 id="unknown-step"),
    pytest.param("funnels", "x", {"steps": ["pricing", "signup", "pricing"]}, "names the goal 'pricing' twice",
                 id="step-twice"),
])
def test_bad_definitions_are_400_naming_the_field_and_what_is_accepted(api, kind, name, body, named):
    define_shop(api)
    before = listed(api)
    status, payload = call(api, "PUT", kind, name, body)
    assert status == 400 and named in payload["message"], payload
    assert listed(api) == before


def test_deleting_a_goal_a_funnel_uses_is_409_naming_the_funnel(api):
    define_shop(api)
    status, payload = call(api, "DELETE", "goals", "signup")
    assert status == 409 and "the goal 'signup' is used by funnel 'checkout'" in payload["message"]
    status, payload = call(api, "DELETE", "page_groups", "products")
    assert status == 409 and "used by goal 'product viewed'" in payload["message"]
    # Once the funnel is gone, so may the goal be.
    assert call(api, "DELETE", "funnels", "checkout")[0] == 200
    assert call(api, "DELETE", "goals", "signup")[0] == 200


def test_deleting_what_does_not_exist_is_404(api):
    status, payload = call(api, "DELETE", "funnels", "nope")
    assert status == 404 and "shop.example.com has no funnel named 'nope'" in payload["message"]


@pytest.mark.parametrize(("kind", "body"), [("page_groups", {"pattern": "/x/*"}), ("goals", {"event_type": "e"})])
def test_a_site_has_at_most_the_configured_number_of_each_kind(api, monkeypatch, kind, body):
    monkeypatch.setitem(defs.LIMITS, kind, 2)
    for name in ("a", "b"):
        assert call(api, "PUT", kind, name, body)[0] == 200
    status, payload = call(api, "PUT", kind, "c", body)
    assert status == 409 and f"already has 2 {kind.replace('_', ' ')}" in payload["message"]
    assert call(api, "PUT", kind, "b", body)[0] == 200  # replacing one is always allowed


def test_the_bounds_are_the_configured_ones():
    assert defs.LIMITS == {"page_groups": 50, "goals": 30, "funnels": 10}
    assert (config.MAX_PAGE_GROUPS, config.MAX_GOALS, config.MAX_FUNNELS) == (50, 30, 10)


@pytest.mark.parametrize(("key", "status"), [pytest.param(None, 401, id="no-key"),
                                             pytest.param("wrong", 401, id="wrong-key")])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_definitions_need_the_api_key(api, method, key, status):
    kind, name = (None, None) if method == "GET" else ("goals", "signup")
    answer, payload = call(api, method, kind, name, {"event_type": "signup"}, key=key)
    assert answer == status and "API key" in payload["message"]
    assert listed(api)["goals"] == []


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_share_link_is_refused_naming_share(api, method):
    token = share.mint(SHARE_SECRET, SITE, time.time() + 3600)
    kind, name = (None, None) if method == "GET" else ("goals", "signup")
    status, payload = call(api, method, kind, name, {"event_type": "signup"}, key=KEY,
                           query=f"site={SITE}&share={token}")
    assert status == 403 and "share link (`share`) does not open definitions" in payload["message"]


@pytest.mark.parametrize(("query", "named"), [
    pytest.param("", "`site` is required", id="missing"),
    pytest.param("site=", "`site` is empty", id="empty"),
    pytest.param("site=not a host", "`site` must be a host name", id="not-a-host"),
    pytest.param(f"site={SITE}&page=/x", "unknown parameter `page`; accepted parameters: site", id="unknown"),
    pytest.param(f"site={SITE}&site=other.example.com", "`site` is given 2 times", id="twice"),
])
def test_the_site_is_checked_as_the_stats_route_checks_it(api, query, named):
    status, payload = call(api, "GET", query=query)
    assert status == 400 and named in payload["message"], payload


def test_with_an_allow_list_other_sites_are_refused_and_one_site_is_the_default(api):
    from liveinsight import handler

    handler.configure(replace(api.store.settings, api_key=KEY, sites=("blog.example.com", "shop.example.com")),
                      api.store)
    status, payload = call(api, "GET", query="site=evil.example.com")
    assert status == 400 and "`site` must be one of blog.example.com, shop.example.com" in payload["message"]
    handler.configure(replace(api.store.settings, api_key=KEY, sites=(SITE,)), api.store)
    assert call(api, "PUT", "goals", "signup", {"event_type": "signup"}, query="")[0] == 200
    assert [g["name"] for g in listed(api)["goals"]] == ["signup"]
    assert listed(api, "www.shop.example.com")["site"] == SITE  # www. folded, as everywhere


def test_two_editors_at_once_both_keep_their_change(api, monkeypatch):
    # GIVEN a second editor who saves between this editor's read and write
    from liveinsight import handler
    from liveinsight.definitions import DefinitionsStore

    other = DefinitionsStore(api.store, api.store.settings)
    real = type(api.store).put_versioned
    raced = []

    def put_versioned(store, table, item, expected):
        if not raced:
            raced.append(True)
            other.put(SITE, "goals", "signup", {"event_type": "signup"})
        return real(store, table, item, expected)

    monkeypatch.setattr(type(api.store), "put_versioned", put_versioned)
    # WHEN this editor saves another goal
    status, payload = call(api, "PUT", "goals", "pricing", {"page": "/pricing"})
    # THEN both are kept, each write a version
    assert status == 200, payload
    assert [g["name"] for g in listed(api)["goals"]] == ["signup", "pricing"]
    assert listed(api)["version"] == 2
    assert handler.services().definitions.read(SITE).version == 2


def test_a_race_is_checked_again_against_what_the_other_editor_stored(api, monkeypatch):
    # GIVEN a funnel step whose goal another editor deletes while the funnel is saved
    call(api, "PUT", "goals", "pricing", {"page": "/pricing"})
    call(api, "PUT", "goals", "signup", {"event_type": "signup"})
    from liveinsight.definitions import DefinitionsStore

    other = DefinitionsStore(api.store, api.store.settings)
    real = type(api.store).put_versioned
    raced = []

    def put_versioned(store, table, item, expected):
        if not raced:
            raced.append(True)
            other.delete(SITE, "goals", "signup")
        return real(store, table, item, expected)

    monkeypatch.setattr(type(api.store), "put_versioned", put_versioned)
    status, payload = call(api, "PUT", "funnels", "f", {"steps": ["pricing", "signup"]})
    # THEN the funnel is refused: its step no longer exists
    assert status == 400 and "step 'signup' of `steps` is not a goal" in payload["message"]
    assert listed(api)["funnels"] == []


def test_an_editor_who_always_loses_gets_409_and_a_retry_succeeds(api, monkeypatch):
    from liveinsight.store import VersionConflict

    real = type(api.store).put_versioned
    monkeypatch.setattr(type(api.store), "put_versioned",
                        lambda *_: (_ for _ in ()).throw(VersionConflict("changed")))
    status, payload = call(api, "PUT", "goals", "signup", {"event_type": "signup"})
    assert status == 409 and "kept changing while this change was saved" in payload["message"]
    monkeypatch.setattr(type(api.store), "put_versioned", real)
    assert call(api, "PUT", "goals", "signup", {"event_type": "signup"})[0] == 200


# --- seeds ----------------------------------------------------------------------------------------

SEEDS = {
    "www.shop.example.com": {
        "page_groups": [{"name": "docs", "pattern": "/docs/**"}],
        "goals": [{"name": "read docs", "page_group": "docs"}, {"name": "signup", "event_type": "signup"}],
        "funnels": [{"name": "docs to signup", "steps": ["read docs", "signup"]}],
    },
}


@pytest.fixture
def seeded(api):
    from liveinsight import handler

    handler.configure(replace(api.store.settings, api_key=KEY, definitions=json.dumps(SEEDS)), api.store)
    return api


def test_seeded_definitions_count_from_the_start_and_say_they_are_seeded(seeded):
    data = listed(seeded)
    assert data["version"] == 0
    assert data["page_groups"] == [{"name": "docs", "pattern": "/docs/**", "since": 0, "seeded": True,
                                    "counted_from": 0}]
    assert [(g["name"], g["since"], g["seeded"]) for g in data["goals"]] == [("read docs", 0, True),
                                                                              ("signup", 0, True)]
    assert data["funnels"][0]["steps"] == ["read docs", "signup"]


def test_a_stored_definition_wins_over_a_seed_of_its_name_and_can_use_seeds(seeded):
    status, payload = call(seeded, "PUT", "goals", "signup", {"event_type": "signup", "props": {"plan": "pro"}})
    assert status == 200, payload
    assert call(seeded, "PUT", "funnels", "docs to pro", {"steps": ["read docs", "signup"]})[0] == 200
    goals = {g["name"]: g for g in listed(seeded)["goals"]}
    assert goals["signup"]["seeded"] is False and goals["signup"]["props"] == {"plan": "pro"}
    assert goals["read docs"]["seeded"] is True
    # Only what is not seeded is stored.
    item = seeded.store.get_item(seeded.store.settings.stats_table, d.key(SITE))
    assert json.loads(item["d"])["goals"] == [{"name": "signup", "event_type": "signup", "props": {"plan": "pro"},
                                               "since": goals["signup"]["since"]}]


def test_a_seeded_definition_cannot_be_deleted_through_the_api(seeded):
    call(seeded, "DELETE", "funnels", "docs to signup")
    status, payload = call(seeded, "DELETE", "funnels", "docs to signup")
    assert status == 409 and "seeded by LIVEINSIGHT_DEFINITIONS at deploy time; remove it there" in payload["message"]


def test_seeds_come_from_the_environment_as_json_text_or_a_file(monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_DEFINITIONS, json.dumps(SEEDS))
    assert config.Settings.from_env().definitions == json.dumps(SEEDS)
    path = tmp_path / "definitions.json"
    path.write_text(json.dumps(SEEDS))
    monkeypatch.setenv(config.ENV_DEFINITIONS, str(path))
    seeds = defs.load_seeds(config.Settings.from_env().definitions)
    assert list(seeds) == [SITE] and seeds[SITE].goal("signup") == Goal("signup", event_type="signup", seeded=True, counted_from=0)


@pytest.mark.parametrize(("value", "named"), [
    pytest.param("{not json", "LIVEINSIGHT_DEFINITIONS is not valid JSON", id="not-json"),
    pytest.param("/no/such/file.json", "must be JSON text or the path of a JSON file", id="missing-file"),
    pytest.param("[]", "must be JSON text or the path", id="a-list-is-no-path"),
    pytest.param('{"not a host": {}}', "site 'not a host' is not a host name", id="bad-site"),
    pytest.param('{"a.example": {"views": []}}', "must be an object with any of page_groups", id="unknown-kind"),
    pytest.param('{"a.example": {"goals": [{"name": "g", "page_group": "none"}]}}',
                 "site 'a.example', goals[0]: `page_group` 'none' is not a page group", id="unknown-group"),
    pytest.param('{"a.example": {"page_groups": [{"name": "g", "pattern": "/a?b"}]}}',
                 "page_groups[0]: `pattern` contains '?'", id="bad-pattern"),
    pytest.param('{"a.example": {"goals": [{"name": "g", "event_type": "e"}, {"name": "G", "event_type": "f"}]}}',
                 "goals[1]: 'G' is defined twice", id="twice"),
    pytest.param('{"a.example": {"funnels": [{"name": "f", "steps": ["a"]}]}}',
                 "funnels[0]: `steps` must be a list of 2-8", id="short-funnel"),
])
def test_bad_seeds_fail_at_load_naming_the_variable_and_the_definition(monkeypatch, value, named):
    monkeypatch.setenv(config.ENV_DEFINITIONS, value)
    with pytest.raises(ValueError, match="LIVEINSIGHT_DEFINITIONS") as error:
        config.Settings.from_env()
    assert named in str(error.value)


def test_seeds_are_bounded_like_stored_definitions(monkeypatch):
    many = {"a.example": {"funnels": [], "goals": [{"name": f"g{i}", "event_type": "e"} for i in range(31)]}}
    with pytest.raises(ValueError, match=r"goals\[30\]: a.example already has 30 goals"):
        defs.load_seeds(json.dumps(many))


# --- the aggregator's read ----------------------------------------------------------------------


def test_the_aggregators_read_is_one_getitem_per_site_cached_for_a_minute(store, monkeypatch):
    # GIVEN a site's definitions, read through a clock the test controls
    from liveinsight.definitions import DefinitionsStore

    clock = [1000.0]
    editor = DefinitionsStore(store)
    reader = DefinitionsStore(store, monotonic=lambda: clock[0])
    editor.put(SITE, "goals", "signup", {"event_type": "signup"})
    reads = []
    real = type(store).get_item
    monkeypatch.setattr(type(store), "get_item", lambda s, *a, **k: reads.append(a) or real(s, *a, **k))
    assert reader.for_site(SITE).goals_hit({"event_type": "signup"}) == ["signup"]
    # WHEN another process changes them within the minute THEN the cached ones are answered, without a read
    editor.put(SITE, "goals", "purchase", {"event_type": "purchase"})
    reads.clear()
    clock[0] += config.DEFINITIONS_CACHE_SECONDS - 1
    assert [g.name for g in reader.for_site(SITE).goals] == ["signup"] and reads == []
    # AND after the minute the new ones, with one read
    clock[0] += 2
    assert [g.name for g in reader.for_site(SITE).goals] == ["signup", "purchase"] and len(reads) == 1
    # AND clear() forgets at once
    editor.delete(SITE, "goals", "purchase")
    reader.clear()
    assert [g.name for g in reader.for_site(SITE).goals] == ["signup"]


def test_a_write_through_the_same_store_is_read_back_at_once(store):
    from liveinsight.definitions import DefinitionsStore

    definitions = DefinitionsStore(store, monotonic=lambda: 0.0)
    assert not definitions.for_site(SITE)
    definitions.put(SITE, "page_groups", "blog", {"pattern": "/blog/**"})
    assert definitions.for_site(SITE).groups_of("/blog/hello") == ["blog"]


# --- the dashboard's client, over HTTP ----------------------------------------------------------


@pytest.fixture
def http_api(api):
    """GIVEN the API behind the local gateway on a free port."""
    import threading

    from liveinsight.local.server import Gateway, GatewayServer

    gateway = type("DefinitionsGateway", (Gateway,), {"handler": staticmethod(api.handler)})
    server = GatewayServer(("127.0.0.1", 0), gateway)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_dashboards_client_reads_writes_and_deletes_definitions(http_api):
    from liveinsight.dashboard.client import ApiAuthError, ApiRequestError, Client

    with Client(http_api, api_key=KEY) as client:
        # WHEN the Settings page's client adds a page group, a goal on it and a funnel (names with spaces and %)
        client.put_definition("page_groups", "product pages", {"pattern": "/products/*"}, site=SITE)
        client.put_definition("goals", "viewed 100% products", {"page_group": "product pages"}, site=SITE)
        client.put_definition("goals", "signup", {"event_type": "signup"}, site=SITE)
        after = client.put_definition("funnels", "browse to signup", {"steps": ["viewed 100% products", "signup"]},
                                      site=SITE)
        # THEN each answer is the site's definitions, and GET agrees
        assert after == client.definitions(SITE)
        assert after.version == 4 and after.names("goals") == ["viewed 100% products", "signup"]
        # AND a refusal carries the API's reason
        with pytest.raises(ApiRequestError, match="used by funnel 'browse to signup'") as refused:
            client.delete_definition("goals", "signup", site=SITE)
        assert refused.value.status == 409
        assert client.delete_definition("funnels", "browse to signup", site=SITE).funnels == []
    with Client(http_api) as keyless, pytest.raises(ApiAuthError):
        keyless.definitions(SITE)
