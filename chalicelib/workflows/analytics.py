"""The analytics export: one day's snapshot of the CRM, without personal data, to S3 for Athena.

Fired daily by the `analytics-export` schedule (02:00 in TIMEZONE, for
yesterday) and on demand by `POST /analytics/exports`, which records a queued
run and invokes the same function asynchronously with the day and run id.

A full run (the weekly compaction, any run asked for: domain/exports.py
`full_run`) makes one pass over the table (chalicelib/persistence/export_source.py)
and writes the snapshot datasets (customers, notifications, complaints with
their history, shipments...); a nightly run reads customers, complaints and
orders through their indexes instead, no Scan, and leaves the
COMPACTED_DATASETS as the last full run wrote them. Contacts are
interaction_events facts; what the analyses need of contacts and messages comes
from each customer's engagement item (chalicelib/domain/engagement.py). Either
run feeds the analyses (chalicelib/domain/analytics.py),
which are written as datasets of their own: rfm, churn_risk,
complaint_root_causes, anomalies, defect_clusters; the orders, read first and
oldest first through `orders_all`, are written (orders, order_lines) from that
read and feed the money analyses (chalicelib/domain/finance.py):
profitability, basket_rules, transaction_flags, revenue_forecast. Then the
day's change log (chalicelib/persistence/change_log.py) gives the facts, each
written once into the day it happened, and the entities changed that day
(the *_changed datasets). Memory is
bounded by what waits to be uploaded (one part per dataset), a block of
EXPORT_OPT_OUT_BLOCK customers, the complaint features of customers who
complained, the analyses' accumulators (days x branches x categories), and per
customer with orders a few numbers (profit per month, the last 20 amounts, the
baskets of 180 days); not by the number of interactions. The API's churn,
anomaly, insight and money answers are stored in the analytics table at the end.

Every dataset's symlink file (what Athena reads) and `_manifest.json` are
written after all its parts; a re-run of a day writes new parts, switches the
symlink file and the manifest, then deletes the old parts
(chalicelib/persistence/export_files.py).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from chalicelib.config import (
    ANOMALY_API_DAYS,
    ANOMALY_API_MAX_ITEMS,
    ANOMALY_WINDOW_DAYS,
    BASKET_DAYS,
    CATCH_UP_DAYS,
    CHURN_SLOW_RESOLUTION_MIN_HOURS,
    CHURN_TOP_PER_BRANCH,
    EXPORT_LEASE_SECONDS,
    FLAGS_API_MAX_ITEMS,
    FORECAST_ACTUAL_MONTHS,
    INSIGHTS_DEFECT_CLUSTERS_MAX,
    INSIGHTS_ROOT_CAUSES_MAX_ROWS,
    PROFIT_MONTHS,
    PROFIT_TOP_CUSTOMERS,
    ROOT_CAUSE_TREND_WEEKS,
    cost_to_serve,
    settings,
)
from chalicelib.domain import analytics as an
from chalicelib.domain import campaigns as cmp
from chalicelib.domain import engagement as eng
from chalicelib.domain import exports as ex
from chalicelib.domain import finance as fin
from chalicelib.domain.clock import iso, local_today, new_id, parse_iso, utcnow
from chalicelib.domain.orders import REVENUE_STATUSES
from chalicelib.observability import count, flush, logger

if TYPE_CHECKING:
    from collections.abc import Callable

    from chalicelib.persistence import export_source

EXPORT_OPT_OUT_BLOCK = 100  # customers whose opt-out is looked up in one BatchGetItem
_CLOSED = ("resolved", "closed")


@dataclass
class _ComplaintFeatures:
    open: int = 0
    last_90_days: int = 0
    breached_365_days: int = 0
    slow_365_days: int = 0


@dataclass
class _Range:
    first: str | None = None
    last: str | None = None

    def add(self, stamp: str | None) -> None:
        if stamp:
            self.first = stamp if self.first is None or stamp < self.first else self.first
            self.last = stamp if self.last is None or stamp > self.last else self.last


class _Run:
    def __init__(self, day: date, run_id: str, *, bucket: str, secret: bytes, timezone: str, full: bool,
                 engagement_covers: bool) -> None:
        from chalicelib.persistence import change_log, export_files

        self.day, self.run_id, self.bucket = day, run_id, bucket
        self.key = ex.Pseudonymizer(secret)
        self.snap = ex.Snapshot(day, timezone)
        self.dt = day.isoformat()
        self.old_keys: dict[str, list[str]] = {}
        self.writers: dict[str, export_files.PartWriter] = {}
        self.ranges: dict[str, _Range] = defaultdict(_Range)
        # the change log's datasets only while the log still holds the day: a re-run of an older day leaves the
        # facts and the deltas it wrote as they are
        today = self.today = date.fromisoformat(str(self.snap.local_date(iso(utcnow()))))
        self.follows_log = change_log.holds(day, today)
        for name in ex.DATASETS:
            if (name in ex.CHANGED_DATASETS and not self.follows_log) or (name in ex.COMPACTED_DATASETS and not full):
                continue
            existing = export_files.keys_under(bucket, export_files.partition_prefix(name, self.dt))
            self.old_keys[name] = existing
            self.writers[name] = export_files.PartWriter(bucket, name, self.dt,
                                                         first_number=export_files.next_part_number(existing))
        self.complaint_features: dict[str, _ComplaintFeatures] = {}
        self.monetary: dict[str, Decimal] = defaultdict(Decimal)  # customer id -> net revenue, last 365 days
        # campaign audiences' facts (chalicelib/domain/campaigns.py AudienceFacts): the categories of each
        # customer's revenue orders of the last 365 days and their last order's day; written by the runs of
        # yesterday or later only, so a re-run of an old day never turns them back
        self.categories: dict[str, set[str]] = defaultdict(set)
        self.last_order: dict[str, date] = {}
        self.facts: dict[str, cmp.AudienceFacts] = {}
        self.writes_facts = day >= today - timedelta(days=1)
        # customers' profiles and engagement items (None: to read with the block's BatchGetItem)
        self.block: list[tuple[dict[str, Any], eng.Kept | None]] = []
        # what the analyses count of contacts: the engagement items, unless the day is older than they reach
        self.engagement_covers = engagement_covers
        self.root_causes = an.RootCauses()
        self.daily = an.DailyCounts()
        self.at_risk: dict[str, list[tuple[int, str, an.ChurnRisk]]] = defaultdict(list)
        # per branch: customers per RFM segment and per churn band, for GET /analytics/insights
        self.segments: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.bands: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.recent_root_causes: list[dict[str, Any]] = []
        self.growing: list[dict[str, object]] = []
        # quality control: the complaints naming a part and batch, their vehicles' VINs by key, and models by key
        self.qc_reports: list[an.QcReport] = []
        self.qc_vins: dict[str, str] = {}
        self.model_of: dict[str, str] = {}
        self.defects: list[dict[str, Any]] = []
        # the money analyses (chalicelib/domain/finance.py): orders oldest first, messages sent, complaints
        self.profit = fin.Profitability(day, PROFIT_MONTHS, cost_to_serve())
        self.baskets = fin.Baskets(day, BASKET_DAYS)
        self.revenue = fin.MonthlyRevenue()
        self.flags = fin.TransactionFlags(day, fin.FlagRules())
        self.customer_ids: dict[str, str] = {}  # customer_key -> id of customers with orders (the API's managers)
        self.switched: set[str] = set()  # datasets whose readers now see this run's parts
        self.changed_customers: list[dict[str, Any]] = []  # customers changed on the day, awaiting their opt-out

    # ------------------------------------------------------------------ writing

    def write(self, dataset: str, row: dict[str, Any], stamp: str | None = None) -> None:
        self.writers[dataset].write(row)
        self.ranges[dataset].add(stamp)

    # ------------------------------------------------------------------ complaints first: features per customer

    def read_complaint_features(self) -> None:
        from chalicelib.persistence import export_source

        ends = self.snap.ends_at
        for c in export_source.complaints():
            if not self.snap.includes(c.get("created_at")):
                continue
            # changed since the day (a few, for last night's export): its history says where it stood
            history = export_source.complaint_history(str(c["id"]), ends) if ex.changed_since(c, ends) else []
            state = ex.complaint_state(c, history, ends)
            self.complaint_analyses(c, state)
            f = self.complaint_features.setdefault(str(c["customer_id"]), _ComplaintFeatures())
            days_ago = (self.day - date.fromisoformat(str(self.snap.local_date(c["created_at"])))).days
            if state.status not in _CLOSED:
                f.open += 1
            if days_ago < 90:
                f.last_90_days += 1
            if days_ago < 365:
                f.breached_365_days += state.breached
                f.slow_365_days += _slow(c, state)

    def complaint_analyses(self, complaint: dict[str, Any], state: ex.ComplaintState) -> None:
        """A complaint as of the day in the analyses: root causes, daily counts (anomalies), QC's reports,
        profitability's complaints handled."""
        branch, vin = str(complaint["branch_id"]), complaint.get("vin")
        created_on = date.fromisoformat(str(self.snap.local_date(complaint["created_at"])))
        if vin and complaint.get("part_no") and complaint.get("batch_no"):
            vehicle_key = str(self.key("vehicle", vin))
            self.qc_vins[vehicle_key] = str(vin)
            self.qc_reports.append(an.QcReport(vehicle_key, str(complaint["part_no"]), str(complaint["batch_no"]),
                                               created_on, branch, complaint.get("factory_defect")))
        self.profit.add_complaint(str(self.key("customer", complaint["customer_id"])), branch, created_on)
        self.root_causes.add(created_on=created_on, category=str(complaint["category"]),
                             department=str(complaint["department"]), branch_id=branch, breached=state.breached)
        self.daily.add(day=created_on, branch_id=branch, metric="complaints", dimension=str(complaint["category"]))

    def read_vehicle_models(self) -> None:
        """The models of the vehicles QC's reports name (what its clusters are by): a BatchGetItem per 100."""
        from chalicelib.persistence import export_source

        found = export_source.vehicle_models(self.qc_vins.values())
        for vehicle_key, vin in self.qc_vins.items():
            vehicle = found.get(vin)
            if vehicle is not None and self.snap.includes(vehicle.get("created_at")):
                self.model_of[vehicle_key] = str(vehicle["model"])

    def read_order_features(self) -> None:
        """Every order placed by the day, oldest first (the `orders_all` index), feeds the money analyses, and
        RFM's monetary value: net totals of each customer's orders placed in the 365 days up to the day that are
        revenue (their status now)."""
        from chalicelib.persistence import export_source

        for o in export_source.orders():
            if not self.snap.includes(o.get("placed_at")):
                continue
            self.money_facts(o)
            if o["status"] not in REVENUE_STATUSES:
                continue
            placed_on = date.fromisoformat(str(self.snap.local_date(o["placed_at"])))
            customer_id = str(o["customer_id"])
            if (self.day - placed_on).days < 365:
                self.monetary[customer_id] += Decimal(str(o["net_total"]))
                self.categories[customer_id].update(str(line.get("category") or "other")
                                                    for line in json.loads(str(o.get("lines") or "[]")))
            if customer_id not in self.last_order or placed_on > self.last_order[customer_id]:
                self.last_order[customer_id] = placed_on

    def money_facts(self, o: dict[str, Any]) -> None:
        """The order's rows (orders, order_lines) and its facts for the money analyses: from the same read."""
        row, lines = ex.order_rows(o, self.key, self.snap)
        self.write("orders", row, o["placed_at"])
        for line in lines:
            self.write("order_lines", line, o["placed_at"])
        fact = fin.order_fact(row, lines, str(o["id"]))
        if not row["customer_erased"]:
            self.customer_ids[fact.customer_key] = str(o["customer_id"])
        self.profit.add_order(fact)
        self.baskets.add_order(fact)
        self.revenue.add_order(fact)
        self.flags.add(fact)

    # ------------------------------------------------------------------ the table, group by group

    def order_group(self, records: export_source.OrderRecords) -> None:
        """The order's shipments (its own rows were written from `orders_all`, by `money_facts`)."""
        order = records.order
        if order is None or not self.snap.includes(order.get("placed_at")):
            return
        for shipment in records.shipments:
            if self.snap.includes(shipment.get("created_at")):
                self.write("shipments", ex.shipment_row(shipment, records.events.get(str(shipment["id"]), []),
                                                        self.key, self.snap), shipment["created_at"])

    def campaign_group(self, records: export_source.CampaignRecords) -> None:
        campaign = records.campaign
        if campaign is None or not self.snap.includes(campaign.get("created_at")):
            return
        self.write("campaigns", ex.campaign_row(campaign, self.snap), campaign["created_at"])
        for item in records.recipients:
            if self.snap.includes(item.get("snapshot_at")):
                row = ex.campaign_recipient_row(item, self.key, self.snap)
                self.write("campaign_recipients", row, item["snapshot_at"])
                if row["sent_on"] and not self.engagement_covers:  # else: its customer's engagement item
                    self.profit.add_message(str(row["customer_key"]), str(row["branch_id"]),
                                            date.fromisoformat(str(row["sent_on"])), str(campaign["channel"]),
                                            int(row["parts"] or 1))

    def product_group(self, records: export_source.ProductRecords) -> None:
        if records.product is not None and self.snap.includes(records.product.get("created_at")):
            self.write("products", ex.product_row(records.product), records.product["created_at"])

    def customer_group(self, records: export_source.CustomerRecords) -> None:
        from chalicelib.persistence import engagement

        profile = records.profile
        if profile is None or not self.snap.includes(profile.get("created_at")):
            return  # erased meanwhile, or created after the day: nothing of it is exported
        for item in records.interactions:
            # a contact is a fact (interaction_events: exported once, by the day it happened); what the analyses
            # need of contacts and messages is the customer's engagement item: only the CRM's messages are read here
            if self.snap.includes(item.get("occurred_at")) and ex.is_notification(item):
                self.write("notifications", ex.notification_row(item, self.key, self.snap), item["occurred_at"])
        if self.engagement_covers:
            kept = engagement.kept_of(records.engagement)
        else:  # an older day than the items hold: its contacts and messages, one by one
            kept = eng.kept_from((c for i in records.interactions if (c := eng.contact_from(i)) is not None),
                                 (m for i in records.interactions if (m := eng.message_from(i)) is not None))
        self.block.append((profile, kept))
        if len(self.block) >= EXPORT_OPT_OUT_BLOCK:
            self.flush_block()

    def customer_profile(self, profile: dict[str, Any]) -> None:
        """A customer as a nightly run reads them (the `customers_all` index): the profile; its engagement item
        comes with the block's BatchGetItem."""
        if self.snap.includes(profile.get("created_at")):
            self.block.append((profile, None))
            if len(self.block) >= EXPORT_OPT_OUT_BLOCK:
                self.flush_block()

    def flush_block(self) -> None:
        """The block's customers with their opt-outs and, for those read from the index, their engagement items (a
        BatchGetItem each); the run of yesterday (or today) prunes what left the engagement items' windows."""
        from chalicelib.persistence import consent, engagement

        if not self.block:
            return
        opted_out, _ = consent.sms_opted_out_among(str(p["phone"]) for p, _ in self.block)
        items = engagement.kept_among(str(p["id"]) for p, kept in self.block if kept is None)
        for profile, read in self.block:
            kept = read if read is not None else items.get(str(profile["id"]), eng.Kept())
            counted = eng.counted(kept, day=self.day, ends_at=self.snap.ends_at, local_day=self.snap.local_day,
                                  home_branch=str(profile["branch_id"]))
            self.customer_rows(profile, counted, str(profile["phone"]) in opted_out)
            self.messages_sent(profile, kept)
            if self.writes_facts:
                engagement.prune(str(profile["id"]), eng.pruned(kept, self.today, local_day=self.snap.local_day))
        self.block = []
        if self.facts:
            from chalicelib.persistence import campaigns

            campaigns.put_audience_facts(self.facts)
            self.facts = {}

    def messages_sent(self, profile: dict[str, Any], kept: eng.Kept) -> None:
        """What serving the customer cost in messages (profitability): their engagement item's messages sent by the
        day (campaign messages among them, in their campaigns' channels)."""
        customer_key = str(self.key("customer", profile["id"]))
        for message in eng.sent(kept, self.snap.ends_at):
            self.profit.add_message(customer_key, message.branch_id or str(profile["branch_id"]),
                                    self.snap.local_day(message.sent_at), message.channel, message.parts)

    def customer_rows(self, profile: dict[str, Any], customer: eng.Counted, sms_opted_out: bool) -> None:
        branch = str(profile["branch_id"])
        withdrawn = an.consent_withdrawn(profile.get("consent"), str(profile["created_at"]), self.snap.ends_at)
        self.write("customers", ex.customer_row(profile, self.key, self.snap, sms_opted_out=sms_opted_out,
                                                marketing_consent_withdrawn=withdrawn), profile["created_at"])
        for (on, where, channel), n in customer.per_day_channel.items():
            self.daily.add(day=on, branch_id=where, metric="interactions", dimension=channel, n=n)
        engagement = an.Engagement(customer.last_on, customer.last_90, customer.prev_90, customer.last_365,
                                   monetary=float(self.monetary.get(str(profile["id"]), Decimal(0))),
                                   customer_since=date.fromisoformat(str(self.snap.local_date(profile["created_at"]))))
        customer_key = self.key("customer", profile["id"])
        score = an.rfm(engagement, self.day)
        self.write("rfm", {
            "customer_key": customer_key, "branch_id": branch, "recency_days": score.recency_days,
            "frequency": score.frequency, "monetary": score.monetary, "r_score": score.r_score,
            "f_score": score.f_score, "segment": score.segment,
        })
        complaints = self.complaint_features.get(str(profile["id"]), _ComplaintFeatures())
        risk = an.churn_risk(an.ChurnFeatures(
            engagement=engagement, open_complaints=complaints.open,
            complaints_last_90_days=complaints.last_90_days,
            breached_complaints_last_365_days=complaints.breached_365_days,
            slow_resolutions_last_365_days=complaints.slow_365_days,
            sms_opted_out=sms_opted_out, marketing_consent_withdrawn=withdrawn,
        ), self.day)
        self.write("churn_risk", {"customer_key": customer_key, "branch_id": branch, "score": risk.score,
                                  "band": risk.band, "reasons": list(risk.reasons)})
        self.segments[branch][score.segment] += 1
        self.bands[branch][risk.band] += 1
        if self.writes_facts:
            customer_id = str(profile["id"])
            last_order = self.last_order.get(customer_id)
            self.facts[customer_id] = cmp.AudienceFacts(
                as_of=self.dt, rfm_segment=score.segment, churn_band=risk.band,
                last_interaction_on=customer.last_on.isoformat() if customer.last_on else None,
                last_order_on=last_order.isoformat() if last_order else None,
                categories=tuple(sorted(self.categories.get(customer_id, ()))))
        if risk.score > 0:
            self.keep_at_risk(branch, str(profile["id"]), risk)

    def keep_at_risk(self, branch: str, customer_id: str, risk: an.ChurnRisk) -> None:
        """The branch's CHURN_TOP_PER_BRANCH highest scores (ties: lower id first), in bounded memory."""
        kept = self.at_risk[branch]
        kept.append((-risk.score, customer_id, risk))
        if len(kept) >= 2 * CHURN_TOP_PER_BRANCH:
            kept.sort(key=lambda k: an.churn_sort_key(k[1], k[2]))
            del kept[CHURN_TOP_PER_BRANCH:]

    def vehicle_group(self, records: export_source.VehicleRecords) -> None:
        vehicle = records.vehicle
        if vehicle is None or not self.snap.includes(vehicle.get("created_at")):
            return
        self.write("vehicles", ex.vehicle_row(vehicle, self.key), vehicle["created_at"])

    def appointment_group(self, records: export_source.AppointmentRecords) -> None:
        a = records.appointment
        if a is not None and self.snap.includes(a.get("created_at")):
            self.write("appointments", ex.appointment_row(a, self.key, self.snap), a["created_at"])

    def work_order_group(self, records: export_source.WorkOrderRecords) -> None:
        w = records.work_order
        if w is not None and self.snap.includes(w.get("created_at")):
            self.write("work_orders", ex.work_order_row(w, records.history, self.key, self.snap), w["created_at"])

    def complaint_group(self, records: export_source.ComplaintRecords) -> None:
        complaint, history = records.case, records.history
        if complaint is None or not self.snap.includes(complaint.get("created_at")):
            return
        state = ex.complaint_state(complaint, history, self.snap.ends_at)
        self.write("complaints", ex.complaint_row(complaint, history, state, self.key, self.snap),
                   complaint["created_at"])  # its analyses: complaint_analyses, from `complaints_all`

    # ------------------------------------------------------------------ what changed that day (the change log)

    def changed(self, logged: tuple[str, str], item: dict[str, Any] | None) -> None:
        """An entity created, changed or deleted on the day: its row in the delta dataset, as it stands now
        (a complaint: at the end of the day, from its history), or its key and `deleted`."""
        from chalicelib.persistence import export_source

        if item is None or item.get("type") == "customer_erasure":
            gone = ex.deleted_row(*logged, self.key)
            if gone is not None:
                self.write(*gone)
            return
        if not self.snap.includes(item.get("placed_at") if item["type"] == "order" else item.get("created_at")):
            return  # created after the day: the next day's
        kind = item["type"]
        if kind == "customer":
            self.changed_customers.append(item)
            if len(self.changed_customers) >= EXPORT_OPT_OUT_BLOCK:
                self.flush_changed()
        elif kind == "complaint":
            ends = self.snap.ends_at
            history = export_source.complaint_history(str(item["id"]), ends)
            state = ex.complaint_state(item, history, ends)
            self.write("complaints_changed", {**ex.complaint_row(item, history, state, self.key, self.snap),
                                              "deleted": False})
        elif kind == "order":
            self.write("orders_changed", {**ex.order_rows(item, self.key, self.snap)[0], "deleted": False})
        elif kind == "vehicle":
            self.write("vehicles_changed", {**ex.vehicle_row(item, self.key), "deleted": False})
        elif kind == "campaign":
            self.write("campaigns_changed", {**ex.campaign_row(item, self.snap), "deleted": False})

    def flush_changed(self) -> None:
        """The changed customers waiting for their opt-out look-up: one BatchGetItem per block."""
        from chalicelib.persistence import consent

        if not self.changed_customers:
            return
        opted_out, _ = consent.sms_opted_out_among(str(c["phone"]) for c in self.changed_customers)
        for profile in self.changed_customers:
            withdrawn = an.consent_withdrawn(profile.get("consent"), str(profile["created_at"]), self.snap.ends_at)
            self.write("customers_changed", {**ex.customer_row(
                profile, self.key, self.snap, sms_opted_out=str(profile["phone"]) in opted_out,
                marketing_consent_withdrawn=withdrawn), "deleted": False})
        self.changed_customers = []

    # ------------------------------------------------------------------ the analyses, once everything is read

    def analyses(self) -> tuple[list[dict[str, Any]], bool]:
        root_causes = self.root_causes.rows(as_of=self.day)
        recent_since = (self.day - timedelta(weeks=ROOT_CAUSE_TREND_WEEKS)).isoformat()
        for row in root_causes:
            self.write("complaint_root_causes", row)
            if str(row["week_start"]) > recent_since:
                self.recent_root_causes.append(row)
        self.growing = an.growing_categories(root_causes, weeks=ROOT_CAUSE_TREND_WEEKS) if root_causes else []
        self.defects = an.defect_clusters(self.qc_reports, self.model_of, self.day)
        for cluster in self.defects:
            self.write("defect_clusters", cluster)
        days = [d for series in self.daily.series().values() for d in series]
        flagged: list[dict[str, Any]] = []
        # a day before this one would be judged against a window the engagement items' pruning cut short
        contacts_from = eng.first_full_day(self.today, ANOMALY_WINDOW_DAYS) if self.engagement_covers else None
        if days:
            for anomaly in an.anomalies(self.daily, first_day=min(days), last_day=self.day):
                if contacts_from is not None and anomaly.metric == "interactions" and anomaly.day < contacts_from:
                    continue
                row = {"day": anomaly.day.isoformat(), "branch_id": anomaly.branch_id, "metric": anomaly.metric,
                       "dimension": anomaly.dimension, "count": anomaly.count, "median": anomaly.median,
                       "mad": anomaly.mad, "robust_z": anomaly.robust_z, "direction": anomaly.direction}
                self.write("anomalies", row)
                if (self.day - anomaly.day).days < ANOMALY_API_DAYS:
                    flagged.append(row)
        flagged.sort(key=lambda r: (-abs(float(r["robust_z"])), r["day"], r["branch_id"], r["metric"], r["dimension"]))
        return flagged[:ANOMALY_API_MAX_ITEMS], len(flagged) > ANOMALY_API_MAX_ITEMS

    def money(self) -> dict[str, dict[str, Any]]:
        """Write the money analyses' datasets; return what the API keeps, per branch and for "all" (the basket of
        every branch together)."""
        money_columns = [c.name for c in ex.DATASETS["profitability"] if c.glue_type == ex.MONEY]
        for row in self.profit.rows():
            self.write("profitability", {**row, **{name: ex.money(row[name]) for name in money_columns}})
        rules = self.baskets.rules(fin.BasketThresholds())
        for rule in rules:
            self.write("basket_rules", rule)
        flags = self.flags.rows()
        for flag in flags:
            self.write("transaction_flags", {**{k: v for k, v in flag.items() if k != "order_id"},
                                             "net_total": ex.money(flag["net_total"])})
        forecast = fin.forecast(self.revenue, self.day)
        for row in forecast:
            self.write("revenue_forecast", {**row, **{name: ex.money(row[name]) for name in
                                                      ("forecast", "seasonal_naive", "moving_average")}})
        months, top = self.profit.branches(), self.profit.customer_value(PROFIT_TOP_CUSTOMERS)
        actual = fin.actuals(self.revenue, FORECAST_ACTUAL_MONTHS, self.day)
        prices = self.profit.prices
        used = {"sms_part_idr": prices.sms_price, "email_idr": prices.email_price, "complaint_idr": prices.complaint_cost}
        content: dict[str, dict[str, Any]] = {"all": {"basket": [r for r in rules if r["scope"] == "all"]}}
        for branch in settings().branches:
            mine = [f for f in flags if f["branch_id"] == branch]
            counts: dict[str, int] = defaultdict(int)
            for f in mine:
                counts[f["reason"]] += 1
            content[branch] = {
                "profitability": {"cost_to_serve": used, "months": months.get(branch, []), "top_customers": [
                    {**c, "customer_id": self.customer_ids.get(str(c["customer_key"]))} for c in top.get(branch, [])]},
                "basket": [r for r in rules if r["scope"] == branch],
                "flags": {"counts": dict(counts), "truncated": len(mine) > FLAGS_API_MAX_ITEMS,
                          "items": list(reversed(mine))[:FLAGS_API_MAX_ITEMS]},
                "forecast": {"months": [r for r in forecast if r["branch_id"] == branch],
                             "actual": actual.get(branch, [])},
            }
        return content

    # ------------------------------------------------------------------ finishing: the switch last

    def finish(self, started_at: str) -> dict[str, Any]:
        """Switch each dataset to this run's parts (symlink file for Athena, then manifest), then delete its old ones.

        Each dataset switches in its own two PUTs; a failure midway leaves every
        dataset whole (this run's or the previous one's), see `_abandon`.
        """
        from chalicelib.persistence import export_files

        summary: dict[str, Any] = {}
        for name, writer in self.writers.items():
            parts = writer.close()
            span = self.ranges[name]
            manifest = {
                "dataset": name, "dt": self.dt, "run_id": self.run_id, "schema_version": ex.SCHEMA_VERSION,
                "format": ex.FILE_EXTENSION, "columns": [{"name": c.name, "type": c.glue_type}
                                                         for c in ex.DATASETS[name]],
                "rows": writer.rows, "bytes": writer.bytes,
                "parts": [{"key": p.key, "rows": p.rows, "bytes": p.bytes} for p in parts],
                "source_time_range": {"from": span.first, "to": span.last},
                "snapshot_ends_at": self.snap.ends_at, "started_at": started_at, "written_at": iso(utcnow()),
            }
            export_files.write_symlink(self.bucket, name, self.dt, [p.key for p in parts])
            self.switched.add(name)
            export_files.write_manifest(self.bucket, name, self.dt, manifest)
            current = {p.key for p in parts}
            self.delete([k for k in self.old_keys[name] if k not in current and not k.endswith(ex.MANIFEST_NAME)])
            summary[name] = {"rows": writer.rows, "bytes": writer.bytes, "parts": len(parts)}
        return summary

    def delete(self, keys: list[str]) -> None:
        _delete(self.bucket, self.dt, keys)


def _delete(bucket: str, dt: str, keys: list[str]) -> list[str]:
    """Delete parts no reader is pointed at; what S3 refuses stays for the next run of the day to delete (returned)."""
    from chalicelib.persistence import export_files

    if not keys:
        return []
    try:
        left = export_files.delete_keys(bucket, keys)
    except Exception:  # noqa: BLE001 - cleanup only: every reader is pointed elsewhere already
        left = keys
    if left:
        count("AnalyticsExportStalePartsLeft")
        logger().warning("analytics export: some parts could not be deleted", extra={"date": dt, "parts": len(left)})
    return left


def _abandon(run: _Run) -> None:
    """After a failure: delete the parts this run uploaded for datasets it did not switch to. No reader is pointed
    at them; deleting them keeps the partition tidy. Best effort: a run killed outright leaves them to the next run
    of the date (which deletes every part its readers are not pointed at)."""
    for name, writer in run.writers.items():
        if name not in run.switched:
            run.delete([p.key for p in writer.parts])


def _slow(complaint: dict[str, Any], state: ex.ComplaintState) -> bool:
    """Resolved (by the snapshot's end) after its resolve deadline, or after CHURN_SLOW_RESOLUTION_MIN_HOURS."""
    resolved_at = state.resolved_at
    if not resolved_at:
        return False
    hours = ex.hours_between(str(complaint["created_at"]), str(resolved_at)) or 0.0
    return str(resolved_at) > str(complaint["resolve_due_at"]) or hours >= CHURN_SLOW_RESOLUTION_MIN_HOURS


def export_changes(day: date, run_id: str, key: ex.Pseudonymizer, snap: ex.Snapshot, bucket: str,
                   changed: Callable[[tuple[str, str], dict[str, Any] | None], None]) -> dict[str, dict[str, int]]:
    """What the change log holds for `day`: each fact into the partition of the local day it happened, in parts
    named after `day`; each entity created, changed or deleted that day handed to `changed` (the delta datasets).
    Returns the facts' {dataset: {rows, bytes, parts}}.

    Reads the day, not history: one Query per log shard and one BatchGetItem per
    100 keys. A re-run writes the same rows into the same part keys (the log's
    keys in order), switches the day's facts manifest, then deletes what the
    previous run wrote and this one did not (a fact erased since). The facts of
    a day before the current backfill's `before` are the backfill's
    (chalicelib/workflows/backfill.py): such a run reads and hands on the changed entities only.
    """
    from chalicelib.persistence import backfills, change_log, export_files

    owned = backfills.owned_before()
    backfilled = owned is not None and day < owned
    manifest_key = export_files.facts_manifest_key(day.isoformat())
    previous = export_files.read_json(bucket, manifest_key) or {}
    # every partition a run of the day wrote into, one that died before its manifest too: recorded before the
    # first upload into it, so that what a run leaves is always found and deleted (Athena reads each partition whole)
    recorded = export_files.facts_partitions(previous)
    writers: dict[tuple[str, str], export_files.PartWriter] = {}

    def record_partitions() -> None:
        if not recorded.issuperset(writers):
            recorded.update(writers)
            export_files.write_json(bucket, manifest_key, {**previous, "complete": False,
                                                           "partitions": sorted(recorded)})

    def write(dataset: str, at: str, row: dict[str, Any]) -> None:
        on = str(snap.local_date(at))
        writer = writers.get((dataset, on))
        if writer is None:
            writer = writers[(dataset, on)] = export_files.PartWriter(
                bucket, dataset, on, name=export_files.facts_part_name(day.isoformat()),
                before_upload=record_partitions)
        writer.write(row)

    delivered: dict[str, str] = {}  # order pk -> when it became delivered that day (its lines are facts)
    keys = change_log.keys_of(day)
    if backfilled:  # the backfill's facts are not read at all: only the entities changed that day
        keys = [k for k in keys if ex.dimension_of(*k)]
    for logged, item in change_log.items(keys):
        if ex.dimension_of(*logged):
            changed(logged, item)
            # the order itself sorts after its history entries (ORDER > H#...), and is logged with the entry
            if item is not None and item.get("type") == "order" and logged[0] in delivered:
                when = delivered[logged[0]]
                for line in ex.delivered_line_rows(item, when, key, snap):
                    write("delivered_order_lines", when, line)
            continue
        found = ex.fact_row(item, key, snap) if item is not None else None  # None: erased since
        if found is None:
            continue
        write(*found)
        became_delivered = ex.delivered_at(item or {})
        if became_delivered is not None:
            delivered[logged[0]] = became_delivered
    if backfilled:
        return {}
    summary: dict[str, dict[str, int]] = {name: {"rows": 0, "bytes": 0, "parts": 0} for name in ex.FACT_DATASETS}
    parts: list[dict[str, Any]] = []
    for (dataset, on), writer in sorted(writers.items()):
        for part in writer.close():
            parts.append({"dataset": dataset, "dt": on, "key": part.key, "rows": part.rows, "bytes": part.bytes})
            summary[dataset]["rows"] += part.rows
            summary[dataset]["bytes"] += part.bytes
            summary[dataset]["parts"] += 1
    manifest = {
        "exported_day": day.isoformat(), "run_id": run_id, "schema_version": ex.SCHEMA_VERSION, "complete": True,
        "format": ex.FACT_FILE_EXTENSION, "rows": sum(p["rows"] for p in parts), "bytes": sum(p["bytes"] for p in parts),
        "datasets": summary, "partitions": sorted(recorded), "parts": parts, "written_at": iso(utcnow())}
    export_files.write_json(bucket, manifest_key, manifest)
    written = {p["key"] for p in parts}
    stale = [k for k in export_files.facts_keys_of(bucket, day.isoformat(), manifest) if k not in written]
    if _delete(bucket, day.isoformat(), stale):
        # Athena reads a facts partition whole: a part left may hold facts twice. The catch-up runs the day again.
        change_log.mark_late(day)
    return summary


def export_day(day: date, run_id: str, *, full: bool = True) -> dict[str, Any]:
    """Write the datasets of `day` (a full run: the compacted snapshot datasets too, from a Scan of the table; else
    none of ex.COMPACTED_DATASETS, and no Scan); returns {dataset: {rows, bytes, parts}}. Safe to run again."""
    from chalicelib.persistence import analytics_results, export_source

    config = settings()
    if not config.export_bucket or not config.pseudonym_secret_arn:
        raise RuntimeError("EXPORT_BUCKET and PSEUDONYM_SECRET_ARN must be set")
    from chalicelib.aws import secret_value

    covers = eng.covers(day, local_today(config.timezone))
    if not full and not covers:
        raise ValueError("a nightly run needs the engagement items to cover the day: run it in full")
    started_at = iso(utcnow())
    secret = secret_value(config.pseudonym_secret_arn).encode()
    run = _Run(day, run_id, bucket=config.export_bucket, secret=secret, timezone=config.timezone, full=full,
               engagement_covers=covers)
    try:
        run.read_complaint_features()
        run.read_vehicle_models()
        run.read_order_features()
        if not full:  # customers through their index: no contact, message or other history is read
            for profile in export_source.customer_profiles():
                run.customer_profile(profile)
        for records in export_source.records(config.export_scan_segments) if full else ():
            if isinstance(records, export_source.CustomerRecords):
                run.customer_group(records)
            elif isinstance(records, export_source.ComplaintRecords):
                run.complaint_group(records)
            elif isinstance(records, export_source.OrderRecords):
                run.order_group(records)
            elif isinstance(records, export_source.CampaignRecords):
                run.campaign_group(records)
            elif isinstance(records, export_source.VehicleRecords):
                run.vehicle_group(records)
            elif isinstance(records, export_source.AppointmentRecords):
                run.appointment_group(records)
            elif isinstance(records, export_source.WorkOrderRecords):
                run.work_order_group(records)
            else:
                run.product_group(records)
        run.flush_block()
        anomalies, truncated = run.analyses()
        money = run.money()
        facts = export_changes(day, run_id, run.key, run.snap, config.export_bucket, run.changed) \
            if run.follows_log else {}
        run.flush_changed()
        summary = {**run.finish(started_at), **facts}
    except Exception:
        _abandon(run)
        raise
    for branch in config.branches:
        kept = sorted(run.at_risk.get(branch, []), key=lambda k: an.churn_sort_key(k[1], k[2]))[:CHURN_TOP_PER_BRANCH]
        analytics_results.put_churn(branch, run.dt, run_id, [
            {"customer_id": cid, "score": risk.score, "band": risk.band, "reasons": list(risk.reasons)}
            for _, cid, risk in kept
        ])
    analytics_results.put_anomalies(run.dt, run_id, anomalies, truncated=truncated)
    for scope, content in money.items():
        analytics_results.put_money(scope, run.dt, run_id, content)
    analytics_results.put_insights(run.dt, run_id, {
        "branches": {b: {"segments": dict(run.segments.get(b, {})), "churn_bands": dict(run.bands.get(b, {}))}
                     for b in config.branches},
        "root_causes_recent": run.recent_root_causes[-INSIGHTS_ROOT_CAUSES_MAX_ROWS:],
        "growing": run.growing,
        "defect_clusters": run.defects[:INSIGHTS_DEFECT_CLUSTERS_MAX],
    })
    return summary


def _epoch() -> int:
    return int(utcnow().timestamp())


def run(day: date, *, run_id: str | None = None, trigger: str) -> dict[str, Any]:
    """Take the day's lease, export, record the outcome. A day someone else is exporting is left alone."""
    from chalicelib.persistence import analytics_results

    run_id = run_id or new_id()
    dt = day.isoformat()
    if not ex.exportable(day, local_today(settings().timezone)):
        # Only a direct invocation gets here (the API and the schedule ask for such days only): retrying won't help.
        logger().warning("analytics export refused: the day is before the first or after today", extra={"date": dt})
        count("AnalyticsExportRefused")
        return {"date": dt, "status": "refused", "reason": "out_of_range"}
    if not analytics_results.begin_run(dt, run_id, trigger=trigger, now_epoch=_epoch(),
                                       lease_seconds=EXPORT_LEASE_SECONDS):
        logger().info("analytics export skipped: the day is being exported", extra={"date": dt})
        return {"date": dt, "status": "skipped", "reason": "running"}
    full = ex.full_run(day, trigger=trigger, engagement_covers=eng.covers(day, local_today(settings().timezone)))
    try:
        summary = export_day(day, run_id, full=full)
    except Exception as error:
        analytics_results.finish_run(dt, run_id, status="failed", now_epoch=_epoch(), error=type(error).__name__)
        count("AnalyticsExportFailed")
        raise
    analytics_results.finish_run(dt, run_id, status="succeeded", now_epoch=_epoch(), datasets=summary)
    count("AnalyticsExportSucceeded")
    logger().info("analytics export done", extra={"date": dt, "full": full,
                                                  "rows": {k: v["rows"] for k, v in summary.items()}})
    return {"date": dt, "run_id": run_id, "status": "succeeded", "full": full, "datasets": summary}


def day_of_event(event: dict[str, Any], timezone: str) -> date:
    """The day a scheduled event exports: the day before the event's local date."""
    return parse_iso(str(event["time"])).astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


def on_event(event: dict[str, Any]) -> dict[str, Any]:
    """The `analytics-export` function: a schedule's event, the API's request {"detail": {"date", "run_id"}}, or a
    step of the facts backfill {"detail": {"backfill": {...}}} (chalicelib/workflows/backfill.py)."""
    detail = event.get("detail") or {}
    if detail.get("backfill"):  # a step of the facts backfill's state machine
        from chalicelib.workflows.backfill import on_step

        try:
            return on_step(detail["backfill"])
        finally:
            flush()
    try:
        try:
            day = date.fromisoformat(str(detail["date"])) if detail.get("date") else None
        except ValueError:
            logger().warning("analytics export refused: the event's date is not a date")
            count("AnalyticsExportRefused")
            return {"date": None, "status": "refused", "reason": "bad_date"}
        if day is not None:
            return run(day, run_id=detail.get("run_id"), trigger="catch_up" if detail.get("trigger") == "catch_up" else "api")
        day = day_of_event(event, settings().timezone)
        caught_up = catch_up(day)  # before the day's own run, which may fail
        backfill = backfill_if_needed(day)
        return {**run(day, trigger="schedule"), "caught_up": caught_up, "backfill": backfill}
    finally:
        flush()


def backfill_if_needed(day: date) -> dict[str, Any] | None:
    """Tonight's run (the schedule's event for yesterday; not a redelivered or replayed older one) starts the facts
    backfill a deployment needs (chalicelib/workflows/backfill.py start_if_needed). Never fails the day's export:
    an error is logged and counted, and the next night asks again."""
    from chalicelib.workflows.backfill import start_if_needed

    if day != local_today(settings().timezone) - timedelta(days=1):
        return None
    try:
        return start_if_needed()
    except Exception:
        logger().exception("the nightly run could not check or start the facts backfill")
        count("FactsBackfillAutoStartFailed")
        return {"status": "not_started", "reason": "error"}


def missed_days(day: date) -> list[date]:
    """The CATCH_UP_DAYS before `day` whose latest run failed, was abandoned or never happened (a missed schedule,
    an outage), or began before the last fact of the day reached the change log (a stream consumer that was
    behind); not a day someone is exporting. Two Queries."""
    from chalicelib.persistence import analytics_results, change_log

    today = local_today(settings().timezone)
    if not ex.exportable(day, today):  # the day's own run refuses it and says so
        return []
    first, last = day - timedelta(days=CATCH_UP_DAYS), day - timedelta(days=1)
    now = _epoch()
    late = change_log.late_marks(first, last)

    def good(r: dict[str, Any]) -> bool:
        if r["status"] in analytics_results.ACTIVE:
            return int(r["lease_until"]) >= now
        mark = late.get(str(r["date"]))
        return r["status"] == "succeeded" and (mark is None or int(r.get("started_at_epoch") or 0) > mark)

    done = {r["date"] for r in analytics_results.runs_between(first.isoformat(), last.isoformat()) if good(r)}
    days = (first + timedelta(days=offset) for offset in range(CATCH_UP_DAYS))
    return [d for d in days if d.isoformat() not in done and ex.exportable(d, today)]


def catch_up(day: date) -> list[str]:
    """Queue the export of each missed day before `day` (`missed_days`), each in its own invocation."""
    from chalicelib.domain.errors import Conflict, ServiceUnavailable

    queued = []
    for missed in missed_days(day):
        try:
            request(missed, None, trigger="catch_up")
        except Conflict:  # queued or started since the Query
            continue
        except ServiceUnavailable:  # not started (recorded failed): the next night tries again; today's goes on
            count("AnalyticsExportCatchUpFailed")
            continue
        queued.append(missed.isoformat())
    if queued:
        logger().warning("analytics export catching up missed days", extra={"dates": queued})
        count("AnalyticsExportCaughtUp", len(queued))
    return queued


def request_event(day: date, run_id: str, trigger: str) -> dict[str, Any]:
    """The export function's event asking for `day` (the function is a Chalice schedule handler: it reads an
    EventBridge-shaped event)."""
    return {"version": "0", "id": run_id, "source": "relasi.api", "detail-type": "Analytics export request",
            "account": "", "region": settings().region, "resources": [], "time": iso(utcnow()),
            "detail": {"date": day.isoformat(), "run_id": run_id, "trigger": trigger}}


def request(day: date, requested_by: str | None, *, trigger: str = "api") -> dict[str, Any]:
    """POST /analytics/exports (and the nightly catch-up): record a queued run and invoke the export function
    asynchronously."""
    import json

    from chalicelib.aws import client
    from chalicelib.domain.errors import ServiceUnavailable
    from chalicelib.persistence import analytics_results

    run_id = new_id()
    dt = day.isoformat()
    record = analytics_results.request_run(dt, run_id, trigger=trigger, requested_by=requested_by,
                                           now_epoch=_epoch(), lease_seconds=EXPORT_LEASE_SECONDS)
    payload = request_event(day, run_id, trigger)
    try:
        client("lambda").invoke(FunctionName=settings().analytics_export_function, InvocationType="Event",
                                Payload=json.dumps(payload).encode())
    except Exception as error:
        analytics_results.finish_run(dt, run_id, status="failed", now_epoch=_epoch(), error=type(error).__name__)
        raise ServiceUnavailable("The export could not be started; try again in a minute.") from None
    return record
