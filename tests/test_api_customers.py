"""The customers API as a web client uses it (chalice.test.Client, real Cognito tokens from moto)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from chalicelib.domain.clock import new_id
from tests.conftest import unique_phone

PROBLEM = "application/problem+json"


def _tag() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"] == PROBLEM
    body = response.json
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    return dict(body)


@pytest.fixture
def agent(as_user: Any) -> Any:
    return as_user("agent.jakarta")


@pytest.fixture
def admin(as_user: Any) -> Any:
    return as_user("admin")


# --- create and read ---------------------------------------------------------

def test_creating_a_customer_normalizes_contacts_and_returns_location_and_etag(agent: Any) -> None:
    phone = unique_phone()
    r = agent.post("/customers", {"name": "Siti Rahayu", "phone": phone, "email": "Siti.Rahayu@Contoh.co.id",
                                  "birthday": "1991-04-17", "tags": ["vip", "vip", "fleet"]})
    assert r.status_code == 201
    c = r.json
    assert c["phone"] == "+62" + phone.replace("-", "")[1:]
    assert c["email"] == "siti.rahayu@contoh.co.id"
    assert c["branch_id"] == "jakarta"  # the agent's branch by default
    assert c["lifecycle_stage"] == "lead" and c["version"] == 1
    assert c["tags"] == ["vip", "fleet"]
    assert r.headers["Location"] == f"/customers/{c['id']}"
    assert r.headers["ETag"] == '"v1"'
    got = agent.get(f"/customers/{c['id']}")
    assert got.status_code == 200 and got.json == c and got.headers["ETag"] == '"v1"'


def test_consent_is_recorded_with_time_and_source(agent: Any) -> None:
    c = agent.new_customer(consent={"sms_marketing": {"value": True, "source": "showroom-form"}})
    consent = c["consent"]["sms_marketing"]
    assert consent["value"] is True and consent["source"] == "showroom-form"
    assert consent["at"].endswith("Z")


def test_an_agent_cannot_create_a_customer_in_another_branch(agent: Any) -> None:
    _problem(agent.post("/customers", {"name": "A", "phone": unique_phone(), "branch_id": "bandung"}), 403)


def test_the_same_phone_in_another_form_is_a_conflict_naming_the_existing_customer(agent: Any) -> None:
    phone = unique_phone()
    first = agent.new_customer(phone=phone)
    international = "+62 " + phone[1:].replace("-", " ")
    body = _problem(agent.post("/customers", {"name": "Other", "phone": international}), 409)
    assert body["existing_customer_id"] == first["id"] and body["field"] == "phone"
    assert phone not in json.dumps(body)


def test_the_same_email_in_another_case_is_a_conflict(agent: Any) -> None:
    email = f"{uuid.uuid4().hex[:8]}@contoh.co.id"
    first = agent.new_customer(email=email)
    body = _problem(agent.post("/customers", {"name": "B", "phone": unique_phone(), "email": email.upper()}), 409)
    assert body["existing_customer_id"] == first["id"] and body["field"] == "email"


def test_a_failed_create_leaves_no_guard_behind(agent: Any) -> None:
    email = f"{uuid.uuid4().hex[:8]}@contoh.co.id"
    taken = agent.new_customer()
    # phone clashes, so the email guard of this request must not be written either
    _problem(agent.post("/customers", {"name": "C", "phone": taken["phone"], "email": email}), 409)
    assert agent.post("/customers", {"name": "C", "phone": unique_phone(), "email": email}).status_code == 201


def test_unknown_customer_is_404(agent: Any) -> None:
    _problem(agent.get("/customers/01HZZZZZZZZZZZZZZZZZZZZZZZ"), 404)


# --- bad input ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 123, "phone": "0812-1111-2222"}, "name"),
        ({"name": "", "phone": "0812-1111-2222"}, "name"),
        ({"name": "x" * 201, "phone": "0812-1111-2222"}, "name"),
        ({"name": "A", "phone": "12345"}, "phone"),
        ({"name": "A", "phone": "0812-1111-2222", "email": "not-an-email"}, "email"),
        ({"name": "A", "phone": "0812-1111-2222", "birthday": "1990-02-30"}, "birthday"),
        ({"name": "A", "phone": "0812-1111-2222", "birthday": "2999-01-01"}, "birthday"),
        ({"name": "A", "phone": "0812-1111-2222", "lifecycle_stage": "vip"}, "lifecycle_stage"),
        ({"name": "A", "phone": "0812-1111-2222", "tags": ["Not A Tag"]}, "tags.0"),
        ({"name": "A", "phone": "0812-1111-2222", "tags": [f"t{i}" for i in range(21)]}, "tags"),
        ({"name": "A", "phone": "0812-1111-2222", "attributes": {f"k{i}": "v" for i in range(21)}}, "attributes"),
        ({"name": "A", "phone": "0812-1111-2222", "branch_id": "medan"}, "branch_id"),
        ({"name": "A", "phone": "0812-1111-2222", "is_vip": True}, "*"),  # a name the caller chose: never echoed
        ({"name": "A", "phone": "0812-1111-2222", "consent": {"sms_marketing": {"value": "yes", "source": "x"}}},
         "consent.sms_marketing.value"),
        ({"name": "A", "phone": "0812-1111-2222", "preferred_channel": "email"}, ""),
    ],
)
def test_invalid_fields_are_400_with_the_field_named_and_nothing_created(agent: Any, body: dict[str, Any], field: str) -> None:
    r = agent.post("/customers", body)
    problem = _problem(r, 400)
    fields = [e["field"] for e in problem["errors"]]
    assert any(f == field or (not field) for f in fields), fields
    assert agent.get("/customers/lookup?phone=0812-1111-2222").status_code == 404


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'"text"', b"null", b"{}"])
def test_malformed_or_wrongly_shaped_json_is_400(agent: Any, raw: bytes) -> None:
    _problem(agent.post("/customers", raw), 400)


def test_a_body_over_256_kb_is_413(agent: Any) -> None:
    _problem(agent.post("/customers", {"name": "A", "phone": unique_phone(), "address": "x" * (257 * 1024)}), 413)


def test_a_non_json_content_type_is_415(agent: Any) -> None:
    r = agent.request("POST", "/customers", b"name=A", headers={"Content-Type": "application/x-www-form-urlencoded"})
    _problem(r, 415)


def test_unknown_or_invalid_query_parameters_are_400(agent: Any) -> None:
    for query in ("limit=0", "limit=101", "limit=ten", "stage=vip", "colour=red", "branch=medan"):
        _problem(agent.get(f"/customers?{query}"), 400)


# --- update ------------------------------------------------------------------

def test_patch_needs_if_match_and_rejects_a_stale_etag(agent: Any) -> None:
    c = agent.new_customer()
    url = f"/customers/{c['id']}"
    _problem(agent.patch(url, {"city": "Bekasi"}), 428)
    _problem(agent.patch(url, {"city": "Bekasi"}, headers={"If-Match": '"v9"'}), 412)
    r = agent.patch(url, {"city": "Bekasi", "lifecycle_stage": "prospect"}, headers={"If-Match": '"v1"'})
    assert r.status_code == 200 and r.headers["ETag"] == '"v2"'
    assert r.json["city"] == "Bekasi" and r.json["lifecycle_stage"] == "prospect" and r.json["version"] == 2
    _problem(agent.patch(url, {"city": "Depok"}, headers={"If-Match": '"v1"'}), 412)
    assert agent.get(url).json["city"] == "Bekasi"


def test_merge_patch_null_removes_and_attributes_merge(agent: Any) -> None:
    c = agent.new_customer(email=f"{uuid.uuid4().hex[:8]}@contoh.co.id", attributes={"car": "avanza", "color": "red"})
    r = agent.patch(f"/customers/{c['id']}", {"email": None, "attributes": {"color": None, "year": "2024"}},
                    headers={"If-Match": '"v1"', "Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.body
    assert r.json["email"] is None
    assert r.json["attributes"] == {"car": "avanza", "year": "2024"}
    # the freed email can be used again
    assert agent.post("/customers", {"name": "N", "phone": unique_phone(), "email": c["email"]}).status_code == 201


def test_patch_refuses_removing_required_fields_and_unknown_fields(agent: Any) -> None:
    c = agent.new_customer()
    for patch in ({"name": None}, {"phone": None}, {"id": "x"}, {"version": 5}, {"created_at": "2020-01-01"}):
        _problem(agent.patch(f"/customers/{c['id']}", patch, headers={"If-Match": '"v1"'}), 400)
    assert agent.get(f"/customers/{c['id']}").json["version"] == 1


def test_changing_the_phone_moves_its_guard(agent: Any) -> None:
    c = agent.new_customer()
    other = agent.new_customer()
    _problem(agent.patch(f"/customers/{c['id']}", {"phone": other["phone"]}, headers={"If-Match": '"v1"'}), 409)
    new_phone = unique_phone()
    r = agent.patch(f"/customers/{c['id']}", {"phone": new_phone}, headers={"If-Match": '"v1"'})
    assert r.status_code == 200
    assert agent.post("/customers", {"name": "Reuse", "phone": c["phone"]}).status_code == 201
    assert agent.get(f"/customers/lookup?phone={new_phone}").json["id"] == c["id"]


def test_an_agent_cannot_move_a_customer_to_another_branch(agent: Any) -> None:
    c = agent.new_customer()
    _problem(agent.patch(f"/customers/{c['id']}", {"branch_id": "surabaya"}, headers={"If-Match": '"v1"'}), 403)


# --- delete ------------------------------------------------------------------

def test_erasure_removes_profile_guards_and_history(as_user: Any) -> None:
    agent, manager = as_user("agent.jakarta"), as_user("manager.jakarta")
    email = f"{uuid.uuid4().hex[:8]}@contoh.co.id"
    c = agent.new_customer(email=email)
    for n in range(3):
        assert agent.post(f"/customers/{c['id']}/interactions",
                          {"channel": "phone", "direction": "inbound", "kind": "inquiry", "summary": f"call {n}"}).status_code == 201
    _problem(agent.delete(f"/customers/{c['id']}"), 403)
    assert manager.delete(f"/customers/{c['id']}").status_code == 204
    _problem(agent.get(f"/customers/{c['id']}"), 404)
    _problem(agent.get(f"/customers/{c['id']}/timeline"), 404)
    _problem(manager.delete(f"/customers/{c['id']}"), 404)
    from chalicelib.persistence.tables import Item, customer_pk

    assert list(Item.query(customer_pk(c["id"]))) == []
    again = agent.post("/customers", {"name": "Again", "phone": c["phone"], "email": email})
    assert again.status_code == 201


# --- list, search, lookup ----------------------------------------------------

def test_listing_pages_through_everything_once_with_opaque_cursors(agent: Any) -> None:
    tag = _tag()
    made = {agent.new_customer(tags=[tag])["id"] for _ in range(7)}
    seen: list[str] = []
    cursor = None
    while True:
        r = agent.get(f"/customers?tag={tag}&limit=3" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200
        seen += [c["id"] for c in r.json["items"]]
        cursor = r.json["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == len(made)
    assert seen == sorted(seen, reverse=True)  # newest first


def test_tampered_and_foreign_cursors_are_400(agent: Any) -> None:
    tag = _tag()
    for _ in range(3):
        agent.new_customer(tags=[tag])
    cursor = agent.get(f"/customers?tag={tag}&limit=1").json["next_cursor"]
    assert cursor
    flipped = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    _problem(agent.get(f"/customers?tag={tag}&limit=1&cursor={flipped}"), 400)
    _problem(agent.get(f"/customers?tag={tag}&limit=1&cursor=%%%%"), 400)
    _problem(agent.get(f"/customers?tag=other&limit=1&cursor={cursor}"), 400)  # another listing's cursor
    c = agent.new_customer()
    _problem(agent.get(f"/customers/{c['id']}/interactions?cursor={cursor}"), 400)


def test_filters_by_stage_and_tag(agent: Any) -> None:
    tag = _tag()
    lead = agent.new_customer(tags=[tag])
    prospect = agent.new_customer(tags=[tag], lifecycle_stage="prospect")
    r = agent.get(f"/customers?tag={tag}&stage=prospect")
    assert [c["id"] for c in r.json["items"]] == [prospect["id"]]
    r = agent.get(f"/customers?tag={tag}&stage=lead&branch=jakarta")
    assert [c["id"] for c in r.json["items"]] == [lead["id"]]


def test_name_search_is_a_case_insensitive_prefix(agent: Any) -> None:
    unique = f"Zul{uuid.uuid4().hex[:6]}"
    wanted = agent.new_customer(name=f"{unique} Hakim")
    agent.new_customer(name=f"Budi {unique}")
    r = agent.get(f"/customers?q={unique.upper()}")
    assert [c["id"] for c in r.json["items"]] == [wanted["id"]]


def test_search_by_phone_in_any_form(agent: Any) -> None:
    c = agent.new_customer()
    for form in (c["phone"], "0" + c["phone"][3:]):
        r = agent.get(f"/customers?q={form.replace('+', '%2B')}")
        assert [x["id"] for x in r.json["items"]] == [c["id"]]


def test_scoped_users_only_list_their_branch(as_user: Any) -> None:
    tag = _tag()
    as_user("agent.jakarta").new_customer(tags=[tag])
    as_user("agent.bandung").new_customer(tags=[tag])
    bandung = as_user("agent.bandung").get(f"/customers?tag={tag}").json["items"]
    assert [c["branch_id"] for c in bandung] == ["bandung"]
    _problem(as_user("agent.bandung").get(f"/customers?tag={tag}&branch=jakarta"), 403)
    everyone = as_user("marketing").get(f"/customers?tag={tag}").json["items"]
    assert sorted(c["branch_id"] for c in everyone) == ["bandung", "jakarta"]


def test_lookup_by_phone_or_email_for_the_screen_pop(agent: Any) -> None:
    email = f"{uuid.uuid4().hex[:8]}@contoh.co.id"
    c = agent.new_customer(email=email)
    local = "0" + c["phone"][3:]
    assert agent.get(f"/customers/lookup?phone={local}").json["id"] == c["id"]
    r = agent.get(f"/customers/lookup?email={email.upper()}")
    assert r.json["id"] == c["id"] and r.headers["ETag"] == '"v1"'
    _problem(agent.get(f"/customers/lookup?phone={unique_phone()}"), 404)
    _problem(agent.get("/customers/lookup"), 400)
    _problem(agent.get(f"/customers/lookup?phone={local}&email={email}"), 400)
    _problem(agent.get("/customers/lookup?phone=abc"), 400)


def test_another_branch_sees_a_customer_as_missing(as_user: Any) -> None:
    c = as_user("agent.jakarta").new_customer()
    other = as_user("agent.bandung")
    _problem(other.get(f"/customers/{c['id']}"), 404)
    _problem(other.get(f"/customers/lookup?phone={c['phone'].replace('+', '%2B')}"), 404)
    _problem(other.patch(f"/customers/{c['id']}", {"city": "X"}, headers={"If-Match": '"v1"'}), 404)
    _problem(as_user("manager.bandung").delete(f"/customers/{c['id']}"), 404)
    assert as_user("admin").get(f"/customers/{c['id']}").status_code == 200


# --- idempotency -------------------------------------------------------------

def test_the_same_idempotency_key_and_body_replays_the_first_response(agent: Any) -> None:
    key = uuid.uuid4().hex
    body = {"name": "Idem Potent", "phone": unique_phone()}
    first = agent.post("/customers", body, headers={"Idempotency-Key": key})
    again = agent.post("/customers", body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    # a new key with the same body is a new request: the phone is taken now
    _problem(agent.post("/customers", body, headers={"Idempotency-Key": uuid.uuid4().hex}), 409)


def test_the_same_idempotency_key_with_another_body_is_422(agent: Any) -> None:
    key = uuid.uuid4().hex
    phone = unique_phone()
    assert agent.post("/customers", {"name": "One", "phone": phone}, headers={"Idempotency-Key": key}).status_code == 201
    other_phone = unique_phone()
    _problem(agent.post("/customers", {"name": "Two", "phone": other_phone}, headers={"Idempotency-Key": key}), 422)
    _problem(agent.get(f"/customers/lookup?phone={other_phone}"), 404)


def test_a_failed_request_does_not_burn_its_idempotency_key(agent: Any) -> None:
    key = uuid.uuid4().hex
    _problem(agent.post("/customers", {"name": "A", "phone": "12"}, headers={"Idempotency-Key": key}), 400)
    taken = agent.new_customer()
    _problem(agent.post("/customers", {"name": "A", "phone": taken["phone"]}, headers={"Idempotency-Key": key}), 409)
    assert agent.post("/customers", {"name": "A", "phone": unique_phone()}, headers={"Idempotency-Key": key}).status_code == 201


def test_idempotency_keys_are_per_caller(as_user: Any) -> None:
    key = uuid.uuid4().hex
    a = as_user("agent.jakarta").post("/customers", {"name": "A", "phone": unique_phone()}, headers={"Idempotency-Key": key})
    b = as_user("manager.jakarta").post("/customers", {"name": "B", "phone": unique_phone()}, headers={"Idempotency-Key": key})
    assert a.status_code == b.status_code == 201 and a.json["id"] != b.json["id"]


# --- public routes and CORS --------------------------------------------------

def test_health_and_openapi_need_no_token(api: Any) -> None:
    r = api.get("/health")
    assert r.status_code == 200 and json.loads(r.body) == {"status": "ok"}
    doc = json.loads(api.get("/openapi.json").body)
    assert doc["openapi"].startswith("3.1")
    assert {"/customers", "/customers/{customer_id}", "/customers/lookup", "/customers/{customer_id}/interactions",
            "/customers/{customer_id}/timeline", "/health", "/openapi.json"} <= set(doc["paths"])
    assert "412" in doc["paths"]["/customers/{customer_id}"]["patch"]["responses"]
    assert "CustomerCreate" in doc["components"]["schemas"]


def test_cors_preflight_and_exposed_headers_for_allowed_origins_only(api: Any, agent: Any) -> None:
    origin = "http://localhost:3000"
    pre = api.request("OPTIONS", "/customers/{id}".replace("{id}", "x"), headers={"Origin": origin, "Access-Control-Request-Method": "PATCH"})
    assert pre.status_code == 204
    assert pre.headers["Access-Control-Allow-Origin"] == origin
    allowed = pre.headers["Access-Control-Allow-Headers"]
    for header in ("Authorization", "If-Match", "Idempotency-Key"):
        assert header in allowed
    assert "PATCH" in pre.headers["Access-Control-Allow-Methods"]
    r = agent.get("/customers?limit=1", headers={"Origin": origin})
    assert r.headers["Access-Control-Allow-Origin"] == origin
    assert "ETag" in r.headers["Access-Control-Expose-Headers"] and "Location" in r.headers["Access-Control-Expose-Headers"]
    evil = agent.get("/customers?limit=1", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in evil.headers


def test_odd_path_ids_are_simply_not_found(agent: Any) -> None:
    for cid in ("x" * 3000, "%F0%9F%98%80", "01HZZZZZZZZZZZZZZZZZZZZZZ%00", "ZZZZZZZZZZZZZZZZZZZZZZZZZZ"):
        _problem(agent.get(f"/customers/{cid}"), 404)
        _problem(agent.get(f"/customers/{cid}/timeline"), 404)
        _problem(agent.post(f"/customers/{cid}/interactions",
                            {"channel": "sms", "direction": "outbound", "kind": "other", "summary": "x"}), 404)


def test_if_match_star_updates_whatever_the_current_version_is(agent: Any) -> None:
    c = agent.new_customer()
    r = agent.patch(f"/customers/{c['id']}", {"city": "Bogor"}, headers={"If-Match": "*"})
    assert r.status_code == 200 and r.json["version"] == 2


def test_a_content_type_without_a_body_is_ignored(api: Any, agent: Any) -> None:
    assert api.request("GET", "/health", headers={"Content-Type": "text/plain"}).status_code == 200
    c = agent.new_customer()
    r = agent.get(f"/customers/{c['id']}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 200


def test_if_match_accepts_a_list_and_refuses_weak_etags(agent: Any) -> None:
    c = agent.new_customer()
    url = f"/customers/{c['id']}"
    _problem(agent.patch(url, {"city": "Bogor"}, headers={"If-Match": 'W/"v1"'}), 412)
    assert agent.patch(url, {"city": "Bogor"}, headers={"If-Match": '"v0", "v1"'}).status_code == 200


def test_gateway_errors_carry_cors_headers_for_allowed_origins(api: Any) -> None:
    r = api.request("GET", "/customers", headers={"Origin": "http://localhost:3000"})
    assert r.status_code == 401 and r.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


# --- what answers reveal and keep ---------------------------------------------

@pytest.mark.parametrize("name", [
    "\u200b\u200b\u200b",  # only zero-width spaces: looks blank
    "\u200d",  # only a joiner
    "Budi \u202eotnasnaS",  # a right-to-left override: reads "Budi Santoso"
    "Budi\u2066 Santoso",  # a directional isolate
    "Budi\u0000Santoso",
    "Budi\nSantoso",  # a name is one line
    "\ufeffBudi",
])
def test_names_with_control_or_invisible_characters_are_400_and_nothing_is_stored(agent: Any, name: str) -> None:
    phone = unique_phone()
    problem = _problem(agent.post("/customers", {"name": name, "phone": phone}), 400)
    assert [e["field"] for e in problem["errors"]] == ["name"]
    assert agent.get(f"/customers/lookup?phone={phone}").status_code == 404


def test_text_is_stored_in_one_normal_form(agent: Any) -> None:
    decomposed = "Jose\u0301 Marti\u0301nez"  # e + combining acute
    c = agent.new_customer(name=decomposed, city="Bogor", tags=["vip"], attributes={"plat": "B 1 XYZ"})
    assert c["name"] == "Jos\u00e9 Mart\u00ednez"  # precomposed (NFC)
    found = agent.get(f"/customers?q={'Jos%C3%A9'}&limit=100").json["items"]
    assert c["id"] in {x["id"] for x in found}
    _problem(agent.post("/customers", {"name": "A", "phone": unique_phone(), "attributes": {"k\u202e": "v"}}), 400)
    _problem(agent.post("/customers", {"name": "A", "phone": unique_phone(), "address": "Jl. \u200b"}), 400)
    kept = agent.post("/customers", {"name": "A", "phone": unique_phone(), "address": "Jl. Merdeka 1\nBogor"})
    assert kept.status_code == 201 and kept.json["address"] == "Jl. Merdeka 1\nBogor"  # an address may span lines


def test_errors_never_repeat_names_the_caller_chose(agent: Any) -> None:
    secret_key, secret_param = "siti.rahayu@contoh.co.id", "0812-9999-1234"
    answers = [
        agent.post("/customers", {"name": "A", "phone": unique_phone(), secret_key: 1}),
        agent.post("/customers", {"name": "A", "phone": unique_phone(), "attributes": {secret_key: "v" * 300}}),
        agent.post("/customers", {"name": "A", "phone": unique_phone(), "attributes": {secret_key * 2: "v"}}),
        agent.post("/customers", {"name": "A", "phone": unique_phone(),
                                  "consent": {"sms_marketing": {"value": True, "source": "x", secret_key: 1}}}),
        agent.get(f"/customers?{secret_param}=1"),
        agent.get(f"/customers/lookup?phone=0812&{secret_key}=x"),
    ]
    for r in answers:
        problem = _problem(r, 400)
        assert secret_key not in r.body.decode() and secret_param not in r.body.decode(), problem
        assert all("*" in e["field"] for e in problem["errors"] if "known field" in e["message"]), problem


def test_authenticated_answers_are_never_cached_and_public_ones_may_be(agent: Any, api: Any) -> None:
    c = agent.new_customer()
    for r in (agent.get(f"/customers/{c['id']}"), agent.get("/customers?limit=1"),
              agent.get("/customers/01HNOPE0000000000000000000"), agent.post("/customers", {"name": ""})):
        assert r.headers["Cache-Control"] == "no-store", (r.status_code, r.headers)
        assert r.headers["Pragma"] == "no-cache"
    assert api.get("/customers").headers["Cache-Control"] == "no-store"  # the gateway's own 401 too
    for path in ("/health", "/openapi.json"):
        assert "Cache-Control" not in api.get(path).headers


class _Calls:
    """The AWS API calls one request makes (botocore's one entry point), by operation name: this thread's only (the
    session's stream consumer works in a thread of its own)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import threading

        from botocore.client import BaseClient

        self.names: list[str] = []
        real = BaseClient._make_api_call
        mine = threading.get_ident()

        def counted(client: Any, operation: str, params: Any) -> Any:
            if threading.get_ident() == mine:
                self.names.append(operation)
            return real(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", counted)

    def during(self, call: Any) -> tuple[Any, list[str]]:
        self.names.clear()
        result = call()
        return result, list(self.names)


def test_another_branch_customer_costs_what_no_customer_costs(as_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The answers are the same (tests/test_attacks.py); the work behind them is too, so time tells nothing."""
    held = as_user("agent.jakarta").new_customer(email=f"{uuid.uuid4().hex}@contoh.co.id")
    probe = as_user("agent.bandung")
    calls = _Calls(monkeypatch)
    for there, nowhere in (
        (f"/customers/lookup?phone={held['phone'].replace('+', '%2B')}", f"/customers/lookup?phone={unique_phone()}"),
        (f"/customers/lookup?email={held['email']}", f"/customers/lookup?email={uuid.uuid4().hex}@contoh.co.id"),
        (f"/customers/{held['id']}", f"/customers/{new_id()}"),  # a well-formed id that names nobody
        (f"/customers/{held['id']}/timeline", f"/customers/{new_id()}/timeline"),
    ):
        a, a_calls = calls.during(lambda there=there: probe.get(there))
        b, b_calls = calls.during(lambda nowhere=nowhere: probe.get(nowhere))
        assert (a.status_code, a.body) == (b.status_code, b.body) and a.status_code == 404
        assert a_calls == b_calls, (there, a_calls, b_calls)


def test_a_taken_contact_costs_the_same_whoever_may_see_its_holder(as_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    held = as_user("agent.jakarta").new_customer()
    calls = _Calls(monkeypatch)
    hidden, hidden_calls = calls.during(lambda: as_user("agent.bandung").post(
        "/customers", {"name": "Probe", "phone": held["phone"]}))
    named, named_calls = calls.during(lambda: as_user("agent.jakarta").post(
        "/customers", {"name": "Probe", "phone": held["phone"]}))
    assert _problem(hidden, 409).get("existing_customer_id") is None
    assert _problem(named, 409)["existing_customer_id"] == held["id"]
    assert hidden_calls == named_calls
