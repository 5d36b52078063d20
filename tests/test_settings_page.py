"""The Settings page as a teammate uses it (AppTest against the fake client): a site's page groups, goals
and funnels listed with when they count from, added through forms, deleted; the API's refusals shown as it
says them. The API side is tests/test_definitions.py.
"""
from __future__ import annotations

import time

from liveinsight import share
from liveinsight.dashboard import definitions as defs
from liveinsight.dashboard.client import ApiRequestError, Definitions
from tests import fakes, hostile
from tests.test_dashboard import fake, open_page, table_with, texts  # noqa: F401 (fake is a fixture)

SETTINGS = "pages/settings.py"
SITE = "shop.example.com"
SHOP = {
    "site": SITE, "version": 4,
    "page_groups": [{"name": "products", "pattern": "/products/*", "since": 0, "seeded": True}],
    "goals": [{"name": "signup", "event_type": "signup", "page": None, "page_group": None, "props": {"plan": "pro"},
               "revenue": None, "since": fakes.NOW, "seeded": False},
              {"name": "purchase", "event_type": "purchase", "page": None, "page_group": None, "props": {},
               "revenue": {"property": "amount", "currency": "EUR"}, "since": fakes.NOW, "seeded": False},
              {"name": "pricing", "event_type": None, "page": "/pricing", "page_group": None, "props": {},
               "revenue": None, "since": 0, "seeded": True}],
    "funnels": [{"name": "checkout", "steps": ["pricing", "signup", "purchase"], "since": fakes.NOW,
                 "seeded": False}],
}


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def changes(fake) -> list[tuple[str, dict]]:
    return [(name, call) for name, call in fake.calls if name in ("put_definition", "delete_definition")]


def test_the_sites_definitions_are_listed_with_when_they_count_from(fake):
    # GIVEN a site with definitions, one seeded at deploy time
    fake.site_definitions[SITE] = SHOP
    # WHEN a teammate opens Settings (the only site is the one shown)
    at = open_page(SETTINGS)
    # THEN each kind is a table saying what it is and from when it counts
    groups = table_with(at, "Pattern")
    assert groups.to_dict("records") == [{"Name": "products", "Pattern": "/products/*", "Counting": "from the start",
                                          "Defined": "at deploy"}]
    goals = table_with(at, "Converts on")
    assert goals["Converts on"].tolist() == ["event signup · plan = pro", "event purchase", "page /pricing"]
    assert goals["Revenue"].tolist() == ["", "amount in EUR", ""]
    assert goals["Counting"].tolist() == ["since 2026-01-01 00:00 UTC", "since 2026-01-01 00:00 UTC",
                                          "from the start"]
    assert table_with(at, "Steps")["Steps"].tolist() == ["pricing → signup → purchase"]
    assert ("definitions", {"site": SITE}) in fake.calls


def test_a_site_without_definitions_says_what_each_kind_is(fake):
    fake.site_definitions.clear()  # (test_dashboard's fixture gives the site a funnel)
    at = open_page(SETTINGS)
    shown = texts(at)
    assert "No page groups yet" in shown and "No goals yet" in shown and "No funnels yet" in shown
    assert not at.dataframe


def test_adding_a_page_group_sends_its_pattern_and_lists_it(fake):
    at = open_page(SETTINGS)
    at.text_input(key="_group_name").input("blog")
    at.text_input(key="_group_pattern").input("/blog/**")
    button(at, "Add page group").click().run()
    assert changes(fake) == [("put_definition", {"kind": "page_groups", "name": "blog",
                                                 "body": {"pattern": "/blog/**"}, "site": SITE})]
    assert table_with(at, "Pattern")["Name"].tolist() == ["blog"]
    assert at.text_input(key="_group_name").value == ""  # ready for the next one


def test_adding_a_purchase_goal_with_a_property_and_revenue(fake):
    fake.stats_data["event_types"].append({"event_type": "purchase", "count": 12})
    at = open_page(SETTINGS)
    # The custom event types seen are offered (new ones can be typed); the teammate picks one.
    assert at.selectbox(key="_goal_event").options == ["signup", "download", "purchase"]
    at.text_input(key="_goal_name").input("pro purchase")
    at.selectbox(key="_goal_event").set_value("purchase")
    at.text_input(key="_goal_prop_key").input("plan")
    at.text_input(key="_goal_prop_value").input("pro")
    at.text_input(key="_goal_revenue").input("amount")
    at.text_input(key="_goal_currency").input("eur")
    button(at, "Add goal").click().run()
    assert changes(fake) == [("put_definition", {"kind": "goals", "name": "pro purchase", "site": SITE, "body": {
        "event_type": "purchase", "props": {"plan": "pro"}, "revenue": {"property": "amount", "currency": "EUR"}}})]
    assert table_with(at, "Converts on")["Revenue"].tolist() == ["amount in EUR"]


def test_a_page_goal_and_a_page_group_goal(fake):
    fake.site_definitions[SITE] = {**SHOP, "goals": [], "funnels": []}
    at = open_page(SETTINGS)
    at.text_input(key="_goal_name").input("pricing")
    at.radio(key="_goal_kind").set_value(defs.PAGE).run()
    at.text_input(key="_goal_page").input("/pricing")
    button(at, "Add goal").click().run()
    at.text_input(key="_goal_name").input("product viewed")
    at.radio(key="_goal_kind").set_value(defs.PAGE_GROUP).run()
    assert at.selectbox(key="_goal_group").options == ["products"]
    at.selectbox(key="_goal_group").set_value("products")
    button(at, "Add goal").click().run()
    assert [call["body"] for _, call in changes(fake)] == [{"page": "/pricing"}, {"page_group": "products"}]


def test_a_funnel_takes_its_goals_in_the_order_chosen(fake):
    fake.site_definitions[SITE] = {**SHOP, "funnels": []}
    at = open_page(SETTINGS)
    assert at.multiselect(key="_funnel_steps").options == ["signup", "purchase", "pricing"]
    at.text_input(key="_funnel_name").input("checkout")
    at.multiselect(key="_funnel_steps").select("pricing").select("signup").select("purchase")
    button(at, "Add funnel").click().run()
    assert changes(fake) == [("put_definition", {"kind": "funnels", "name": "checkout", "site": SITE,
                                                 "body": {"steps": ["pricing", "signup", "purchase"]}})]


def test_a_refusal_is_shown_as_the_apis_message_as_text(fake):
    fake.site_definitions.clear()  # (test_dashboard's fixture gives the site a funnel)
    message = "`pattern` contains '?': page paths are stored without a query, so it could never match; **bold**"
    fake.definition_error = ApiRequestError(message, 400)
    at = open_page(SETTINGS)
    at.text_input(key="_group_name").input("search")
    at.text_input(key="_group_pattern").input("/search?q=*")
    button(at, "Add page group").click().run()
    assert message in [t.value for t in at.text]
    assert "The API refused it" in texts(at)
    assert not at.dataframe


def test_deleting_a_definition(fake):
    fake.site_definitions[SITE] = {**SHOP, "funnels": []}
    at = open_page(SETTINGS)
    at.selectbox(key="_delete_goals").set_value("purchase")
    next(b for b in at.button if b.key == "_delete_goals_button").click().run()
    assert changes(fake) == [("delete_definition", {"kind": "goals", "name": "purchase", "site": SITE})]
    assert table_with(at, "Converts on")["Name"].tolist() == ["signup", "pricing"]
    assert "Deleted the goal purchase." in [t.value for t in at.text]


def test_with_several_sites_the_page_asks_for_one(fake):
    fake.stats_data = fakes.stats_payload(sites=[SITE, "blog.example.com"])
    at = open_page(SETTINGS)
    assert "Choose a site in the sidebar" in texts(at)
    assert not [name for name, _ in fake.calls if name == "definitions"]
    at.sidebar.selectbox(key="site").set_value("blog.example.com").run()
    assert ("definitions", {"site": "blog.example.com"}) in fake.calls


def test_a_share_link_sees_no_settings_and_never_asks_for_them(fake):
    token = share.mint(fakes.SHARE_SECRET, SITE, time.time() + 3600)
    at = open_page(SETTINGS, {"share": token})
    assert "settings need the team's dashboard" in texts(at)
    assert not [name for name, _ in fake.calls if name == "definitions"]
    assert "pages/settings.py" not in [link.proto.page for link in at.sidebar.get("page_link")]


def test_hostile_names_show_as_text(fake):
    name = hostile.PATHS[0]
    fake.site_definitions[SITE] = {**SHOP, "funnels": [], "goals": [{**SHOP["goals"][0], "name": name}]}
    at = open_page(SETTINGS)
    assert table_with(at, "Converts on")["Name"].tolist() == [name]


def test_the_tables_are_plain_functions_of_the_answer():
    definitions = Definitions.from_json(SHOP)
    assert defs.funnels_table(definitions).columns.tolist() == ["Name", "Steps", "Counting", "Defined"]
    assert defs.counting({"since": 0, "counted_from": 0}) == "from the start"
    # a new one says from when it counts, and that the raw events from before it are still to be recounted
    assert defs.counting({"since": 1_796_000_000, "counted_from": None}) == \
        "since 2026-11-30 00:53 UTC; the raw events from before being recounted"
    assert defs.counting({"since": 1_796_000_000, "counted_from": 1_795_920_000}) == "since 2026-11-29 02:40 UTC"
    assert defs.goal_body(defs.EVENT, " signup ", "", "", "", "") == {"event_type": "signup"}
