"""Vehicles through the API as the service desk uses them (register, find by plate, give to another owner, scoping,
erasure), and the VIN and plate rules on their own."""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import quote

import pytest

from chalicelib.domain.vehicles import normalize_plate, normalize_vin
from tests.conftest import unique_phone

VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


def new_vin() -> str:
    return "MH" + "".join(random.choices(VIN_CHARS, k=15))


def new_plate() -> str:
    return f"{random.choice(['B', 'D', 'L', 'AB'])} {random.randint(1, 9999)} {''.join(random.choices('ABCDEFGHJKLMNPRSTUVWXYZ', k=3))}"


def _body(**fields: Any) -> dict[str, Any]:
    return {"vin": new_vin(), "plate_no": new_plate(), "make": "Toyota", "model": "Avanza", "year": 2022,
            "color": "Silver", "last_odometer_km": 12000, **fields}


def _lookup(caller: Any, plate: str) -> Any:
    return caller.get(f"/vehicles/lookup?plate={quote(plate)}")


def _register(caller: Any, customer_id: str, **fields: Any) -> Any:
    return caller.post(f"/customers/{customer_id}/vehicles", _body(**fields))


@pytest.mark.parametrize("raw", ["MHFXW42G8K1234567", "mhfxw42g8k1234567", " MHFXW42G8K 1234567 "])
def test_a_vin_is_17_letters_and_digits_in_upper_case(raw: str) -> None:
    assert normalize_vin(raw) == "MHFXW42G8K1234567"


@pytest.mark.parametrize(("raw", "why"), [("MHFXW42G8K123456", "17 characters"), ("MHFXW42G8K12345678", "17"),
                                          ("MHFXW42G8K123456O", "O"), ("IHFXW42G8K1234567", "I"),
                                          ("MHFXW42G8K12345Q7", "Q"), ("MHFXW42G8K12345-7", "A-Z")])
def test_a_vin_with_i_o_q_or_the_wrong_length_is_refused_saying_why(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        normalize_vin(raw)


@pytest.mark.parametrize("raw", ["B 1234 XYZ", "b1234xyz", "B-1234-XYZ", "  b 1234xyz ", "B.1234.XYZ"])
def test_the_spellings_of_one_plate_are_one_plate(raw: str) -> None:
    plate = normalize_plate(raw)
    assert (plate.key, plate.display) == ("B1234XYZ", "B 1234 XYZ")


@pytest.mark.parametrize(("raw", "display"), [("AB 1 C", "AB 1 C"), ("D 12", "D 12"), ("L1234AB", "L 1234 AB")])
def test_plates_of_other_regions_and_lengths(raw: str, display: str) -> None:
    assert normalize_plate(raw).display == display


@pytest.mark.parametrize("raw", ["1234 XYZ", "ABC 1 X", "B 12345 X", "B 1 WXYZ", "B X 12", ""])
def test_what_is_no_indonesian_plate_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="Indonesian plate"):
        normalize_plate(raw)


def test_a_vehicle_is_registered_read_listed_and_found_by_any_spelling_of_its_plate(as_user: Any) -> None:
    agent = as_user("agent.bandung")
    owner = agent.new_customer(branch_id="bandung", name="Dewi Lestari")
    plate = f"D {random.randint(1000, 9999)} ABC"
    r = _register(agent, owner["id"], plate_no=plate.lower().replace(" ", "-"), warranty_end="2099-01-01")
    assert r.status_code == 201, r.body
    v = r.json
    assert r.headers["Location"] == f"/vehicles/{v['vin']}" and r.headers["ETag"] == '"v1"'
    assert v["plate_no"] == plate and v["owner_id"] == owner["id"] and v["branch_id"] == "bandung"
    assert v["under_warranty"] is True and v["history"][0]["change"] == "created"
    assert agent.get(f"/vehicles/{v['vin'].lower()}").json["vin"] == v["vin"]
    for spelling in (plate, plate.replace(" ", ""), plate.replace(" ", "-").lower()):
        found = _lookup(agent, spelling)
        assert found.status_code == 200, found.body
        assert found.json["vehicle"]["vin"] == v["vin"]
        assert found.json["owner"] == {"id": owner["id"], "name": "Dewi Lestari", "phone": owner["phone"],
                                       "language": owner["language"]}
    listed = agent.get(f"/customers/{owner['id']}/vehicles").json["items"]
    assert listed == [{"vin": v["vin"], "plate_no": plate, "make": "Toyota", "model": "Avanza", "year": 2022,
                       "color": "Silver"}]


def test_bad_vehicles_are_400_naming_the_field_and_make_nothing(as_user: Any) -> None:
    agent = as_user("agent.bandung")
    owner = agent.new_customer(branch_id="bandung")
    cases = {"vin": {"vin": "MHFXW42G8K123456O"}, "plate_no": {"plate_no": "12345"}, "year": {"year": 1900},
             "last_odometer_km": {"last_odometer_km": -1}, "purchase_date": {"purchase_date": "2026-02-30"}}
    for field, bad in cases.items():
        r = _register(agent, owner["id"], **bad)
        assert r.status_code == 400, (field, r.body)
        assert r.json["errors"][0]["field"] == field, r.body
    backwards = _register(agent, owner["id"], purchase_date="2024-05-01", warranty_end="2024-04-30")
    assert backwards.status_code == 400 and backwards.json["errors"][0]["field"] == "warranty_end"
    assert agent.get(f"/customers/{owner['id']}/vehicles").json["items"] == []
    assert _lookup(agent, "B 1 X!").status_code == 400


def test_a_vin_or_plate_taken_is_409_naming_the_vehicle_only_to_whom_may_see_it(as_user: Any) -> None:
    bandung, jakarta = as_user("agent.bandung"), as_user("agent.jakarta")
    first = _register(bandung, bandung.new_customer(branch_id="bandung")["id"]).json
    second_owner = bandung.new_customer(branch_id="bandung")
    same_vin = _register(bandung, second_owner["id"], vin=first["vin"])
    assert same_vin.status_code == 409 and same_vin.json["field"] == "vin"
    assert same_vin.json["existing_vin"] == first["vin"]
    same_plate = _register(bandung, second_owner["id"], plate_no=first["plate_no"].replace(" ", "").lower())
    assert same_plate.status_code == 409 and same_plate.json["field"] == "plate_no"
    assert same_plate.json["existing_vin"] == first["vin"]
    other = jakarta.new_customer(branch_id="jakarta")
    hidden = _register(jakarta, other["id"], plate_no=first["plate_no"])
    assert hidden.status_code == 409 and hidden.json["field"] == "plate_no" and "existing_vin" not in hidden.json
    assert first["vin"] not in str(hidden.json)
    assert bandung.get(f"/customers/{second_owner['id']}/vehicles").json["items"] == []


def test_another_branch_vehicle_answers_like_no_vehicle(as_user: Any) -> None:
    bandung, jakarta = as_user("agent.bandung"), as_user("agent.jakarta")
    owner = bandung.new_customer(branch_id="bandung")
    v = _register(bandung, owner["id"]).json
    unknown_vin, unknown_plate = new_vin(), new_plate()
    for theirs, nobody in ((jakarta.get(f"/vehicles/{v['vin']}"), jakarta.get(f"/vehicles/{unknown_vin}")),
                           (_lookup(jakarta, v["plate_no"]), _lookup(jakarta, unknown_plate))):
        assert theirs.status_code == nobody.status_code == 404
        assert theirs.json == nobody.json
    assert jakarta.patch(f"/vehicles/{v['vin']}", {"color": "Red"}, headers={"If-Match": '"v1"'}).status_code == 404
    assert jakarta.get(f"/customers/{owner['id']}/vehicles").status_code == 404
    assert _register(jakarta, owner["id"]).status_code == 404
    for role in ("marketing", "analyst"):
        assert as_user(role).get(f"/vehicles/{v['vin']}").status_code == 403


def test_a_change_needs_if_match_and_a_new_plate_frees_the_old_one(as_user: Any) -> None:
    agent = as_user("agent.bandung")
    owner = agent.new_customer(branch_id="bandung")
    v = _register(agent, owner["id"]).json
    path = f"/vehicles/{v['vin']}"
    assert agent.patch(path, {"color": "Red"}).status_code == 428
    assert agent.patch(path, {"color": "Red"}, headers={"If-Match": '"v9"'}).status_code == 412
    assert agent.patch(path, {"make": None}, headers={"If-Match": '"v1"'}).status_code == 400
    new_plate_no = new_plate()
    changed = agent.patch(path, {"plate_no": new_plate_no, "last_service_date": "2026-11-02",
                                 "last_odometer_km": 21000}, headers={"If-Match": '"v1"'})
    assert changed.status_code == 200, changed.body
    assert changed.headers["ETag"] == '"v2"' and changed.json["plate_no"] == new_plate_no
    assert [h["change"] for h in changed.json["history"]] == ["created", "plate", "last_service_date",
                                                              "last_odometer_km"]
    assert _lookup(agent, v["plate_no"]).status_code == 404
    assert _lookup(agent, new_plate_no).json["vehicle"]["vin"] == v["vin"]
    reused = _register(agent, owner["id"], plate_no=v["plate_no"])  # the old plate is free again
    assert reused.status_code == 201, reused.body
    assert agent.get(f"/customers/{owner['id']}/vehicles").json["items"][0]["plate_no"] in (new_plate_no,
                                                                                           v["plate_no"])


def test_a_new_owner_takes_the_vehicle_to_their_branch_and_its_history_stays(as_user: Any) -> None:
    admin, bandung, jakarta = as_user("admin"), as_user("agent.bandung"), as_user("agent.jakarta")
    seller = bandung.new_customer(branch_id="bandung")
    buyer = jakarta.new_customer(branch_id="jakarta")
    v = _register(bandung, seller["id"]).json
    refused = bandung.patch(f"/vehicles/{v['vin']}", {"owner_id": buyer["id"]}, headers={"If-Match": '"v1"'})
    assert refused.status_code == 400 and refused.json["errors"][0]["field"] == "owner_id"  # not theirs to see
    sold = admin.patch(f"/vehicles/{v['vin']}", {"owner_id": buyer["id"]}, headers={"If-Match": '"v1"'})
    assert sold.status_code == 200, sold.body
    assert sold.json["owner_id"] == buyer["id"] and sold.json["branch_id"] == "jakarta"
    assert sold.json["history"][-1] == {"at": sold.json["updated_at"], "by": sold.json["history"][-1]["by"],
                                        "change": "owner", "from": None, "to": None}  # names nobody
    assert bandung.get(f"/vehicles/{v['vin']}").status_code == 404
    assert jakarta.get(f"/vehicles/{v['vin']}").json["history"][0]["change"] == "created"
    assert bandung.get(f"/customers/{seller['id']}/vehicles").json["items"] == []
    assert [x["vin"] for x in jakarta.get(f"/customers/{buyer['id']}/vehicles").json["items"]] == [v["vin"]]
    assert _lookup(jakarta, v["plate_no"]).json["owner"]["id"] == buyer["id"]


def test_the_desk_sees_the_owner_as_the_profile_is_now(as_user: Any, stream_pump: Any) -> None:
    """The lookup reads the vehicle's partition only: its copy of the owner follows the profile (the stream)."""
    agent = as_user("agent.bandung")
    owner = agent.new_customer(branch_id="bandung", name="Rina Wati")
    v = _register(agent, owner["id"]).json
    changed = agent.patch(f"/customers/{owner['id']}", {"name": "Rina Wati Santoso", "phone": unique_phone(),
                                                        "language": "en"}, headers={"If-Match": '"v1"'})
    assert changed.status_code == 200, changed.body
    stream_pump.drain(30)
    seen = _lookup(agent, v["plate_no"]).json["owner"]
    assert seen == {"id": owner["id"], "name": "Rina Wati Santoso", "phone": changed.json["phone"], "language": "en"}
    # the refresh made a new version: an edit made from what was read before is refused, not undone
    stale = agent.patch(f"/vehicles/{v['vin']}", {"color": "Biru"}, headers={"If-Match": '"v1"'})
    assert stale.status_code == 412


def test_a_customer_who_moves_branch_takes_their_vehicles_along(as_user: Any) -> None:
    admin, bandung, jakarta = as_user("admin"), as_user("agent.bandung"), as_user("agent.jakarta")
    owner = bandung.new_customer(branch_id="bandung")
    v = _register(bandung, owner["id"]).json
    moved = admin.patch(f"/customers/{owner['id']}", {"branch_id": "jakarta"}, headers={"If-Match": '"v1"'})
    assert moved.status_code == 200, moved.body
    assert jakarta.get(f"/vehicles/{v['vin']}").json["branch_id"] == "jakarta"
    assert _lookup(jakarta, v["plate_no"]).status_code == 200
    assert bandung.get(f"/vehicles/{v['vin']}").status_code == 404


def test_erasing_the_owner_keeps_the_vehicle_and_its_history_without_them(as_user: Any) -> None:
    admin, agent = as_user("admin"), as_user("agent.bandung")
    owner = agent.new_customer(branch_id="bandung", name="Hapus Saya")
    v = _register(agent, owner["id"]).json
    assert admin.delete(f"/customers/{owner['id']}").status_code == 204
    kept = agent.get(f"/vehicles/{v['vin']}")
    assert kept.status_code == 200 and kept.json["owner_id"] is None
    assert [h["change"] for h in kept.json["history"]] == ["created", "owner_erased"]
    found = _lookup(agent, v["plate_no"]).json
    assert found["owner"] is None and found["vehicle"]["vin"] == v["vin"]
    text = str(kept.json) + str(found)
    assert owner["id"] not in text and "Hapus Saya" not in text and owner["phone"] not in text
    assert _register(agent, agent.new_customer(branch_id="bandung")["id"], plate_no=v["plate_no"]).status_code == 409
    # a new owner can take it over
    buyer = agent.new_customer(branch_id="bandung")
    taken = agent.patch(f"/vehicles/{v['vin']}", {"owner_id": buyer["id"]}, headers={"If-Match": kept.headers["ETag"]})
    assert taken.status_code == 200 and taken.json["owner_id"] == buyer["id"]


def test_the_next_service_is_a_due_item_that_follows_the_last_service_the_odometer_and_the_owner(
        as_user: Any, stream_pump: Any) -> None:
    """The daily reminders remind the owner at T-7, T-1 and T-0 of the service due item the vehicle keeps."""
    from datetime import date, datetime, timedelta
    from zoneinfo import ZoneInfo

    admin, agent = as_user("admin"), as_user("agent.bandung")
    owner = agent.new_customer(branch_id="bandung")
    v = _register(agent, owner["id"], last_service_date="2026-10-15", last_odometer_km=None).json

    def service_items(customer_id: str) -> list[dict[str, Any]]:
        stream_pump.drain(30)
        items = admin.get(f"/customers/{customer_id}/due-items").json["items"]
        return [i for i in items if i["kind"] == "service"]

    first = service_items(owner["id"])
    assert [(i["due_date"], i["title"]) for i in first] == [("2027-04-15", "Servis berkala Toyota Avanza")]
    # a heavy user: 30,000 km in the 200 days since purchase is 150 km a day, 10,000 km in 66 days
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()  # the deployment's calendar
    purchase = (today - timedelta(days=200)).isoformat()
    changed = agent.patch(f"/vehicles/{v['vin']}", {"purchase_date": purchase, "last_odometer_km": 30000},
                          headers={"If-Match": '"v1"'})
    assert changed.status_code == 200, changed.body
    by_distance = (date(2026, 10, 15) + timedelta(days=int(10000 / (30000 / 200)))).isoformat()
    second = service_items(owner["id"])
    assert [i["due_date"] for i in second] == [by_distance] and second[0]["id"] == first[0]["id"]
    buyer = agent.new_customer(branch_id="bandung")
    sold = agent.patch(f"/vehicles/{v['vin']}", {"owner_id": buyer["id"]}, headers={"If-Match": '"v2"'})
    assert sold.status_code == 200, sold.body
    assert service_items(owner["id"]) == []
    assert [i["due_date"] for i in service_items(buyer["id"])] == [by_distance]
