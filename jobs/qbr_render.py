# ruff: noqa: RUF001 - the pack is typeset: the multiplication sign and en dash are meant
"""A QBR pack as PDF: matplotlib pages (vector charts and text), readable in greyscale.

Pure: PackFigures in, PDF bytes out. Channels are told apart by fill, hatch, marker and line style,
never by colour alone, and every axis names its unit and period. The PDF carries no creation date,
so the same figures render to the same bytes.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: the pack is rendered on servers and in CI
# The core fonts' metrics have no "normal" weight entry; matplotlib says so on every lookup.
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)

from matplotlib.axes import Axes  # noqa: E402 - after the backend is chosen
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from jobs.qbr_figures import ASSUMPTION_TEXT, FILE, PackFigures, state_differences  # noqa: E402
from mappings.lifecycle import Quarter  # noqa: E402

PAGE = (11.69, 8.27)  # A4 landscape, inches
INK = "#1b2a38"
ONLINE = "#24506e"  # dark: solid fill, solid line, round markers
IN_STORE = "#c9d3dc"  # light: hatched fill, dashed line, square markers
MUTED = "#5f6b76"
RULE = "#b8c2cc"
# The PDF core fonts (Helvetica, never embedded: every viewer has them) render a page in about two
# thirds of the time of an embedded TrueType font; a pack whose text needs a character outside
# their encoding (cp1252) is set in DejaVu Sans, embedded, instead.
CORE_FONTS: dict[str, Any] = {
    "pdf.use14corefonts": True,
    "font.family": "sans-serif",
    "font.sans-serif": ["Helvetica"],
}
EMBEDDED_FONTS: dict[str, Any] = {"pdf.use14corefonts": False, "font.family": "DejaVu Sans"}
STYLE: dict[str, Any] = {
    "font.size": 9,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlecolor": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "hatch.linewidth": 0.6,
    "hatch.color": "#4a5a68",
    "legend.frameon": False,
    "pdf.fonttype": 3,
    "text.parse_math": False,  # "$" is money here, not TeX
    "pdf.compression": 6,
}


def money(x: float, cents: bool = False) -> str:
    return f"${x:,.2f}" if cents else f"${x:,.0f}"


def _pct(x: float | None, places: int = 0) -> str:
    return "n/a" if x is None else f"{x:.{places}%}"


def _signed_pct(x: float | None) -> str:
    if x is None:
        return "n/a"
    return "±0%" if round(100 * x) == 0 else f"{x:+.0%}"


def render(f: PackFigures) -> bytes:
    """The pack's PDF: summary, orders and funnel, what sells, (MSO) states, ROI and assumptions."""
    pages: list[Callable[[Figure, PackFigures], None]] = [_summary, _orders, _mix]
    if len(f.states) > 1:
        pages.append(_states)
    pages.append(_roi)
    buf = io.BytesIO()
    rc: Any = {**STYLE, **(CORE_FONTS if _core_encodable(f) else EMBEDDED_FONTS)}
    with matplotlib.rc_context(rc):
        meta: dict[str, Any] = {
            "Title": f"{f.layout.title}: {f.account}, {f.quarter}",
            "Author": f.layout.prepared_by or None,
            "Subject": f"QBR pack {f.store_id} {f.quarter}",
            "Creator": "csm-sync",
            "Producer": "csm-sync (matplotlib)",
            "CreationDate": None,
        }
        with PdfPages(buf, metadata=meta) as pdf:
            for n, draw in enumerate(pages, start=1):
                fig = Figure(figsize=PAGE)
                _frame(fig, f, n, len(pages))
                draw(fig, f)
                pdf.savefig(fig)
    return buf.getvalue()


def _core_encodable(f: PackFigures) -> bool:
    """Whether every text of the pack (its own words and the data's names) fits the core fonts."""
    texts = [f.account, f.store_id, f.layout.title, f.layout.prepared_by, *(p.name for p in f.top_products)]
    try:
        "".join(texts).encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


# -- page furniture -------------------------------------------------------------------------------
def _frame(fig: Figure, f: PackFigures, n: int, total: int) -> None:
    fig.patches.append(
        FancyBboxPatch(
            (0, 0.915),
            1,
            0.085,
            boxstyle="square,pad=0",
            transform=fig.transFigure,
            facecolor=INK,
            edgecolor="none",
        )
    )
    fig.text(
        0.04,
        0.962,
        f"{f.layout.title} · {f.quarter}",
        color="white",
        fontsize=16,
        fontweight="bold",
        va="center",
    )
    where = f"{f.account} ({f.store_id})" + (f" · {f.locations} locations" if f.locations > 1 else "")
    fig.text(0.04, 0.930, where, color="#d9e2ea", fontsize=10, va="center")
    fig.text(0.96, 0.962, f.layout.prepared_by, color="#d9e2ea", fontsize=9, ha="right", va="center")
    fig.text(
        0.96,
        0.930,
        f"{f.quarter_start:%b %-d} – {f.quarter_end:%b %-d, %Y}",
        color="#d9e2ea",
        fontsize=9,
        ha="right",
        va="center",
    )
    fig.add_artist(_hline(fig, 0.045))
    fig.text(
        0.04,
        0.025,
        f"Data: {f.coverage}. Figures from the store's POS and e-commerce platform.",
        fontsize=7.5,
        color=MUTED,
    )
    fig.text(0.96, 0.025, f"Page {n} of {total}", fontsize=7.5, color=MUTED, ha="right")


def _hline(fig: Figure, y: float) -> Any:
    from matplotlib.lines import Line2D  # noqa: PLC0415 - one small import for the rule line

    return Line2D([0.04, 0.96], [y, y], transform=fig.transFigure, color=RULE, linewidth=0.6)


def _heading(fig: Figure, text: str, sub: str = "") -> None:
    fig.text(0.04, 0.875, text, fontsize=14, fontweight="bold", color=INK)
    if sub:
        fig.text(0.04, 0.848, sub, fontsize=9.5, color=MUTED)


def _empty(ax: Axes, title: str, message: str) -> None:
    """A chart that cannot be drawn honestly: its frame, its title and why, instead of empty axes."""
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(True)
        ax.spines[side].set_linestyle((0, (3, 3)))
        ax.spines[side].set_color(RULE)
    ax.text(
        0.5,
        0.5,
        _wrap(message, 52),
        ha="center",
        va="center",
        transform=ax.transAxes,
        color=MUTED,
        fontsize=9.5,
    )


def _pts(delta: float) -> str:
    pts = round(100 * delta)
    return "±0 pts" if pts == 0 else f"{pts:+d} pts"


def _stores(n: int) -> str:
    return f"{n} store" if n == 1 else f"{n} stores"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _style_table(table: Any, size: float, right: Sequence[int] = ()) -> None:
    table.auto_set_font_size(False)
    table.set_fontsize(size)
    table.scale(1, 1.55)
    for (row, col), cell in table.get_celld().items():
        cell.set_edgecolor(RULE)
        cell.set_linewidth(0.4)
        cell.PAD = 0.03
        if row == 0:
            cell.set_facecolor(INK)
            cell.get_text().set_color("white")
            cell.get_text().set_fontweight("bold")
        elif row % 2 == 0:
            cell.set_facecolor("#f1f4f7")
        if col in right:
            cell.get_text().set_horizontalalignment("right")


def _wrap(text: str, width: int) -> str:
    import textwrap  # noqa: PLC0415

    return "\n".join(textwrap.wrap(text, width))


def _bullets(
    fig: Figure, x: float, y: float, lines: Sequence[str], width: int = 60, size: float = 9.5
) -> float:
    """Bulleted paragraphs from (x, y) downwards; returns the y below the last one."""
    for line in lines:
        wrapped = _wrap(line, width).split("\n")
        fig.text(x, y, "•", fontsize=size, color=ONLINE, va="top")
        fig.text(x + 0.014, y, "\n".join(wrapped), fontsize=size, color=INK, va="top", linespacing=1.35)
        y -= 0.028 * len(wrapped) + 0.012
    return y


# -- page 1: summary ------------------------------------------------------------------------------
def _tiles(fig: Figure, f: PackFigures) -> None:
    r, e = f.current, f.estimate
    tiles = [
        ("Online AOV", money(r.aov_online, True) if r.aov_online else "n/a", "USD per online order"),
        ("In-store AOV", money(r.aov_in_store, True) if r.aov_in_store else "n/a", "USD per in-store order"),
        ("AOV lift online", _signed_pct(r.aov_lift) if f.aov_comparable else "n/a", "online vs in-store"),
        ("Online orders", f"{r.online_orders:,.0f}", f"{_pct(r.online_share)} of all orders"),
        ("Conversion", _pct(r.conversion, 1), "orders per session"),
        (
            "Estimated return",
            money((e.incremental_revenue or 0.0) + e.time_value) if r.online_orders else "n/a",
            "see the ROI page",
        ),
    ]
    w, gap, x0, y0, h = 0.143, 0.0094, 0.04, 0.70, 0.12
    for i, (label, value, sub) in enumerate(tiles):
        x = x0 + i * (w + gap)
        fig.patches.append(
            FancyBboxPatch(
                (x, y0),
                w,
                h,
                boxstyle="round,pad=0,rounding_size=0.008",
                transform=fig.transFigure,
                facecolor="#f1f4f7",
                edgecolor=RULE,
                linewidth=0.6,
            )
        )
        fig.text(x + 0.012, y0 + h - 0.025, label, fontsize=8.5, color=MUTED)
        fig.text(x + 0.012, y0 + 0.045, value, fontsize=17, fontweight="bold", color=INK)
        fig.text(x + 0.012, y0 + 0.015, sub, fontsize=7.5, color=MUTED)


def _summary(fig: Figure, f: PackFigures) -> None:
    _heading(fig, "Summary", f"Data {f.coverage}.")
    _tiles(fig, f)
    ax = fig.add_axes((0.07, 0.10, 0.40, 0.52))
    _aov_chart(ax, f)
    fig.text(0.53, 0.62, "Headlines", fontsize=11, fontweight="bold", color=INK, va="top")
    y = _bullets(fig, 0.53, 0.585, _headlines(f), width=70)
    if f.notes:
        fig.text(
            0.53, y - 0.01, "What the data cannot show", fontsize=11, fontweight="bold", color=INK, va="top"
        )
        _bullets(fig, 0.53, y - 0.045, f.notes, width=62, size=9)


def _aov_chart(ax: Axes, f: PackFigures) -> None:
    title = "Average order value by channel (USD per order)"
    if not f.aov_comparable:
        why = (
            "No online orders this quarter, so online and in-store order values cannot be compared."
            if not f.current.online_orders
            else "No in-store orders this quarter, so order values cannot be compared."
            if not f.current.in_store_orders
            else f"Fewer than {f.layout.min_channel_orders} orders in a channel: "
            "too few to compare order values."
        )
        _empty(ax, title, why)
        return
    periods = [(str(Quarter.of(f.quarter_start).previous()), f.previous), (f.quarter, f.current)]
    xs = range(len(periods))
    width = 0.36
    for offset, label, attr, face, hatch in (
        (-width / 2, "Online", "aov_online", ONLINE, ""),
        (width / 2, "In store", "aov_in_store", IN_STORE, "///"),
    ):
        vals = [getattr(r, attr) or 0.0 for _, r in periods]
        bars = ax.bar(
            [x + offset for x in xs],
            vals,
            width,
            label=label,
            color=face,
            hatch=hatch,
            edgecolor=INK,
            linewidth=0.6,
        )
        for b, v in zip(bars, vals, strict=True):
            if v:
                ax.annotate(
                    money(v, True),
                    (b.get_x() + b.get_width() / 2, v),
                    ha="center",
                    va="bottom",
                    fontsize=8.5,
                    xytext=(0, 2),
                    textcoords="offset points",
                )
    ax.set_xticks(list(xs), [p for p, _ in periods])
    ax.set_ylabel("USD per order")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"${v:,.0f}"))
    ax.set_title(title)
    ax.legend(loc="upper left", ncols=2)
    top = max((r.aov_online or 0.0) for _, r in [*periods, ("", f.current)])
    ax.set_ylim(0, max(top, f.current.aov_in_store or 0.0) * 1.25 or 1)
    lift = f.current.aov_lift
    if lift is not None:
        ax.text(
            0.98,
            0.97,
            f"Online lift {lift:+.0%}",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=11,
            fontweight="bold",
            color=ONLINE,
        )


def _headlines(f: PackFigures) -> list[str]:
    r, p, e = f.current, f.previous, f.estimate
    out = []
    if not f.days_covered:
        return [f"No orders were recorded for {f.quarter}."]
    if f.aov_comparable and r.aov_online and r.aov_in_store:
        out.append(
            f"Online orders averaged {money(r.aov_online, True)} against {money(r.aov_in_store, True)} in "
            f"store: {_signed_pct(r.aov_lift)} per order."
        )
    out.append(
        f"{r.orders:,.0f} orders in {f.days_covered} days, {_pct(r.online_share)} of them online "
        f"({r.online_orders:,.0f})."
    )
    if r.orders_per_day and p.orders_per_day:
        out.append(
            f"Orders per day {_signed_pct(r.orders_per_day / p.orders_per_day - 1)} against the "
            "previous quarter "
            f"({p.orders_per_day:,.1f} to {r.orders_per_day:,.1f})."
        )
    if r.conversion is not None:
        out.append(
            f"{_pct(r.conversion, 1)} of online sessions became orders; {_pct(r.abandonment)} of carts "
            "were abandoned."
        )
    if e.incremental_revenue is not None and e.incremental_revenue > 0:
        out.append(f"Estimated incremental revenue from the online AOV lift: {money(e.incremental_revenue)}.")
    if r.online_orders:
        out.append(
            f"About {e.hours_saved:,.0f} budtender hours ({money(e.time_value)}) "
            "not spent taking phone orders."
        )
    if f.mix:
        top = max(f.mix.items(), key=lambda kv: kv[1])
        out.append(
            f"{top[0].replace('_', ' ').capitalize()} is the largest category at {top[1]:.0%} of revenue."
        )
    return out


# -- page 2: orders, funnel, abandonment ----------------------------------------------------------
def _week_labels(f: PackFigures) -> list[str]:
    return [f"{w.start:%b %-d}" for w in f.weeks]


def _orders(fig: Figure, f: PackFigures) -> None:
    _heading(
        fig,
        "Orders and the online funnel",
        "Weekly orders by channel, the path from visit to order, and how many carts were left behind.",
    )
    ax = fig.add_axes((0.07, 0.47, 0.53, 0.33))
    title = f"Orders per day by channel, week by week, {f.quarter}"
    if not f.weeks:
        _empty(ax, title, f"No orders were recorded for {f.quarter}.")
    else:
        xs = list(range(len(f.weeks)))
        shown = [i for i, w in enumerate(f.weeks) if w.days]
        styles: list[tuple[str, str, dict[str, Any]]] = [
            ("online_orders", "Online", {"color": ONLINE, "marker": "o", "linestyle": "-", "linewidth": 1.8}),
            ("in_store_orders", "In store", {"color": "#6f7f8d", "marker": "s", "linestyle": "--",
                                             "linewidth": 1.6, "markerfacecolor": "white"}),
        ]  # fmt: skip
        for attr, label, style in styles:
            ys = [f.weeks[i].per_day(getattr(f.weeks[i], attr)) or 0.0 for i in shown]
            ax.plot(shown, ys, markersize=4.5, label=label, **style)
        ax.set_xticks(xs, _week_labels(f), rotation=0, fontsize=7.5)
        ax.set_xlim(-0.5, max(12, len(f.weeks) - 1) + 0.5)
        ax.set_xlabel("week starting")
        ax.set_ylabel("orders per day (week's average)")
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", color="#e3e8ed", linewidth=0.6)
        ax.set_title(title)
        ax.legend(loc="lower left", ncols=2)
        if shown and shown[0] > 0 and f.covered_from is not None:
            ax.axvspan(-0.5, shown[0] - 0.5, color="#eef1f4", linewidth=0)
            ax.text((shown[0] - 1) / 2, ax.get_ylim()[1] * 0.5, f"no data\nbefore {f.covered_from:%b %-d}",
                    ha="center", va="center", fontsize=8, color=MUTED)  # fmt: skip
        if len(f.weeks) < 13:
            ax.text(0.99, 0.02, f"{len(f.weeks)} of 13 weeks so far", transform=ax.transAxes, ha="right",
                    fontsize=8, color=MUTED)  # fmt: skip
    _funnel(fig.add_axes((0.68, 0.47, 0.28, 0.33)), f)
    _abandonment(fig.add_axes((0.07, 0.10, 0.53, 0.27)), f)
    r = f.current
    if r.sessions:
        rates = [
            f"{r.sessions:,.0f} sessions led to {r.carts:,.0f} carts "
            f"({r.carts / r.sessions:.1%} of sessions).",
            f"{f.checkouts:,.0f} checkouts began "
            f"({_pct(f.checkouts / r.carts if r.carts else None)} of carts).",
            f"{(r.platform_orders or r.online_orders):,.0f} orders were placed: "
            f"conversion {_pct(r.conversion, 1)}.",
        ]
        fig.text(0.68, 0.37, "Funnel, in numbers", fontsize=11, fontweight="bold", color=INK, va="top")
        _bullets(fig, 0.68, 0.335, rates, width=44, size=9)


def _funnel(ax: Axes, f: PackFigures) -> None:
    r = f.current
    title = f"Online funnel, {f.quarter}"
    if not r.sessions:
        _empty(ax, title, "No e-commerce analytics (sessions, carts, checkouts) reached us for this quarter.")
        return
    placed = r.platform_orders or r.online_orders
    steps = [("Sessions", r.sessions), ("Carts", r.carts), ("Checkouts", f.checkouts), ("Orders", placed)]
    hatches = ["", "..", "//", "xx"]
    ys = list(range(len(steps)))[::-1]
    for y, (label, v), h in zip(ys, steps, hatches, strict=True):
        ax.barh(
            y,
            v,
            color=ONLINE if label == "Orders" else IN_STORE,
            hatch=h,
            edgecolor=INK,
            linewidth=0.6,
            height=0.62,
        )
        share = f" ({v / r.sessions:.1%})" if label != "Sessions" else ""
        ax.text(v, y, f" {v:,.0f}{share}", va="center", fontsize=8.5, color=INK)
    ax.set_yticks(ys, [s for s, _ in steps])
    ax.set_xlim(0, r.sessions * 1.45)
    ax.set_xlabel("count over the quarter")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_major_locator(MaxNLocator(3))
    ax.set_title(title)


def _abandonment(ax: Axes, f: PackFigures) -> None:
    title = "Cart abandonment per week (% of carts not ordered)"
    pts = [(i, w.abandonment) for i, w in enumerate(f.weeks) if w.abandonment is not None]
    if not pts:
        _empty(ax, title, "No cart data (e-commerce analytics) for this quarter: abandonment is unknown.")
        return
    xs = [i for i, _ in pts]
    ys = [100 * (v or 0.0) for _, v in pts]
    ax.plot(xs, ys, color=INK, marker="D", markersize=4, linestyle="-", linewidth=1.4)
    q = f.current.abandonment
    if q is not None:
        ax.axhline(100 * q, color=MUTED, linestyle=":", linewidth=1)
        ax.text(
            len(f.weeks) - 0.6, 100 * q, f" quarter {q:.0%}", va="bottom", ha="right", fontsize=8, color=MUTED
        )
    ax.set_xticks(list(range(len(f.weeks))), _week_labels(f), fontsize=7.5)
    ax.set_xlabel("week starting")
    ax.set_ylabel("% of carts")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", color="#e3e8ed", linewidth=0.6)
    ax.set_title(title)


# -- page 3: category mix and top products --------------------------------------------------------
def _mix_rows(f: PackFigures) -> list[tuple[str, float, float | None]]:
    keep = f.layout.mix_categories
    cats = sorted(f.mix, key=lambda c: (-f.mix[c], c))
    rows: list[tuple[str, float, float | None]] = [
        (c, f.mix[c], f.mix_previous.get(c, 0.0) if f.mix_previous else None) for c in cats[: keep - 1]
    ]
    rest = cats[keep - 1 :]
    if len(rest) == 1:
        c = rest[0]
        rows.append((c, f.mix[c], f.mix_previous.get(c, 0.0) if f.mix_previous else None))
    elif rest:
        before = sum(v for c, v in f.mix_previous.items() if c not in {r[0] for r in rows})
        rows.append(("other", sum(f.mix[c] for c in rest), before if f.mix_previous else None))
    return rows


def _mix(fig: Figure, f: PackFigures) -> None:
    _heading(
        fig,
        "What sells",
        "Revenue share by product category against the previous quarter, and the "
        "products that brought in the most.",
    )
    ax = fig.add_axes((0.15, 0.10, 0.33, 0.68))
    title = f"Category mix, % of revenue ({f.quarter} vs previous)"
    rows = _mix_rows(f)
    if not rows:
        _empty(ax, title, "No sales by product category reached us for this quarter.")
    else:
        ys = list(range(len(rows)))[::-1]
        h = 0.38
        now = [100 * v for _, v, _ in rows]
        ax.barh([y + h / 2 for y in ys], now, h, color=ONLINE, edgecolor=INK, linewidth=0.6, label=f.quarter)
        if f.mix_previous:
            before = [100 * (b or 0.0) for _, _, b in rows]
            ax.barh(
                [y - h / 2 for y in ys],
                before,
                h,
                color=IN_STORE,
                hatch="///",
                edgecolor=INK,
                linewidth=0.6,
                label="previous quarter",
            )
        for y, (_, v, b) in zip(ys, rows, strict=True):
            change = f"  ({_pts(v - b)})" if b is not None else ""
            ax.text(100 * v, y + h / 2, f" {v:.0%}{change}", va="center", fontsize=8.5, color=INK)
        ax.set_yticks(ys, [c.replace("_", " ").capitalize() for c, _, _ in rows])
        ax.set_xlabel("% of revenue")
        ax.set_xlim(0, max(now + [100 * (b or 0) for _, _, b in rows]) * 1.45)
        ax.legend(loc="lower right")
        ax.set_title(title, loc="left")
    _products(fig, f)


def _products(fig: Figure, f: PackFigures) -> None:
    x = 0.55
    fig.text(
        x,
        0.80,
        f"Top {len(f.top_products) or f.layout.top_products} products by revenue, {f.quarter}",
        fontsize=11,
        fontweight="bold",
        color=INK,
        va="top",
    )
    if not f.top_products:
        fig.text(
            x,
            0.76,
            "No product-level sales (POS line items) reached us for this quarter.",
            fontsize=9.5,
            color=MUTED,
            va="top",
        )
        return
    ax = fig.add_axes((x, 0.10, 0.41, 0.66))
    ax.axis("off")
    rows = [
        [
            str(i),
            _clip(p.name, 32),
            p.category.replace("_", " "),
            money(p.revenue),
            f"{p.units:,.0f}",
            _pct(p.online_share),
        ]
        for i, p in enumerate(f.top_products, start=1)
    ]
    table = ax.table(
        cellText=rows,
        colLabels=["#", "Product", "Category", "Revenue", "Units", "Online"],
        colWidths=[0.05, 0.44, 0.15, 0.14, 0.10, 0.12],
        loc="upper left",
        cellLoc="left",
    )
    _style_table(table, 8.5, right=(3, 4, 5))
    rows_h = 0.045 * (len(rows) + 1)
    _mix_changes(fig, f, 0.76 - rows_h - 0.05)


def _mix_changes(fig: Figure, f: PackFigures, y: float) -> None:
    """The categories that gained or lost most share, in words, under the products table."""
    if not f.mix or not f.mix_previous:
        return
    cats = set(f.mix) | set(f.mix_previous)
    moves = sorted(
        ((f.mix.get(c, 0.0) - f.mix_previous.get(c, 0.0), c) for c in cats), key=lambda m: -abs(m[0])
    )
    lines = [
        f"{c.replace('_', ' ').capitalize()}: {f.mix_previous.get(c, 0.0):.0%} to "
        f"{f.mix.get(c, 0.0):.0%} of revenue "
        f"({_pts(d)})"
        for d, c in moves[:3]
        if round(100 * d) != 0
    ] or ["No category moved by a full point of revenue share."]
    fig.text(0.55, y, "How the mix moved", fontsize=11, fontweight="bold", color=INK, va="top")
    _bullets(fig, 0.55, y - 0.035, lines, width=60, size=9)


# -- page 4 (MSO): across states ------------------------------------------------------------------
def _states(fig: Figure, f: PackFigures) -> None:
    names = ", ".join(s.state for s in f.states)
    _heading(fig, "Across your states", f"Category share of revenue per state ({names}), {f.quarter}.")
    ax = fig.add_axes((0.07, 0.12, 0.55, 0.66))
    cats = sorted(
        {c for s in f.states for c in s.shares}, key=lambda c: -max(s.shares.get(c, 0) for s in f.states)
    )
    cats = cats[: f.layout.mix_categories + 2]
    hatches = ["", "///", "...", "xx", "\\\\", "oo", "--"]
    faces = [ONLINE, IN_STORE, "#8fa3b5", "white", "#e6ebf0", "#5d7890", "white"]
    n = len(f.states)
    width = 0.8 / n
    xs = list(range(len(cats)))
    for i, s in enumerate(f.states):
        vals = [100 * s.shares.get(c, 0.0) for c in cats]
        ax.bar(
            [x - 0.4 + width * (i + 0.5) for x in xs],
            vals,
            width,
            label=f"{s.state} ({_stores(s.stores)})",
            color=faces[i % len(faces)],
            hatch=hatches[i % len(hatches)],
            edgecolor=INK,
            linewidth=0.6,
        )
    ax.set_xticks(xs, [c.replace("_", " ").capitalize() for c in cats], fontsize=8)
    ax.set_ylabel("% of the state's revenue")
    ax.grid(axis="y", color="#e3e8ed", linewidth=0.6)
    ax.legend(loc="upper right")
    ax.set_title(f"Category share per state, {f.quarter}")
    fig.text(0.66, 0.78, "What differs", fontsize=11, fontweight="bold", color=INK, va="top")
    y = _bullets(fig, 0.66, 0.745, state_differences(f.states), width=46)
    fig.text(0.66, y - 0.01, "Revenue per state", fontsize=11, fontweight="bold", color=INK, va="top")
    _bullets(
        fig,
        0.66,
        y - 0.045,
        [f"{s.state}: {money(s.revenue)} from {_stores(s.stores)}" for s in f.states],
        width=46,
    )


# -- last page: ROI estimate and its assumptions --------------------------------------------------
def _roi(fig: Figure, f: PackFigures) -> None:
    r, e, a = f.current, f.estimate, f.assumptions
    _heading(
        fig,
        "Return on the online channel (estimate)",
        f"How the estimate is made, and every assumption it rests on (set by your CSM team in {FILE}).",
    )
    lines: list[tuple[str, str]] = []
    if e.incremental_revenue is not None and e.aov_gap is not None:
        lines.append(
            (
                "Incremental revenue from the AOV lift",
                f"({money(r.aov_online or 0, True)} - {money(r.aov_in_store or 0, True)}) × "
                f"{r.online_orders:,.0f} online orders × {a.aov_lift_attribution:.0%} attribution "
                f"= {money(e.incremental_revenue)}",
            )
        )
    else:
        why = "no online orders" if not r.online_orders else "order values cannot be compared this quarter"
        lines.append(("Incremental revenue from the AOV lift", f"not estimated: {why}"))
    lines.append(
        (
            "Budtender phone-order time saved",
            f"{r.online_orders:,.0f} online orders × {a.phone_order_share:.0%} that would have been "
            f"phoned in × {a.phone_minutes_per_order:g} min = {e.minutes_saved:,.0f} minutes "
            f"({e.hours_saved:,.1f} hours)",
        )
    )
    lines.append(
        (
            "Value of that time",
            f"{e.hours_saved:,.1f} hours × {money(a.budtender_hourly_cost, True)} per hour "
            f"= {money(e.time_value)}",
        )
    )
    total = (e.incremental_revenue or 0.0) + e.time_value
    lines.append(("Estimated return this quarter", money(total) if r.online_orders else "n/a"))
    y = 0.79
    for label, value in lines:
        bold = label.startswith("Estimated return")
        fig.text(0.04, y, label, fontsize=10, fontweight="bold" if bold else "normal", color=INK, va="top")
        wrapped = _wrap(value, 88)
        fig.text(
            0.33,
            y,
            wrapped,
            fontsize=10,
            fontweight="bold" if bold else "normal",
            color=INK,
            va="top",
            linespacing=1.35,
        )
        y -= 0.035 * (wrapped.count("\n") + 1) + 0.02
    fig.add_artist(_hline(fig, y + 0.005))
    fig.text(0.04, y - 0.02, "Assumptions", fontsize=11, fontweight="bold", color=INK, va="top")
    ax = fig.add_axes((0.04, 0.12, 0.92, y - 0.2))
    ax.axis("off")
    rows = [[k, f"{v:g}", ASSUMPTION_TEXT.get(k, "")] for k, v in a.model_dump().items()]
    rows.append(
        [
            "min_channel_orders",
            str(f.layout.min_channel_orders),
            "fewest orders in a channel for its AOV to be compared",
        ]
    )
    table = ax.table(
        cellText=rows,
        colLabels=["Setting", "Value", "Meaning"],
        colWidths=[0.25, 0.1, 0.65],
        loc="upper left",
        cellLoc="left",
    )
    _style_table(table, 9)
    fig.text(
        0.04,
        0.10,
        _wrap(
            "An estimate, not an audit: the AOV gap is not all caused by the platform (the "
            "attribution share says how much is credited to it), and the phone-order share and minutes are "
            "your team's assumptions, not measurements.",
            150,
        ),
        fontsize=8,
        color=MUTED,
        va="top",
    )
