"""The catalog through the API as a web client uses it: head office writes, everyone with customer access reads,
only admins see cost prices, money is exact text, every price change is kept."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.money import money_text, parse_money

_n = itertools.count(1)


def _sku() -> str:
    return f"TST-{next(_n):05d}"


def _product(admin: Any, **fields: Any) -> dict[str, Any]:
    body = {"sku": _sku(), "name": "Filter oli Avanza", "category": "oil_and_filter", "unit": "pcs",
            "list_price": "65000", "cost_price": "41000.50", **fields}
    r = admin.post("/products", body)
    assert r.status_code == 201, r.body
    return dict(r.json)


def test_head_office_adds_a_product_with_exact_money_and_a_normalised_sku(as_user: Any) -> None:
    admin = as_user("admin")
    sku = _sku()
    r = admin.post("/products", {"sku": sku.lower(), "name": "Kampas rem depan", "category": "spare_part",
                                 "unit": "set", "list_price": "350000.5", "cost_price": "210000"})
    assert r.status_code == 201, r.body
    assert r.headers["Location"] == f"/products/{sku}" and r.headers["ETag"] == '"v1"'
    assert r.json["sku"] == sku and r.json["list_price"] == "350000.50" and r.json["cost_price"] == "210000.00"
    again = admin.post("/products", {"sku": sku, "name": "Lain", "category": "spare_part", "unit": "set",
                                     "list_price": "1"})
    assert again.status_code == 409 and again.json["existing_sku"] == sku
    assert admin.get(f"/products/{sku}").json["name"] == "Kampas rem depan"  # the clash changed nothing


@pytest.mark.parametrize("price", ["12.345", "-1", "1e6", "1.250.000", "", "Rp 5", 100, 99.5])
def test_a_price_that_is_not_an_exact_amount_is_refused_and_nothing_is_made(as_user: Any, price: Any) -> None:
    admin = as_user("admin")
    sku = _sku()
    r = admin.post("/products", {"sku": sku, "name": "X", "category": "accessory", "unit": "pcs", "list_price": price})
    assert r.status_code == 400 and r.json["errors"][0]["field"] == "list_price"
    assert admin.get(f"/products/{sku}").status_code == 404


def test_everyone_with_customer_access_reads_the_catalog_but_only_admins_see_costs(as_user: Any) -> None:
    admin = as_user("admin")
    made = _product(admin)
    for user in ("manager.jakarta", "agent.surabaya", "marketing"):
        r = as_user(user).get(f"/products/{made['sku']}")
        assert r.status_code == 200 and "cost_price" not in r.json, user
        listed = as_user(user).get("/products?category=oil_and_filter&limit=100").json["items"]
        assert listed and all("cost_price" not in p for p in listed)
    assert admin.get(f"/products/{made['sku']}").json["cost_price"] == "41000.50"
    assert as_user("analyst").get("/products").status_code == 403
    for user in ("manager.jakarta", "agent.jakarta", "marketing"):
        assert as_user(user).post("/products", {"sku": _sku(), "name": "X", "category": "accessory", "unit": "pcs",
                                                "list_price": "1"}).status_code == 403
        assert as_user(user).patch(f"/products/{made['sku']}", {"list_price": "1"},
                                   headers={"If-Match": '"v1"'}).status_code == 403


def test_a_price_change_keeps_its_history_and_needs_the_etag(as_user: Any) -> None:
    admin = as_user("admin")
    made = _product(admin, list_price="65000")
    path = f"/products/{made['sku']}"
    assert admin.patch(path, {"list_price": "70000"}).status_code == 428
    assert admin.patch(path, {"list_price": "70000"}, headers={"If-Match": '"v9"'}).status_code == 412
    r = admin.patch(path, {"list_price": "70000", "cost_price": "45000"}, headers={"If-Match": '"v1"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"v2"'
    history = admin.get(path).json["price_history"]
    assert [(h["field"], h["old"], h["new"]) for h in history] == [
        ("list_price", "65000.00", "70000.00"), ("cost_price", "41000.50", "45000.00")]
    assert history[0]["by"] and history[0]["at"].endswith("Z")
    # a name change is no price change; an agent sees the list price's history, never the cost's
    assert admin.patch(path, {"name": "Filter oli Avanza Veloz"}, headers={"If-Match": '"v2"'}).status_code == 200
    seen = as_user("agent.jakarta").get(path).json["price_history"]
    assert [(h["field"], h["new"]) for h in seen] == [("list_price", "70000.00")]
    assert admin.patch(path, {"list_price": None}, headers={"If-Match": '"v3"'}).status_code == 400


def test_the_catalog_by_category_and_name_prefix_page_by_page(as_user: Any) -> None:
    admin = as_user("admin")
    for n in range(5):
        _product(admin, name=f"Velg racing {n}", category="accessory")
    _product(admin, name="Véleg kaca film", category="accessory")  # accents ignored by the search
    first = admin.get("/products?category=accessory&q=velg&limit=3").json
    assert [p["name"] for p in first["items"]] == ["Velg racing 0", "Velg racing 1", "Velg racing 2"]
    rest = admin.get(f"/products?category=accessory&q=velg&limit=3&cursor={first['next_cursor']}").json
    assert [p["name"] for p in rest["items"]] == ["Velg racing 3", "Velg racing 4"]
    anywhere = admin.get("/products?q=veleg").json["items"]
    assert [p["name"] for p in anywhere] == ["Véleg kaca film"]
    bad = admin.get(f"/products?category=vehicle&cursor={first['next_cursor']}")
    assert bad.status_code == 400  # a cursor is bound to its filters


def test_an_inactive_product_is_listed_only_when_asked_for(as_user: Any) -> None:
    admin = as_user("admin")
    gone = _product(admin, name="Ban serep lama", category="spare_part", active=False)
    active = admin.get("/products?category=spare_part&active=true&limit=100").json["items"]
    inactive = admin.get("/products?category=spare_part&active=false&limit=100").json["items"]
    assert gone["sku"] not in {p["sku"] for p in active} and gone["sku"] in {p["sku"] for p in inactive}


def test_an_unknown_or_malformed_sku_is_not_found(as_user: Any) -> None:
    admin = as_user("admin")
    assert admin.get("/products/NOPE-404").status_code == 404
    assert admin.get("/products/%20").status_code == 404
    assert admin.patch("/products/NOPE-404", {"name": "x"}, headers={"If-Match": '"v1"'}).status_code == 404


@given(st.decimals(min_value=0, max_value=Decimal("9999999999999.99"), places=2, allow_nan=False))
def test_money_text_round_trips_exactly(amount: Decimal) -> None:
    text = money_text(amount)
    assert text is not None and parse_money(text) == amount and text == f"{amount:.2f}"
