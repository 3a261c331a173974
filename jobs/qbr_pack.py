"""qbr_pack: a presentable PDF per account and quarter, uploaded to the Account as a File.

After the qbr job (and on demand, `csm-sync qbr-pack STORE --quarter 2026Q4`): the figures are
computed (`jobs/qbr_figures.py`), compared by digest with the latest version of the account's pack,
and only when they differ is the pack rendered (`jobs/qbr_render.py`) and uploaded as a new
ContentVersion; then the store's Quarterly_Review__c record is pointed at it through the outbox.
The digest rides on the version (`Description`) as well as on the record, so an upload whose record
update failed, or whose answer never came, is found by the next run instead of uploaded again.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import structlog

from connectors.salesforce.client import LimitReached, SalesforceUnavailable
from connectors.salesforce.soql import select as soql_select
from connectors.salesforce.soql import select_in
from jobs import qbr_figures
from jobs.accounts import build_account_data, read_accounts, scoped_read
from jobs.apply import ApplyOptions, ApplyReport, Writer, enqueue, send
from jobs.current import Reader
from jobs.plan import diff
from jobs.portfolio import KeptReader, PortfolioReads, rows_by_value
from jobs.qbr import KEY_FIELD, OBJECT
from jobs.qbr_figures import PackFigures, QbrPackFile, TopProduct
from mappings.desired import Desired
from mappings.lifecycle import Quarter, mapping_dir
from state import facts
from state import stores as store_directory
from state.engine import Engine
from state.tables import StoreRow

log = structlog.get_logger(__name__)

NAME = "qbr_pack"
HISTORY_DAYS = 200  # the quarter and the one before it (its AOV and mix are the comparison)
CHUNK = 100  # stores whose facts are held at once
PRODUCT_STREAMS = ("products", "inventory", "menu_items")  # where a POS product id gets its name
PACK_FIELDS = ("Pack_File_Id__c", "Pack_Version__c", "Pack_Figures_Hash__c")
_DIGEST = re.compile(r"figures sha256:([0-9a-f]{64})")


class FileOrg(Writer, Protocol):
    """What the pack job needs of Salesforce: queries, upserts (through the outbox) and File uploads."""

    def upload_file(self, fields: Mapping[str, Any], data: bytes, filename: str) -> str: ...


@dataclass(frozen=True)
class Unit:
    """One pack's subject: a store, or an MSO parent with its locations."""

    key: str  # Store_Id__c of the Account the pack goes on
    members: tuple[str, ...]  # the stores whose data it shows
    mso: bool = False


@dataclass
class PackResult:
    store_id: str
    quarter: str
    status: str  # uploaded | unchanged | no_data | no_account | failed | rendered
    version_id: str = ""
    document_id: str = ""
    version: int = 0
    error: str = ""
    figures: PackFigures | None = None
    pdf: bytes | None = field(default=None, repr=False)


@dataclass
class PackReport:
    packs: list[PackResult] = field(default_factory=list)
    records: ApplyReport | None = None
    render_seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for p in self.packs if p.status == status)

    @property
    def partial(self) -> bool:
        r = self.records
        return self.count("failed") > 0 or bool(r and (r.failed or r.stopped or r.queued))

    @property
    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            s: self.count(s) for s in ("uploaded", "unchanged", "no_data", "no_account", "failed", "rendered")
        }
        out["failures"] = [
            f"{p.store_id} {p.quarter}: {p.error}" for p in self.packs if p.status == "failed"
        ][:20]
        if self.records is not None:
            out["records"] = self.records.data
        return out


def load(source: Any) -> QbrPackFile:
    return qbr_figures.load(mapping_dir(source) / qbr_figures.FILE)


def title_of(store_id: str, quarter: Quarter) -> str:
    return f"QBR pack {store_id} {quarter}"


def review_key(store_id: str, quarter: Quarter) -> str:
    return f"{store_id}:{quarter}"


def units(directory: Mapping[str, StoreRow], stores: Sequence[str] | None) -> list[Unit]:
    """Every store's pack, and each MSO parent's over its locations (the parent named in the directory).

    With `stores`, those stores and the MSO parents among them or above them.
    """
    children: dict[str, list[str]] = defaultdict(list)
    for sid, row in directory.items():
        parent = str((row.attrs or {}).get("parent_id") or "")
        if parent:
            children[parent].append(sid)
    wanted = set(stores) if stores is not None else set(directory)
    out = [Unit(s, (s,)) for s in sorted(wanted) if s in directory]
    parents = {p for p, kids in children.items() if p in wanted or wanted & set(kids)}
    out += [Unit(p, tuple(sorted(children[p])), mso=True) for p in sorted(parents)]
    return out


def top_products(
    engine: Engine, stores: Sequence[str], start: date, end: date, limit: int
) -> dict[str, list[TopProduct]]:
    """Per store: products by line revenue over [start, end] from the POS transactions, named."""
    sales: dict[str, dict[str, list[float]]] = defaultdict(dict)  # store -> product -> [rev, units, online]
    cats: dict[tuple[str, str], str] = {}
    with facts.reading(engine) as reads:
        for store_id, _, _, _, attrs in reads.records(stores, ("transactions",), since=start, until=end):
            online = attrs.get("channel") == "online"
            for item in attrs.get("items") or ():
                if not isinstance(item, Mapping):
                    continue
                pid = str(item.get("product_id") or "")
                amount, qty = _num(item.get("amount")), _num(item.get("quantity"))
                if not pid or amount <= 0:
                    continue
                cell = sales[store_id].setdefault(pid, [0.0, 0.0, 0.0])
                cell[0] += amount
                cell[1] += qty
                cell[2] += amount if online else 0.0
                cats.setdefault((store_id, pid), str(item.get("category") or "other"))
        best = {
            sid: sorted(products.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
            for sid, products in sales.items()
        }
        names = _product_names(reads, best)
    return {
        sid: [
            TopProduct(
                names.get((sid, pid), f"Product {pid}"),
                cats.get((sid, pid), "other"),
                round(rev, 2),
                qty,
                online / rev if rev else None,
            )
            for pid, (rev, qty, online) in rows_
        ]
        for sid, rows_ in best.items()
    }


def _product_names(
    reads: facts.Reads, best: Mapping[str, Sequence[tuple[str, Any]]]
) -> dict[tuple[str, str], str]:
    wanted = {(sid, pid) for sid, rows in best.items() for pid, _ in rows}
    if not wanted:
        return {}
    out: dict[tuple[str, str], str] = {}
    for store_id, _, _, _, a in reads.records(sorted(best), PRODUCT_STREAMS):
        name = str(a.get("name") or "").strip()
        for pid in (a.get("product_id"), a.get("pos_product_id")):
            if name and pid and (store_id, str(pid)) in wanted:
                out.setdefault((store_id, str(pid)), name)
    return out


def _num(x: Any) -> float:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else 0.0


def quarters_for(cfg: QbrPackFile, today: date) -> list[Quarter]:
    last = Quarter.of(today).previous()
    return [last, Quarter.of(today)] if cfg.current_quarter else [last]


def pack_figures(
    engine: Engine,
    accounts: Mapping[str, Mapping[str, Any]],
    directory: Mapping[str, StoreRow],
    todo: Sequence[Unit],
    quarters: Sequence[Quarter],
    cfg: QbrPackFile,
    now: datetime,
) -> Iterator[tuple[Unit, Quarter, PackFigures]]:
    """The figures of every unit and quarter, a chunk of stores' facts at a time."""
    batch: list[Unit] = []
    size = 0
    for unit in [*todo, None]:
        if unit is not None and size + len(unit.members) <= CHUNK:
            batch.append(unit)
            size += len(unit.members)
            continue
        if batch:
            yield from _batch_figures(engine, accounts, directory, batch, quarters, cfg, now)
        batch, size = ([unit], len(unit.members)) if unit is not None else ([], 0)


def _batch_figures(
    engine: Engine,
    accounts: Mapping[str, Mapping[str, Any]],
    directory: Mapping[str, StoreRow],
    batch: Sequence[Unit],
    quarters: Sequence[Quarter],
    cfg: QbrPackFile,
    now: datetime,
) -> Iterator[tuple[Unit, Quarter, PackFigures]]:
    members = sorted({m for u in batch for m in u.members})
    first = min(q.previous().start for q in quarters)
    days = (now.date() - first).days + 1
    datas = {d.store_id: d for d in build_account_data(engine, members, accounts, directory, now, days)}
    for q in quarters:
        tops = top_products(engine, members, q.start, q.end, cfg.pack.top_products * 3)
        for unit in batch:
            account = accounts.get(unit.key, {})
            if unit.mso:
                located = [(str(directory[m].state or ""), datas[m]) for m in unit.members if m in datas]
                data = qbr_figures.merge([d for _, d in located], unit.key, account)
                products = _merge_products([tops.get(m, []) for m in unit.members])
                yield unit, q, qbr_figures.figures(data, q, cfg, products, located)
            else:
                yield unit, q, qbr_figures.figures(datas[unit.key], q, cfg, tops.get(unit.key, []))


def _merge_products(lists: Sequence[Sequence[TopProduct]]) -> list[TopProduct]:
    """An MSO's products: the same name across its stores summed."""
    merged: dict[str, list[Any]] = {}
    for items in lists:
        for p in items:
            cell = merged.setdefault(p.name, [p.category, 0.0, 0.0, 0.0])
            cell[1] += p.revenue
            cell[2] += p.units
            cell[3] += p.revenue * (p.online_share or 0.0)
    out = [TopProduct(n, c, round(r, 2), u, o / r if r else None) for n, (c, r, u, o) in merged.items()]
    return sorted(out, key=lambda p: (-p.revenue, p.name))


@dataclass(frozen=True)
class Latest:
    """The latest version of an account's pack for a quarter, as Salesforce has it."""

    version_id: str
    document_id: str
    version: int
    digest: str


def _kept(
    engine: Engine, org: Reader, stores: Sequence[str] | None, now: datetime, reads: PortfolioReads | None
) -> Reader:
    """`org` through the kept reads where a shard would read the whole portfolio anyway."""
    if stores is None or reads is None or scoped_read(len(stores), store_directory.count(engine)):
        return org
    return KeptReader(org, reads, now)


def _accounts(
    engine: Engine,
    org: Reader,
    keys: Sequence[str] | None,
    now: datetime,
    reads: PortfolioReads | None,
) -> dict[str, dict[str, Any]]:
    """The units' Accounts: by key for a few of a large portfolio, else from the kept whole read."""
    fields = {"Name", "ParentId", "BillingState"}
    reader = _kept(engine, org, keys, now, reads)
    if keys is None or not isinstance(reader, KeptReader):
        return read_accounts(org, fields, keys)
    every = read_accounts(reader, fields)
    wanted = set(keys)
    mine = {k: v for k, v in every.items() if k in wanted}
    parents = {str(a["ParentId"]) for a in mine.values() if a.get("ParentId")}
    return {k: v for k, v in every.items() if k in mine or str(v.get("Id")) in parents}


def latest_versions(org: Reader, titles: Sequence[str]) -> dict[str, Latest]:
    """The latest ContentVersion of each pack title (the digest read back from its Description)."""
    out: dict[str, Latest] = {}
    fields = ["Id", "ContentDocumentId", "VersionNumber", "Title", "Description"]
    for soql in select_in("ContentVersion", fields, "Title", sorted(set(titles)), "IsLatest = true"):
        for row in org.query(soql):
            m = _DIGEST.search(str(row.get("Description") or ""))
            version = (
                int(str(row.get("VersionNumber") or "0"))
                if str(row.get("VersionNumber") or "").isdigit()
                else 0
            )
            have = out.get(str(row["Title"]))
            if have is None or version > have.version:
                out[str(row["Title"])] = Latest(
                    str(row["Id"]), str(row.get("ContentDocumentId") or ""), version, m.group(1) if m else ""
                )
    return out


def read_reviews(
    org: Reader, keys: Sequence[str], quarters: Sequence[Quarter] = ()
) -> dict[str, dict[str, Any]]:
    """The Quarterly_Review__c of `keys`: by key, or through a KeptReader from the one kept read of
    the `quarters`' reviews of every store, the one the qbr job finds its reviews in (`read_by`)."""
    out: dict[str, dict[str, Any]] = {}
    fields = ["Id", KEY_FIELD, *PACK_FIELDS]
    if isinstance(org, KeptReader):
        quarter_names = [str(q) for q in quarters]
        for row in rows_by_value(org, OBJECT, fields, "Quarter__c", quarter_names, KEY_FIELD, keys):
            out[str(row[KEY_FIELD])] = row
        return out
    for soql in select_in(OBJECT, fields, KEY_FIELD, sorted(set(keys))):
        for row in org.query(soql):
            out[str(row[KEY_FIELD])] = row
    return out


def run_packs(
    engine: Engine,
    org: FileOrg,
    cfg: QbrPackFile,
    now: datetime,
    run_id: str,
    apply: ApplyOptions,
    stores: Sequence[str] | None = None,
    quarters: Sequence[Quarter] | None = None,
    upload: bool = True,
    keep_pdf: bool = False,
    render: Callable[[PackFigures], bytes] | None = None,
    clock: Callable[[], float] | None = None,
    reads: PortfolioReads | None = None,
) -> PackReport:
    """Render and upload the packs whose figures changed; point each Quarterly_Review__c at its File.

    `quarters` given (on demand): a quarter without data still gets a pack that says so, and the
    pack is returned (`keep_pdf`) for writing to disk; scheduled runs skip quarters without data.
    `reads`: the process's kept portfolio reads, which serve a shard's Accounts where a shard would
    read every Account anyway (as the sync jobs do).
    """
    if render is None:
        from jobs.qbr_render import render as render_pdf  # noqa: PLC0415 - matplotlib only when packs are made

        render = render_pdf
    tick = clock or time.process_time  # CPU seconds: what rendering costs, whatever else runs
    report = PackReport()
    on_demand = quarters is not None
    qs = list(quarters) if quarters is not None else quarters_for(cfg, now.date())
    directory = store_directory.rows(engine)
    todo = units(directory, stores)
    if stores is not None:
        known = {u.key for u in todo}
        todo += [Unit(s, ()) for s in stores if s not in known]  # an MSO parent with no locations, a typo
    accounts = _accounts(engine, org, [u.key for u in todo] if stores else None, now, reads)
    for u in todo:
        if not u.members or u.key not in accounts:
            for q in qs:
                why = (
                    "no Salesforce Account with this Store_Id__c"
                    if u.key not in accounts
                    else "no store data"
                )
                report.packs.append(PackResult(u.key, str(q), "no_account", error=why))
    todo = [u for u in todo if u.members and u.key in accounts]
    titles = [title_of(u.key, q) for u in todo for q in qs]
    latest = latest_versions(org, titles) if upload else {}
    review_keys = [review_key(u.key, q) for u in todo for q in qs if not u.mso]
    reviews = read_reviews(_kept(engine, org, stores, now, reads), review_keys, qs) if upload else {}
    desired: list[Desired] = []
    for unit, q, figs in pack_figures(engine, accounts, directory, todo, qs, cfg, now):
        if figs.days_covered == 0 and not on_demand:
            report.packs.append(PackResult(unit.key, str(q), "no_data", figures=figs))
            continue
        result = _one(org, unit, q, figs, accounts[unit.key], latest, upload, render, tick, report)
        if keep_pdf is False:
            result.pdf = None
        report.packs.append(result)
        rv = reviews.get(review_key(unit.key, q))
        if rv is not None and result.document_id:
            fields = {
                "Pack_File_Id__c": result.document_id,
                "Pack_Version__c": result.version,
                "Pack_Figures_Hash__c": figs.digest,
            }
            desired.append(
                Desired(
                    OBJECT,
                    KEY_FIELD,
                    review_key(unit.key, q),
                    fields,
                    account_key=unit.key,
                    reason="QBR pack",
                )
            )
    if desired:
        current = {(OBJECT, k): v for k, v in reviews.items()}
        plan = diff(desired, current, ())
        if plan.changes:
            queued = enqueue(engine, plan, run_id, NAME, now, apply)
            report.records = send(engine, org, queued.ids, now, apply)
    log.info("qbr_packs_done", **{k: v for k, v in report.data.items() if k != "failures"})
    return report


def _one(
    org: FileOrg,
    unit: Unit,
    q: Quarter,
    figs: PackFigures,
    account: Mapping[str, Any],
    latest: Mapping[str, Latest],
    upload: bool,
    render: Callable[[PackFigures], bytes],
    tick: Callable[[], float],
    report: PackReport,
) -> PackResult:
    title = title_of(unit.key, q)
    have = latest.get(title)
    digest = figs.digest
    if have is not None and have.digest == digest:
        return PackResult(
            unit.key, str(q), "unchanged", have.version_id, have.document_id, have.version, figures=figs
        )
    started = tick()
    pdf = render(figs)
    report.render_seconds += tick() - started
    if not upload:
        return PackResult(unit.key, str(q), "rendered", figures=figs, pdf=pdf)
    fields: dict[str, Any] = {
        "Title": title,
        "PathOnClient": f"QBR-pack-{unit.key}-{q}.pdf",
        "Description": f"{figs.layout.title}, {figs.account}, {q} ({figs.coverage}). "
        f"Made by csm-sync; figures sha256:{digest}",
    }
    if have is not None and have.document_id:
        fields["ContentDocumentId"] = have.document_id
        fields["ReasonForChange"] = "The figures changed" if have.digest else "Made again by csm-sync"
    else:
        fields["FirstPublishLocationId"] = account["Id"]
    try:
        version_id = org.upload_file(fields, pdf, fields["PathOnClient"])
        soql = soql_select(
            "ContentVersion", ["Id", "ContentDocumentId", "VersionNumber"], "Id = {id}", id=version_id
        )
        (row,) = list(org.query(soql))
    except Exception as exc:
        if isinstance(exc, SalesforceUnavailable | LimitReached):
            raise
        log.warning("qbr_pack_upload_failed", store=unit.key, quarter=str(q), error=str(exc)[:300])
        return PackResult(unit.key, str(q), "failed", error=str(exc)[:300], figures=figs, pdf=pdf)
    version = int(str(row.get("VersionNumber") or "1"))
    log.info("qbr_pack_uploaded", store=unit.key, quarter=str(q), version=version, bytes=len(pdf))
    return PackResult(
        unit.key,
        str(q),
        "uploaded",
        version_id,
        str(row.get("ContentDocumentId") or ""),
        version,
        figures=figs,
        pdf=pdf,
    )


def write_pdf(path: Path, pdf: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(pdf)
    tmp.replace(path)
