"""The drift report as one self-contained HTML page: no scripts, fonts, images or links to fetch.

The page holds a summary table (the verdict, rows, window, share of drifted features, outlier share), a
feature table (drifted features first) and, per compared feature, reference against production as an
inline SVG histogram of shares: numeric features on 20 equal-width bins over the reference's central 99%
range widened to the production's, values beyond it counted in the end bins; categorical features as
their most frequent categories (unseen ones marked) plus "other". A report of 20 features is a few tens
of kilobytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import numpy as np
import numpy.typing as npt

from sonar.profile import FeatureProfile, category_keys, numeric_values
from sonar.reference import Reference

NUMERIC_BINS = 20
AXIS_SAMPLE = 100_000
"""Production values the axis range of a numeric chart is estimated from."""
TOP_CATEGORIES = 12
REFERENCE_COLOUR, CURRENT_COLOUR, DRIFT_COLOUR = "#9aa5b1", "#2f6fde", "#d9480f"

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#1f2933;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}
td,th{border-bottom:1px solid #e4e7eb;padding:3px 10px;text-align:left}
th{background:#f5f7fa}.num{text-align:right;font-variant-numeric:tabular-nums}
.drift{color:#d9480f;font-weight:600}.ok{color:#2b8a3e}.muted{color:#7b8794}
.feature{display:inline-block;vertical-align:top;margin:0 1.5em 1.5em 0}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
"""


@dataclass(frozen=True)
class Chart:
    """Shares per bin or category, reference against production; ``marked`` flags unseen categories."""

    labels: list[str]
    reference: list[float]
    current: list[float]
    marked: list[bool]
    numeric: bool


def numeric_chart(
    profile: FeatureProfile,
    reference_values: npt.ArrayLike | None,
    current_values: npt.ArrayLike,
    bins: int = NUMERIC_BINS,
) -> Chart:
    """Equal-width bins over the reference's central 99% range widened to the production's."""
    current = numeric_values(current_values)
    if reference_values is None:  # only the profile: draw its own decile bins
        edges = list(profile.edges)
        counts = np.bincount(
            np.searchsorted(np.asarray(edges), current, side="left"), minlength=len(edges) + 1
        )
        labels = [f"≤ {_fmt(e)}" for e in edges] + [f"> {_fmt(edges[-1])}" if edges else "all"]
        return Chart(labels, _shares(profile.histogram), _shares(counts), [False] * len(labels), True)
    reference = numeric_values(reference_values)
    low, high = profile.outlier_range or (profile.minimum or 0.0, profile.maximum or 0.0)
    if current.size:
        step = max(1, current.size // AXIS_SAMPLE)  # the axis range only: a systematic sample will do
        cur_low, cur_high = np.quantile(current[::step], [0.005, 0.995])
        low, high = min(low, float(cur_low)), max(high, float(cur_high))
    if not high > low:
        low, high = low - 0.5, high + 0.5
    edges_array = np.linspace(low, high, bins + 1)
    ref_counts = _uniform_counts(reference, low, high, bins)
    cur_counts = _uniform_counts(current, low, high, bins)
    labels = [f"{_fmt(a)} – {_fmt(b)}" for a, b in zip(edges_array[:-1], edges_array[1:], strict=True)]
    return Chart(labels, _shares(ref_counts), _shares(cur_counts), [False] * bins, True)


def _uniform_counts(
    numbers: npt.NDArray[np.float64], low: float, high: float, bins: int
) -> npt.NDArray[np.int64]:
    """Counts in ``bins`` equal bins over ``[low, high]``; values beyond it count in the end bins (no NaN)."""
    scaled = (numbers - low) * (bins / (high - low))
    index = np.clip(scaled, 0, bins - 1, out=scaled).astype(np.intp)  # truncation is floor here: all >= 0
    return np.bincount(index, minlength=bins).astype(np.int64)


def categorical_chart(
    profile: FeatureProfile, current_values: npt.ArrayLike, top: int = TOP_CATEGORIES
) -> Chart:
    """The ``top`` categories by their larger share on either side, then everything else as "other"."""
    keys = category_keys(current_values)
    current: dict[str, int] = {}
    if keys.size:
        names, counts = np.unique(keys, return_counts=True)
        current = {str(k): int(n) for k, n in zip(names.tolist(), counts.tolist(), strict=True)}
    ref_total = sum(profile.frequencies.values()) or 1
    cur_total = sum(current.values()) or 1
    categories = set(profile.frequencies) | set(current)
    weight = {
        c: max(profile.frequencies.get(c, 0) / ref_total, current.get(c, 0) / cur_total) for c in categories
    }
    shown = sorted(categories, key=lambda c: (-weight[c], c))[:top]
    ref_shares = [profile.frequencies.get(c, 0) / ref_total for c in shown]
    cur_shares = [current.get(c, 0) / cur_total for c in shown]
    marked = [c not in profile.frequencies for c in shown]
    if len(categories) > len(shown):
        shown.append("other")
        ref_shares.append(max(0.0, 1.0 - sum(ref_shares)) if profile.frequencies else 0.0)
        cur_shares.append(max(0.0, 1.0 - sum(cur_shares)) if current else 0.0)
        marked.append(False)
    return Chart(shown, ref_shares, cur_shares, marked, False)


def render_report(
    *,
    title: str,
    summary: Mapping[str, Any],
    features: Sequence[Mapping[str, Any]],
    reference: Reference,
    current: Mapping[str, npt.ArrayLike],
) -> str:
    """The whole page; ``features`` are the job's entries (drifted first), ``current`` its columns."""
    parts = [
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>",
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        _summary_table(summary),
        "<h2>Features</h2>",
        _feature_table(features),
        "<h2>Reference vs production</h2>",
        '<p class="legend muted">shares per bin'
        f'<span style="background:{REFERENCE_COLOUR}"></span>reference'
        f'<span style="background:{CURRENT_COLOUR}"></span>production'
        f'<span style="background:{DRIFT_COLOUR}"></span>production (drifted feature)</p>',
    ]
    for entry in features:
        name = str(entry["name"])
        profile = reference.profiles.get(name)
        if entry.get("status") != "checked" or profile is None or name not in current:
            continue
        if profile.kind == "numeric":
            chart = numeric_chart(profile, reference.values.get(name), current[name])
        else:
            chart = categorical_chart(profile, current[name])
        parts.append(
            f'<div class="feature"><h3>{escape(name)}{_badge(entry)}</h3>'
            f"{_svg(chart, bool(entry.get('drifted')))}</div>"
        )
    parts.append("</body></html>")
    return "".join(parts)


def _summary_table(summary: Mapping[str, Any]) -> str:
    drifted = bool(summary.get("dataset_drift"))
    verdict = (
        '<span class="drift">dataset drift</span>' if drifted else '<span class="ok">no dataset drift</span>'
    )
    if summary.get("verdict") == "insufficient_data":
        verdict = escape(
            f"insufficient data: {summary.get('rows', 0):,} rows, fewer than the "
            f"{summary.get('min_rows', 0):,} a verdict needs"
        )
    names = summary.get("drifted_features") or []
    rows = [
        ("verdict", verdict),
        ("window", escape(f"{summary.get('window_start')} – {summary.get('window_end')}")),
        ("rows compared", escape(f"{summary.get('rows', 0):,}")),
        (
            "drifted features",
            escape(f"{len(names)} of {summary.get('features_checked', 0)}")
            + (f" ({escape(', '.join(map(str, names)))})" if names else "")
            + escape(f"; the dataset drifts at {_pct(summary.get('drift_share'))}"),
        ),
        ("outlier share", escape(_pct(summary.get("outlier_share")))),
        ("multiple-testing correction", escape(str(summary.get("correction", "")))),
    ]
    reference = summary.get("reference") or {}
    if reference:
        rows.append(
            (
                "reference",
                escape(f"{reference.get('source') or 'training data'} ({reference.get('rows', 0):,} rows)"),
            )
        )
    if summary.get("rows", 0) == 0:
        rows.append(("note", "no sampled traffic with status OK in this window"))
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _feature_table(features: Sequence[Mapping[str, Any]]) -> str:
    head = (
        "<tr><th>feature</th><th>role</th><th>kind</th><th>method</th><th class=num>score</th>"
        "<th class=num>threshold</th><th class=num>p (adjusted)</th><th class=num>nulls ref → prod</th>"
        "<th class=num>rows</th>"
        "<th>result</th></tr>"
    )
    rows = []
    for entry in features:
        status = entry.get("status")
        if status == "checked":
            cells = [
                escape(str(entry.get("method") or "—")),
                _fmt(entry.get("score")),
                _fmt(entry.get("threshold")),
                _fmt(entry.get("p_value_adjusted")),
                f"{_pct(entry.get('null_share_reference'))} → {_pct(entry.get('null_share_current'))}",
                _rows(entry.get("rows")),
            ]
            result = _badge(entry)
        else:
            cells = ["—", "", "", "", "", ""]
            result = f'<span class="muted">{escape(str(entry.get("note", status)))}</span>'
        rows.append(
            f"<tr><td>{escape(str(entry['name']))}</td><td>{escape(str(entry.get('role', '')))}</td>"
            f"<td>{escape(str(entry.get('kind') or '—'))}</td><td>{cells[0]}</td>"
            + "".join(f"<td class=num>{escape(c)}</td>" for c in cells[1:])
            + f"<td>{result}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _rows(value: Any) -> str:
    """A feature's non-null row count (— when the report predates the count)."""
    return f"{value:,}" if isinstance(value, int) else "—"


def _badge(entry: Mapping[str, Any]) -> str:
    if not entry.get("drifted"):
        return ' <span class="ok">no drift</span>'
    reasons = []
    if entry.get("value_drift"):
        reasons.append("distribution")
    if entry.get("null_drift"):
        reasons.append("nulls")
    return f' <span class="drift">drift ({escape(", ".join(reasons))})</span>'


def _svg(chart: Chart, drifted: bool) -> str:
    return _vertical_svg(chart, drifted) if chart.numeric else _horizontal_svg(chart, drifted)


def _vertical_svg(chart: Chart, drifted: bool) -> str:
    """Bars as one path per side (a few bytes a bar); the bins' ranges are in the axis labels."""
    width, height, pad = 420, 140, 20
    n = max(len(chart.labels), 1)
    slot = (width - 2 * pad) / n
    base = height - pad
    top = max(max(chart.reference, default=0.0), max(chart.current, default=0.0)) or 1.0
    paths = []
    for j, (shares, fill) in enumerate(
        ((chart.reference, REFERENCE_COLOUR), (chart.current, DRIFT_COLOUR if drifted else CURRENT_COLOUR))
    ):
        bars = "".join(
            f"M{pad + i * slot + j * slot / 2:.1f} {base}v{-(height - 2 * pad) * share / top:.1f}"
            f"h{slot / 2 - 1:.1f}V{base}z"
            for i, share in enumerate(shares)
            if share > 0
        )
        side = "reference" if j == 0 else "production"
        paths.append(f'<path fill="{fill}" d="{bars}"><title>{side}</title></path>')
    first, last = chart.labels[0].split(" – ")[0], chart.labels[-1].split(" – ")[-1]
    middle = chart.labels[n // 2].split(" – ")[0] if n > 2 else ""
    axis = (
        f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#cbd2d9"/>'
        f'<text x="{pad}" y="{height - 5}" font-size="10">{escape(first)}</text>'
        f'<text x="{width // 2}" y="{height - 5}" font-size="10" text-anchor="middle">'
        f"{escape(middle)}</text>"
        f'<text x="{width - pad}" y="{height - 5}" font-size="10" text-anchor="end">{escape(last)}</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
        f"{''.join(paths)}{axis}</svg>"
    )


def _horizontal_svg(chart: Chart, drifted: bool) -> str:
    row, label_width, bar_width = 22, 130, 260
    height = row * len(chart.labels) + 6
    top = max(max(chart.reference, default=0.0), max(chart.current, default=0.0)) or 1.0
    colour = DRIFT_COLOUR if drifted else CURRENT_COLOUR
    items = []
    for i, label in enumerate(chart.labels):
        y = 3 + i * row
        shown = label if len(label) <= 18 else label[:17] + "…"
        suffix = " (new)" if chart.marked[i] else ""
        items.append(
            f'<text x="{label_width - 6}" y="{y + 14}" font-size="11" text-anchor="end"'
            f"{' fill=' + chr(34) + DRIFT_COLOUR + chr(34) if chart.marked[i] else ''}>"
            f"{escape(shown + suffix)}</text>"
        )
        rects = [
            f'<rect x="{label_width}" y="{y + j * 9}" width="{bar_width * share / top:.1f}" '
            f'height="8" fill="{fill}"/>'
            for j, (share, fill) in enumerate(
                ((chart.reference[i], REFERENCE_COLOUR), (chart.current[i], colour))
            )
        ]
        items.append(f"<g>{_tooltip(chart, i)}{''.join(rects)}</g>")
        items.append(
            f'<text x="{label_width + bar_width + 6}" y="{y + 14}" font-size="10" fill="#7b8794">'
            f"{_pct(chart.reference[i])} → {_pct(chart.current[i])}</text>"
        )
    width = label_width + bar_width + 110
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
        f"{''.join(items)}</svg>"
    )


def _tooltip(chart: Chart, i: int) -> str:
    return (
        f"<title>{escape(chart.labels[i])}: reference {_pct(chart.reference[i])}, "
        f"production {_pct(chart.current[i])}</title>"
    )


def _shares(counts: Sequence[int] | npt.ArrayLike) -> list[float]:
    array = np.asarray(counts, dtype=np.float64)
    total = array.sum()
    return (array / total).tolist() if total else [0.0] * array.size


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    number = float(value)
    if math.isnan(number):
        return "—"
    if number != 0 and (abs(number) >= 1e5 or abs(number) < 1e-3):
        return f"{number:.3g}"
    return f"{number:.4g}"


def _pct(value: Any) -> str:
    if value is None:
        return "—"
    return f"{100 * float(value):.1f}%"
