"""The console's HTML: pure functions of what views.py read, escaped throughout (record text is user data)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from html import escape
from typing import Any
from urllib.parse import quote

from sandbox.console.views import Account360, Component, ListViewResult

BAND_COLOUR = {"Green": "#2e844a", "Yellow": "#dd7a01", "Red": "#ba0517", "": "#747474"}
STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f3f3f3;color:#181818}
header{background:#032d60;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:baseline}
header a{color:#fff;text-decoration:none}header h1{font-size:18px;margin:0}
main{padding:16px 24px;display:grid;grid-template-columns:repeat(12,1fr);gap:12px}
section{background:#fff;border-radius:6px;padding:12px 14px;box-shadow:0 1px 2px #0002;grid-column:span 4}
section.wide{grid-column:span 12}section.half{grid-column:span 6}section.two{grid-column:span 8}
h2{font-size:15px;margin:0 0 8px}table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #e5e5e5;vertical-align:top}
th{color:#444;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{height:10px;background:#0176d3;border-radius:2px}.band{font-weight:700}
.score{font-size:40px;font-weight:700}.muted{color:#747474;font-size:12px}
pre{white-space:pre-wrap;font-family:inherit;font-size:12px;margin:2px 0}
"""


def _page(title: str, body: str, as_of: date) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        "<header><h1>Customer Success</h1><a href='/'>Client Health</a><a href='/list-views'>List views</a>"
        f"<a href='/accounts'>Accounts</a><span class='muted' style='color:#cfe'>org data as of "
        f"{as_of.isoformat()}</span></header><main>{body}</main></body></html>"
    )


def _s(row: dict[str, Any], key: str) -> str:
    """A record's text value, escaped."""
    return escape(str(row.get(key) or ""))


def number(value: Any, digits: int = 0) -> str:
    """A figure as the console prints it: grouped thousands, `digits` decimals, an em dash for none."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}"
    return str(value)


def money(value: Any, digits: int) -> str:
    return "—" if value is None or value == "" else "$" + number(value, digits)


def percent(value: Any) -> str:
    return "—" if value is None or value == "" else number(value, 1) + "%"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], table_id: str, numeric: set[int]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='num'>{escape(c)}</td>" if i in numeric else f"<td>{escape(c)}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table id='{escape(table_id)}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _component(i: int, c: Component) -> str:
    """A component as its groups with every measure; a bar scaled on the first measure."""
    first = [v[0] or 0.0 for _, v in c.groups] or [0.0]
    top = max(first) or 1.0
    rows = []
    for label, values in c.groups:
        width = 100 * (values[0] or 0.0) / top if values else 0.0
        cells = "".join(
            f"<td class='num'>{escape(number(v, 1 if v is not None and v % 1 else 0))}</td>" for v in values
        )
        rows.append(
            f"<tr data-group='{escape(label)}'><td>{escape(label)}</td>{cells}"
            f"<td style='width:30%'><div class='bar' style='width:{width:.0f}%'></div></td></tr>"
        )
    head = "".join(f"<th>{escape(m)}</th>" for m in c.measures)
    total = "".join(
        f"<td class='num'>{escape(number(v, 1 if v is not None and v % 1 else 0))}</td>" for v in c.total
    )
    wide = " class='two'" if len(c.measures) > 4 else " class='half'" if c.kind == "Table" else ""
    return (
        f"<section{wide} id='component-{i}' data-kind='{escape(c.kind)}'><h2>{escape(c.header)}</h2>"
        f"<table><thead><tr><th></th>{head}<th></th></tr></thead><tbody>{''.join(rows)}</tbody>"
        f"<tfoot><tr data-group='Total'><th>Total</th>{total}<td></td></tr></tfoot></table></section>"
    )


def dashboard_page(title: str, components: Sequence[Component], as_of: date) -> str:
    body = "".join(_component(i, c) for i, c in enumerate(components))
    return _page(
        title,
        f"<section class='wide'><h2 id='dashboard-title'>{escape(title)}</h2>"
        "<span class='muted'>The shipped dashboard, run by the org's Analytics API.</span>"
        f"</section>{body}",
        as_of,
    )


def list_views_page(views: Sequence[ListViewResult], as_of: date, user: str) -> str:
    parts = [
        f"<section class='wide'><h2>List views</h2><span class='muted'>Run as {escape(user)}.</span>"
        "</section>"
    ]
    for v in views:
        table = _table(v.columns, v.rows, f"listview-{v.sobject}-{v.id}", set())
        parts.append(
            f"<section class='wide' id='lv-{escape(v.id)}'><h2>{escape(v.label)} "
            f"<span class='muted'>({v.size} · {escape(v.sobject)})</span></h2>{table}</section>"
        )
    return _page("List views", "".join(parts), as_of)


def accounts_page(rows: Sequence[dict[str, Any]], as_of: date) -> str:
    items = "".join(
        f"<tr><td><a href='/accounts/{quote(str(r['Store_Id__c']))}'>{escape(str(r['Store_Id__c']))}</a></td>"
        f"<td>{escape(str(r.get('Name') or ''))}</td><td class='num'>{number(r.get('Health_Score__c'))}</td>"
        f"<td class='band'>{escape(str(r.get('Health_Band__c') or '—'))}</td></tr>"
        for r in sorted(rows, key=lambda r: str(r["Store_Id__c"]))
    )
    return _page(
        "Accounts",
        "<section class='wide'><h2>Accounts</h2><table id='accounts'><thead><tr><th>Store"
        f"</th><th>Name</th><th>Score</th><th>Band</th></tr></thead><tbody>{items}</tbody></table>"
        "</section>",
        as_of,
    )


def trend_svg(points: Sequence[tuple[date, float | None, str]], start: date, end: date) -> str:
    """The score by day over [start, end] as an SVG line, a dot per snapshot in its band's colour."""
    width, height, pad = 560, 160, 24
    span = max(1, (end - start).days)

    def xy(day: date, score: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (day - start).days / span
        return x, height - pad - (height - 2 * pad) * score / 100

    scored = [(d, float(s), b) for d, s, b in points if s is not None]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(d, s) for d, s, _ in scored))
    dots = "".join(
        f"<circle cx='{x:.1f}' cy='{y:.1f}' r='2.5' fill='{BAND_COLOUR.get(b, '#747474')}'>"
        f"<title>{d.isoformat()}: {s:.0f}</title></circle>"
        for d, s, b in scored
        for x, y in (xy(d, s),)
    )
    grid = "".join(
        f"<line x1='{pad}' x2='{width - pad}' y1='{y:.1f}' y2='{y:.1f}' stroke='#ddd'/>"
        f"<text x='2' y='{y + 4:.1f}' font-size='10' fill='#747474'>{v}</text>"
        for v in (0, 50, 100)
        for _, y in (xy(start, v),)
    )
    labels = (
        f"<text x='{pad}' y='{height - 6}' font-size='10' fill='#747474'>{start.isoformat()}</text>"
        f"<text x='{width - pad}' y='{height - 6}' font-size='10' fill='#747474' text-anchor='end'>"
        f"{end.isoformat()}</text>"
    )
    return (
        f"<svg id='trend' data-points='{len(scored)}' viewBox='0 0 {width} {height}' width='100%' role='img' "
        f"aria-label='Health score, last {span} days'>{grid}{labels}"
        f"<polyline points='{line}' fill='none' stroke='#0176d3' stroke-width='1.5'/>{dots}</svg>"
    )


def account_page(view: Account360, today: date, start: date) -> str:
    a = view.account
    band = str(a.get("Health_Band__c") or "")
    change = a.get("Health_Score_Change_7d__c")
    header = (
        f"<section class='wide'><h2 id='account-name'>{escape(str(a.get('Name') or ''))} "
        f"<span class='muted'>{escape(str(a.get('Store_Id__c') or ''))} · "
        f"{escape(str(a.get('BillingCity') or ''))}, {escape(str(a.get('BillingState') or ''))} · "
        f"plan {escape(str(a.get('Plan__c') or '—'))} · CSM <span id='csm'>{escape(view.csm or '—')}</span>"
        "</span></h2></section>"
    )
    override = ""
    if a.get("Health_Override__c") not in (None, ""):
        override = (
            f"<div>CSM override: {number(a.get('Health_Override__c'))} — "
            f"{escape(str(a.get('Health_Override_Reason__c') or ''))}</div>"
        )
    health = (
        "<section><h2>Health</h2>"
        f"<div class='score' id='score' style='color:{BAND_COLOUR.get(band, '#747474')}'>"
        f"{number(a.get('Health_Score__c'))}</div>"
        f"<div><span class='band' id='band'>{escape(band or 'No data yet')}</span> · "
        f"<span id='trend-label'>{escape(str(a.get('Health_Trend__c') or '—'))}</span> · 7-day change "
        f"<span id='change'>{number(change)}</span></div>{override}"
        f"<div>Open risks: <span id='open-risks'>{number(a.get('Open_Risk_Count__c'))}</span>"
        f"{' · <b>stale data</b>' if a.get('Health_Stale__c') else ''}</div>"
        f"<pre id='drivers'>{escape(str(a.get('Health_Drivers__c') or ''))}</pre></section>"
    )
    comp_rows = [
        (
            name.replace("_", " "),
            number(c.get("points"), 1),
            number(c.get("weight"), 2),
            number(c.get("raw"), 2),
        )
        for name, c in view.components.items()
    ]
    components = (
        "<section><h2>Component scores</h2>"
        + _table(("Component", "Points", "Weight", "Measured"), comp_rows, "components", {1, 2, 3})
        + "<span class='muted'>From the latest health snapshot.</span></section>"
    )
    trend = (
        f"<section><h2>Health score, {(today - start).days} days</h2>"
        f"{trend_svg(view.trend, start, today)}</section>"
    )
    kpis = [
        ("Online orders (7 days)", number(a.get("Online_Orders_7d__c"))),
        ("Online revenue (7 days)", money(a.get("Online_Revenue_7d__c"), 0)),
        (
            "AOV online / in store",
            f"{money(a.get('AOV_Online__c'), 2)} / {money(a.get('AOV_In_Store__c'), 2)}",
        ),
        ("Online conversion", percent(a.get("Online_Conversion__c"))),
        ("Cart abandonment", percent(a.get("Cart_Abandonment__c"))),
    ]
    kpi = "<section><h2>KPIs</h2>" + _table(("Figure", "Value"), kpis, "kpis", {1}) + "</section>"
    flags = "".join(
        f"<tr data-flag='{_s(f, 'Rule__c')}'><td>{_s(f, 'Severity__c')}</td><td>{_s(f, 'Name')}<br>"
        f"<span class='muted'>{_s(f, 'Category__c')} · {_s(f, 'Status__c')} since "
        f"{escape(str(f.get('Opened_At__c') or '')[:10])}</span></td>"
        f"<td><pre>{_s(f, 'Evidence__c')}</pre></td></tr>"
        for f in view.flags
    )
    flag_section = (
        f"<section class='two'><h2>Open risk flags ({len(view.flags)})</h2><table id='flags'>"
        f"<thead><tr><th>Severity</th><th>Flag</th><th>Evidence</th></tr></thead><tbody>{flags}"
        "</tbody></table></section>"
    )
    task_rows = [
        (
            str(t.get("ActivityDate") or ""),
            str(t.get("Priority") or ""),
            str(t.get("Subject") or ""),
            view.users.get(str(t.get("OwnerId")), ""),
            str(t.get("Status") or ""),
        )
        for t in view.tasks
    ]
    case_rows = [
        (
            str(c.get("CaseNumber") or ""),
            str(c.get("Priority") or ""),
            str(c.get("Subject") or ""),
            str(c.get("Status") or ""),
        )
        for c in view.cases
    ]
    work = (
        f"<section class='half'><h2>Open Tasks ({len(view.tasks)})</h2>"
        + _table(("Due", "Priority", "Subject", "Owner", "Status"), task_rows, "tasks", set())
        + f"<h2 style='margin-top:12px'>Open Cases ({len(view.cases)})</h2>"
        + _table(("Case", "Priority", "Subject", "Status"), case_rows, "cases", set())
        + "</section>"
    )
    ms_rows = [
        (
            number(m.get("Sequence__c")),
            str(m.get("Name") or ""),
            str(m.get("Status__c") or ""),
            str(m.get("Due_Date__c") or ""),
            str(m.get("Completed_Date__c") or ""),
            "overdue"
            if m.get("Status__c") != "Done" and str(m.get("Due_Date__c") or "9") < today.isoformat()
            else "",
        )
        for m in view.milestones
    ]
    milestones = (
        "<section><h2>Onboarding milestones</h2>"
        + _table(("#", "Milestone", "Status", "Due", "Done", ""), ms_rows, "milestones", {0})
        + "</section>"
    )
    contract_rows = [
        (
            str(c.get("ContractNumber") or ""),
            str(c.get("Status") or ""),
            str(c.get("EndDate") or ""),
            number((date.fromisoformat(c["EndDate"]) - today).days) + " days" if c.get("EndDate") else "—",
        )
        for c in view.contracts
    ]
    renewal = (
        "<section><h2>Renewal</h2>"
        + _table(("Contract", "Status", "Ends", "In"), contract_rows, "contracts", {3})
        + "</section>"
    )
    qbr_rows = [
        (
            str(r.get("Quarter__c") or ""),
            number(r.get("Online_Orders__c")),
            number(r.get("In_Store_Orders__c")),
            number(r.get("Online_Share__c"), 1),
            number(r.get("AOV_Lift__c"), 1),
            number(r.get("Conversion__c"), 1),
            number(r.get("Cart_Abandonment__c"), 1),
        )
        for r in view.reviews
    ]
    qbr = (
        "<section class='two'><h2>Quarterly review figures</h2>"
        + _table(
            (
                "Quarter",
                "Online orders",
                "In-store orders",
                "Online share %",
                "AOV lift %",
                "Conversion %",
                "Cart abandonment %",
            ),
            qbr_rows,
            "qbr",
            {1, 2, 3, 4, 5, 6},
        )
        + "</section>"
    )
    body = header + health + components + trend + kpi + flag_section + work + milestones + renewal + qbr
    return _page(f"{a.get('Store_Id__c')} · Account 360", body, today)


def not_found_page(what: str, as_of: date) -> str:
    return _page("Not found", f"<section class='wide'><h2>{escape(what)}</h2></section>", as_of)
