"""The dashboard's charts, drawn on the server as SVG geometry (templates/chart.html renders it): no chart
library, no script, a few hundred bytes each. Pure: numbers in, shapes out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM = 600, 180, 28, 18
ROW_HEIGHT = 22
CHANNEL_ORDER = ("phone", "email", "web", "visit", "sms", "chat", "social")


def _scale(top: float) -> float:
    return (HEIGHT - PAD_BOTTOM - 6) / top if top > 0 else 0.0


def _day_tick(day: str) -> str:
    return day[8:10] + "/" + day[5:7]


def columns(days: Sequence[str], series: Sequence[tuple[str, Sequence[Mapping[str, int]]]], title: str,
            *, stacked: bool = False, tick: Callable[[str], str] = _day_tick) -> dict[str, Any]:
    """Bars per day (or per any label `tick` writes short): side by side (one per series) or stacked. `series`:
    (css class, per-day {name: n}); a day's value for a series is the sum of its mapping."""
    totals = [[sum(s[i].values()) for _, s in series] for i in range(len(days))]
    top = max([sum(t) if stacked else max(t, default=0) for t in totals], default=0)
    k = _scale(top)
    slot = (WIDTH - PAD_LEFT) / max(len(days), 1)
    bars = []
    for i, day in enumerate(days):
        base = float(HEIGHT - PAD_BOTTOM)
        for j, (css, values) in enumerate(series):
            if stacked:
                for name in CHANNEL_ORDER:
                    n = values[i].get(name, 0)
                    if n:
                        h = n * k
                        base -= h
                        bars.append({"x": PAD_LEFT + i * slot + 1, "y": base, "w": max(slot - 2, 1), "h": h,
                                     "css": f"c-{name}", "label": f"{day} {name}: {n}"})
            else:
                n = sum(values[i].values())
                width = max(slot / len(series) - 1, 1)
                bars.append({"x": PAD_LEFT + i * slot + j * width, "y": HEIGHT - PAD_BOTTOM - n * k, "w": width,
                             "h": n * k, "css": css, "label": f"{day} {css}: {n}"})
    ticks = [{"x": PAD_LEFT + i * slot, "text": tick(day)}
             for i, day in enumerate(days) if i % max(len(days) // 6, 1) == 0]
    return {"kind": "columns", "title": title, "width": WIDTH, "height": HEIGHT, "bars": bars, "ticks": ticks,
            "top": top, "top_y": HEIGHT - PAD_BOTTOM - top * k}


def rows(items: Sequence[tuple[str, str, int]], title: str, css: str = "bar") -> dict[str, Any]:
    """Horizontal bars, one per (key, label, n); `key` names the bar's colour (`<css>-<key>`)."""
    top = max((n for _, _, n in items), default=0)
    span = WIDTH - 190
    shapes = [{"y": i * ROW_HEIGHT, "w": (n / top * span) if top else 0, "label": label, "n": n,
               "css": f"{css} {css}-{key}"} for i, (key, label, n) in enumerate(items)]
    return {"kind": "rows", "title": title, "width": WIDTH, "height": max(len(items), 1) * ROW_HEIGHT,
            "rows": shapes}


def dashboard(summary: Mapping[str, Any], insights: Mapping[str, Any] | None,
              t: Callable[..., str]) -> list[dict[str, Any]]:
    complaints = summary["complaints"]
    days = [d["date"] for d in complaints["opened_per_day"]]
    opened = [{"n": d["n"]} for d in complaints["opened_per_day"]]
    resolved = [{"n": d["n"]} for d in complaints["resolved_per_day"]]
    interactions = [d.get("by_channel", {}) for d in summary["interactions"]["per_day"]]
    charts = [
        columns(days, [("opened", opened), ("resolved", resolved)], t("dash.opened_resolved")),
        rows([(k, t(f"department.{k}"), n) for k, n in sorted(complaints["sla_breaches_by_department"].items(),
                                                                  key=lambda kv: -kv[1])], t("dash.breaches"), "breach"),
        columns([d["date"] for d in summary["interactions"]["per_day"]], [("channels", interactions)],
                t("dash.interactions"), stacked=True),
        rows([(k, t(f"stage.{k}"), n) for k, n in summary["customers_by_stage"].items()], t("dash.stages"), "stage"),
    ]
    if insights is not None:
        bands = insights.get("churn_bands") or {}
        charts.append(rows([(band, t(f"band.{band}"), int(bands.get(band, 0))) for band in ("low", "medium", "high")],
                           t("dash.churn"), "churn"))
    return charts


def forecast(branches: Sequence[Mapping[str, Any]], t: Callable[..., str]) -> dict[str, Any]:
    """Net revenue per month (the branches together), the last 12 actual months then the 3 forecast ones."""
    actual: dict[str, float] = {}
    ahead: dict[str, float] = {}
    for b in branches:
        for a in b.get("actual", [])[-12:]:
            actual[a["month"]] = actual.get(a["month"], 0.0) + float(a["net_revenue"])
        for m in b.get("months", []):
            if m.get("forecast") is not None:
                ahead[m["month"]] = ahead.get(m["month"], 0.0) + float(m["forecast"])
    months = sorted(actual) + sorted(m for m in ahead if m not in actual)
    return columns(months, [("actual", [{"n": int(actual.get(m, 0))} for m in months]),
                            ("forecast", [{"n": int(ahead.get(m, 0))} for m in months])],
                   t("dash.forecast"), tick=lambda m: m[5:7] + "/" + m[2:4])


def satisfaction(days: Sequence[Mapping[str, Any]], t: Callable[..., str]) -> dict[str, Any]:
    """Survey answers per day: satisfied (4-5) beside the rest (1-3), so the trend of CSAT shows with its volume."""
    def part(day: Mapping[str, Any], scores: tuple[str, ...]) -> dict[str, int]:
        return {"n": sum(int(day["csat"]["distribution"].get(s, 0)) for s in scores)}

    return columns([d["key"] for d in days], [("satisfied", [part(d, ("4", "5")) for d in days]),
                                              ("dissatisfied", [part(d, ("1", "2", "3")) for d in days])],
                   t("dash.csat_per_day"))


def recommendation(days: Sequence[Mapping[str, Any]], t: Callable[..., str]) -> dict[str, Any]:
    """NPS answers per day: promoters (9-10), passives (7-8), detractors (0-6) side by side."""
    return columns([d["key"] for d in days], [(group, [{"n": int(d["nps"][plural])} for d in days])
                                              for group, plural in (("promoter", "promoters"), ("passive", "passives"),
                                                                    ("detractor", "detractors"))],
                   t("dash.nps_per_day"))

