"""Quality control: complaints of category quality_control carry what QC traces a defect by (VIN, part, batch,
defect code) and QC's finding whether it came from the factory; the nightly export clusters factory defects
(model x part x batch over 28 days) for QC and admins."""

from __future__ import annotations

from typing import Any

from tests.test_vehicles import _register


def _qc(caller: Any, customer_id: str, **fields: Any) -> Any:
    return caller.post(f"/customers/{customer_id}/complaints", {
        "category": "quality_control", "severity": "high", "subject": "Aki cepat soak",
        "description": "Aki baru soak dalam dua minggu", **fields})


def test_a_quality_complaint_carries_its_trace_and_qc_marks_factory_defects(as_user: Any) -> None:
    agent = as_user("agent.surabaya")
    owner = agent.new_customer(branch_id="surabaya")
    vehicle = _register(agent, owner["id"]).json
    made = _qc(agent, owner["id"], vin=vehicle["vin"].lower(), part_no="bat-12v-45ah", batch_no="b2026/11",
               defect_code="el-03")
    assert made.status_code == 201, made.body
    case = made.json
    assert (case["vin"], case["part_no"], case["batch_no"], case["defect_code"], case["factory_defect"]) == (
        vehicle["vin"], "BAT-12V-45AH", "B2026/11", "EL-03", None)
    marked = agent.patch(f"/complaints/{case['id']}", {"factory_defect": True}, headers={"If-Match": '"v1"'})
    assert marked.status_code == 200 and marked.json["factory_defect"] is True
    assert marked.json["history"][-1]["change"] == "factory_defect" and marked.json["history"][-1]["to"] == "true"
    unchanged = agent.patch(f"/complaints/{case['id']}", {"factory_defect": True}, headers={"If-Match": '"v2"'})
    assert unchanged.status_code == 200 and unchanged.headers["ETag"] == '"v2"'  # nothing to change


def test_trace_fields_belong_to_quality_complaints_only(as_user: Any) -> None:
    agent = as_user("agent.surabaya")
    owner = agent.new_customer(branch_id="surabaya")
    wrong = agent.post(f"/customers/{owner['id']}/complaints", {
        "category": "service", "severity": "low", "subject": "s", "description": "d", "part_no": "X-1"})
    assert wrong.status_code == 400 and wrong.json["errors"][0]["field"] == "part_no"
    bad_vin = _qc(agent, owner["id"], vin="NOT-A-VIN")
    assert bad_vin.status_code == 400 and bad_vin.json["errors"][0]["field"] == "vin"
    service = agent.post(f"/customers/{owner['id']}/complaints", {
        "category": "service", "severity": "low", "subject": "s", "description": "d"}).json
    refused = agent.patch(f"/complaints/{service['id']}", {"factory_defect": True}, headers={"If-Match": '"v1"'})
    assert refused.status_code == 400 and refused.json["errors"][0]["field"] == "factory_defect"
    assert agent.get(f"/complaints/{service['id']}").json["version"] == 1
