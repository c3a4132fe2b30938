"""Quality control: complaints of category quality_control carry what QC traces a defect by (VIN, part, batch,
defect code) and QC's finding whether it came from the factory; the nightly export clusters factory defects
(model x part x batch over 28 days) for QC and admins."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.analytics import QcReport, defect_clusters
from tests.test_vehicles import _register


def test_a_cluster_needs_three_vehicles_in_28_days_and_leaves_out_what_qc_judged_wear() -> None:
    from datetime import date, timedelta

    day = date(2026, 12, 7)

    def report(vehicle: str, days_ago: int, batch: str = "B1", judged: bool | None = None) -> QcReport:
        return QcReport(vehicle, "P1", batch, day - timedelta(days=days_ago), "bandung", judged)

    models = {"v1": "Avanza", "v2": "Avanza", "v3": "Avanza", "v4": "Avanza", "x": "Brio"}
    assert defect_clusters([report("v1", 0), report("v2", 27), report("v3", 5)], models, day)[0]["vehicles"] == 3
    assert defect_clusters([report("v1", 0), report("v2", 28), report("v3", 5)], models, day) == []  # outside
    assert defect_clusters([report("v1", 0), report("v1", 1), report("v2", 2)], models, day) == []  # 2 vehicles
    assert defect_clusters([report("v1", 0), report("v2", 1), report("v3", 2, judged=False)], models, day) == []
    assert defect_clusters([report("v1", 0), report("v2", 1), report("x", 2)], models, day) == []  # two models
    mixed = defect_clusters([report("v1", 0), report("v2", 1), report("v3", 2, batch="B2"), report("v4", 3)],
                            models, day)
    assert [(c["batch_no"], c["vehicles"]) for c in mixed] == [("B1", 3)]


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


def test_three_vehicles_of_a_model_with_one_part_batch_make_a_defect_cluster_in_the_export_and_insights(
        as_user: Any, stack: dict[str, str]) -> None:
    import uuid

    from tests.test_analytics_export import export, rows, today

    agent, admin = as_user("agent.bandung"), as_user("admin")
    model = f"QC{uuid.uuid4().hex[:6]}"
    batch = f"B-{uuid.uuid4().hex[:6]}"
    vehicles, cases = [], []
    for n in range(4):
        owner = agent.new_customer(branch_id="bandung", name=f"Pemilik Rahasia {n}")
        v = _register(agent, owner["id"], model=model).json
        vehicles.append(v)
        if n < 3:  # three vehicles: a cluster (the fourth complains of another batch)
            cases.append(_qc(agent, owner["id"], vin=v["vin"], part_no="ALT-90A", batch_no=batch).json)
        else:
            _qc(agent, owner["id"], vin=v["vin"], part_no="ALT-90A", batch_no="OTHER-1")
    agent.patch(f"/complaints/{cases[0]['id']}", {"factory_defect": True}, headers={"If-Match": '"v1"'})
    export(as_user("analyst"), today())
    _, clusters = rows(stack["EXPORT_BUCKET"], "defect_clusters", today())
    mine = [c for c in clusters if c["model"] == model]
    assert mine == [{"model": model, "part_no": "ALT-90A", "batch_no": batch.upper(), "vehicles": 3, "complaints": 3,
                     "factory_defects": 1, "first_on": today().isoformat(), "last_on": today().isoformat(),
                     "branches": ["bandung"]}]
    _, exported_vehicles = rows(stack["EXPORT_BUCKET"], "vehicles", today())
    text = str(exported_vehicles)
    assert all(v["vin"] not in text and v["plate_no"] not in text for v in vehicles)
    assert "Pemilik Rahasia" not in text and sum(r["model"] == model for r in exported_vehicles) == 4
    insights = admin.get("/analytics/insights?branch=bandung").json["defect_clusters"]
    assert any(c["model"] == model and c["vehicles"] == 3 for c in insights)
    assert not [c for c in admin.get("/analytics/insights?branch=jakarta").json["defect_clusters"]
                if c["model"] == model]
