"""QBR pack: its figures and ROI estimate, what it says when data is missing, its PDF, its mapping file."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from jobs.qbr import roi
from jobs.qbr_figures import (
    QbrPackFile,
    RoiAssumptions,
    StateMix,
    figures,
    load,
    merge,
    parse_quarter,
    state_differences,
)
from jobs.qbr_pack import Unit, units
from jobs.qbr_render import render
from mappings.lifecycle import FileError, Quarter
from state.tables import StoreRow

from .builders import MAPPINGS
from .pack_data import PRODUCTS, Q3, pack_store

CFG = load(MAPPINGS / "qbr_pack.toml")
POPPLER = shutil.which("pdftotext") and shutil.which("pdfinfo")
needs_poppler = pytest.mark.skipif(not POPPLER, reason="poppler-utils (pdftotext, pdfinfo) is not installed")


def pdf_text(pdf: bytes, tmp: Path) -> tuple[int, str]:
    path = tmp / "pack.pdf"
    path.write_bytes(pdf)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    )
    return pages, text.stdout


def test_the_pack_uses_the_qbr_jobs_figures() -> None:
    data = pack_store()
    f = figures(data, Q3, CFG, PRODUCTS)
    assert f.current == roi(data, Q3.start, Q3.end)
    assert (f.days_covered, f.quarter_days, f.coverage.startswith("covers all 92 days")) == (92, 92, True)
    assert len(f.weeks) == 13 and f.weeks[-1].end == Q3.end and f.weeks[0].start == Q3.start
    assert sum(w.online_orders for w in f.weeks) == f.current.online_orders
    assert sum(w.in_store_orders for w in f.weeks) == f.current.in_store_orders
    assert abs(sum(f.mix.values()) - 1.0) < 1e-9 and f.mix_previous
    assert f.notes == ()


def test_the_roi_estimate_follows_the_assumptions() -> None:
    f = figures(pack_store(), Q3, CFG, PRODUCTS)
    r, a, e = f.current, CFG.roi, f.estimate
    assert r.aov_online is not None and r.aov_in_store is not None
    assert e.incremental_revenue == pytest.approx((r.aov_online - r.aov_in_store) * r.online_orders * 0.5)
    assert e.minutes_saved == pytest.approx(r.online_orders * a.phone_order_share * a.phone_minutes_per_order)
    assert e.time_value == pytest.approx(e.minutes_saved / 60 * a.budtender_hourly_cost)
    doubled = CFG.model_copy(update={"roi": RoiAssumptions(aov_lift_attribution=1.0)})
    g = figures(pack_store(), Q3, doubled, PRODUCTS)
    assert g.estimate.incremental_revenue == pytest.approx(2 * (e.incremental_revenue or 0))
    assert g.digest != f.digest  # an assumption is a figure: a new version is due


def test_the_digest_is_the_figures_not_the_run() -> None:
    a = figures(pack_store(), Q3, CFG, PRODUCTS)
    later = pack_store(today=date(2026, 11, 30))  # a later day, the same closed quarter
    b = figures(later, Q3, CFG, PRODUCTS)
    assert a.digest == b.digest
    c = figures(pack_store(seed=2), Q3, CFG, PRODUCTS)
    assert c.digest != a.digest


def test_a_partial_quarter_says_which_days_it_covers() -> None:
    data = pack_store(first_day=date(2026, 8, 6))
    f = figures(data, Q3, CFG, PRODUCTS)
    assert f.days_covered == 56 and f.coverage.startswith("covers 56 of 92 days (Aug 6 to Sep 30, 2026)")
    assert any("Partial quarter" in n for n in f.notes)
    assert [w.days for w in f.weeks[:7]] == [0, 0, 0, 0, 0, 6, 7] and f.weeks[-1].days == 8
    assert f.weeks[0].per_day(f.weeks[0].online_orders) is None  # before the data: not a zero
    running = figures(pack_store(), Quarter(2026, 4), CFG, ())
    assert running.days_covered == 19 and "19 of 92 days" in running.coverage and len(running.weeks) == 3


def test_a_store_without_online_orders_is_told_so_not_charted() -> None:
    f = figures(pack_store(online=0, analytics=False), Q3, CFG, ())
    assert f.current.online_orders == 0 and f.estimate.incremental_revenue is None
    assert not f.aov_comparable
    joined = " ".join(f.notes)
    assert "No online orders this quarter" in joined and "funnel is not drawn" in joined


def test_a_store_missing_its_in_store_channel() -> None:
    data = pack_store(in_store=0)
    f = figures(data, Q3, CFG, ())
    assert f.current.in_store_orders == 0 and f.estimate.incremental_revenue is None
    assert any("No in-store orders" in n for n in f.notes)


def test_a_quarter_without_data() -> None:
    f = figures(pack_store(), Quarter(2025, 4), CFG, ())
    assert f.days_covered == 0 and f.weeks == () and f.covered_from is None
    assert f.notes == ("There is no order data for 2025-Q4: no charts of it can be drawn.",)
    assert f.coverage == "no order data in 2025-Q4 (0 of 92 days)"


def test_an_mso_compares_its_states() -> None:
    il = pack_store("IL-010", seed=3, categories={"flower": 0.6, "vapes": 0.25, "edibles": 0.15})
    nv = pack_store("NV-010", seed=4, categories={"flower": 0.3, "beverages": 0.3, "edibles": 0.4})
    data = merge([il, nv], "MSO-9", {"Name": "Nine Group"})
    f = figures(data, Q3, CFG, PRODUCTS, [("IL", il), ("NV", nv)])
    assert [s.state for s in f.states] == ["IL", "NV"] and f.locations == 2
    assert f.current.online_orders == (
        roi(il, Q3.start, Q3.end).online_orders + roi(nv, Q3.start, Q3.end).online_orders
    )
    il_mix, nv_mix = (s.shares for s in f.states)
    spread = {c: abs(il_mix.get(c, 0) - nv_mix.get(c, 0)) for c in set(il_mix) | set(nv_mix)}
    widest = max(spread, key=lambda c: spread[c])
    assert widest == "beverages" and nv_mix[widest] > 0.25 and widest not in il_mix
    lines = state_differences(f.states)
    assert lines[0] == (
        f"Beverages: {nv_mix[widest]:.0%} of revenue in NV vs 0% in IL ({100 * spread[widest]:.0f} pts apart)"
    )
    assert state_differences([StateMix("IL", 1, 1.0, {"flower": 1.0})]) == []


def test_units_put_an_mso_over_its_locations() -> None:
    rows = {
        "NV-1": StoreRow(store_id="NV-1", state="NV", attrs={"parent_id": "MSO-1"}),
        "AZ-1": StoreRow(store_id="AZ-1", state="AZ", attrs={"parent_id": "MSO-1"}),
        "CA-1": StoreRow(store_id="CA-1", state="CA", attrs={}),
    }
    assert units(rows, None) == [
        Unit("AZ-1", ("AZ-1",)),
        Unit("CA-1", ("CA-1",)),
        Unit("NV-1", ("NV-1",)),
        Unit("MSO-1", ("AZ-1", "NV-1"), mso=True),
    ]
    assert units(rows, ["MSO-1"]) == [Unit("MSO-1", ("AZ-1", "NV-1"), mso=True)]
    assert units(rows, ["CA-1"]) == [Unit("CA-1", ("CA-1",))]


def test_parse_quarter() -> None:
    assert parse_quarter("2026Q4") == parse_quarter("2026-q4") == Quarter(2026, 4)
    with pytest.raises(ValueError, match="2026Q4"):
        parse_quarter("Q4 2026")


def test_the_mapping_file_is_checked_like_the_others(tmp_path: Path) -> None:
    bad = tmp_path / "mappings" / "qbr_pack.toml"
    bad.parent.mkdir()
    bad.write_text("[roi]\nphone_order_share = 1.5\nbudtender_hourly_cost = nan\n[pack]\ntop_product = 3\n")
    with pytest.raises(FileError) as info:
        load(bad)
    text = "\n".join(str(i) for i in info.value.issues)
    assert "mappings/qbr_pack.toml" in text and "roi.phone_order_share" in text
    assert "roi.budtender_hourly_cost" in text and 'pack: unknown key "top_product"' in text
    assert load(MAPPINGS / "qbr_pack.toml") == QbrPackFile(
        roi=RoiAssumptions(), pack=CFG.pack
    )  # the shipped file states the defaults


@needs_poppler
def test_the_pdf_shows_the_figures_and_every_assumption(tmp_path: Path) -> None:
    f = figures(pack_store(), Q3, CFG, PRODUCTS)
    pdf = render(f)
    assert pdf == render(f)  # the same figures, the same bytes
    pages, text = pdf_text(pdf, tmp_path)
    assert pages == 4
    r = f.current
    assert f"${r.aov_online:,.2f}" in text and f"${r.aov_in_store:,.2f}" in text
    assert f"{r.online_orders:,.0f}" in text and "covers all 92 days of 2026-Q3" in text
    for name in RoiAssumptions.model_fields:
        assert name in text
    assert "Blue Dream 3.5g" in text and "Orders per day by channel" in text
    assert f"${f.estimate.incremental_revenue:,.0f}" in text


@needs_poppler
def test_missing_data_is_said_in_the_pdf_and_an_mso_gets_its_states_page(tmp_path: Path) -> None:
    pages, text = pdf_text(render(figures(pack_store(online=0, analytics=False), Q3, CFG, ())), tmp_path)
    assert pages == 4
    assert "No online orders this quarter" in text and "No e-commerce analytics" in text
    assert "No product-level sales" in text
    pages, text = pdf_text(render(figures(pack_store(), Quarter(2025, 4), CFG, ())), tmp_path)
    assert pages == 4 and "No orders were recorded for 2025-Q4" in text
    il = pack_store("IL-010", seed=3)
    nv = pack_store("NV-010", seed=4, categories={"flower": 0.3, "beverages": 0.3, "edibles": 0.4})
    f = figures(merge([il, nv], "MSO-9", {"Name": "Nine Group"}), Q3, CFG, (), [("IL", il), ("NV", nv)])
    pages, text = pdf_text(render(f), tmp_path)
    assert pages == 5 and "Across your states" in text and "What differs" in text


@needs_poppler
def test_names_outside_the_core_fonts_are_still_printed(tmp_path: Path) -> None:
    f = figures(pack_store(name="Fleur de Lis → Øresund Ōhanami"), Q3, CFG, PRODUCTS)
    _, text = pdf_text(render(replace(f)), tmp_path)
    assert "Fleur de Lis → Øresund" in text


def test_weeks_stop_at_the_last_complete_day() -> None:
    f = figures(pack_store(), Quarter(2026, 4), CFG, ())
    assert f.weeks[-1].end == date(2026, 10, 19) and f.weeks[-1].start == date(2026, 10, 15)
    assert f.covered_to == date(2026, 10, 20) - timedelta(days=1)
