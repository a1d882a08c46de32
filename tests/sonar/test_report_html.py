"""The HTML report opens on its own: no scripts or fetched assets, drifted features first, a histogram per
compared feature, production data escaped, and small."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import numpy as np
import pyarrow as pa

from sonar.jobs import DriftJob, JobResult, compare
from sonar.profile import profile_feature
from sonar.reference import build_reference, features_from_signature
from sonar.report_html import categorical_chart, numeric_chart

START = datetime(2026, 11, 20, 10, tzinfo=UTC)
VOID = {"meta", "br", "img", "hr", "input", "link"}


class Structure(HTMLParser):
    """Collects tags, checks nesting, and records anything that would make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.tags: list[str] = []
        self.fetching: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag in ("script", "link", "img", "iframe", "object", "embed"):
            self.fetching.append(tag)
        for key, value in attrs:
            if key in ("src", "href") or key.startswith("on") or (value and "url(" in value):
                self.fetching.append(f"{tag}[{key}]")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Structure:
    structure = Structure()
    structure.feed(html)
    structure.close()
    assert structure.stack == [], f"unclosed tags {structure.stack}"
    return structure


def job() -> DriftJob:
    return DriftJob.from_claim(
        {
            "id": "r1",
            "model": "fraud-detector",
            "version": 2,
            "window_start": START.isoformat(),
            "window_end": (START + timedelta(hours=1)).isoformat(),
        }
    )


def report(
    reference_columns: dict[str, Any], current_columns: dict[str, Any], signature: dict[str, Any]
) -> JobResult:
    reference, _, _ = build_reference(features_from_signature(signature), pa.table(reference_columns))
    return compare(job(), reference, pa.table(current_columns), files=1)


FRAUD = {
    "inputs": [
        {"name": "amount", "datatype": "FP64", "shape": [-1]},
        {"name": "country", "datatype": "BYTES", "shape": [-1]},
        {"name": "age", "datatype": "FP64", "shape": [-1]},
    ],
    "outputs": [
        {"name": "score", "datatype": "FP64", "shape": [-1]},
        {"name": "embedding", "datatype": "FP32", "shape": [-1, 8]},
    ],
}


def fraud_columns(rows: int, seed: int, *, shift: float = 0.0, hostile: bool = False) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    country = rng.choice(["DE", "FR", "US"], rows, p=[0.5, 0.3, 0.2]).astype(object)
    if hostile:
        country[: rows // 4] = "<script>alert(1)</script>"
    return {
        "amount": rng.lognormal(3 + shift, 0.5, rows),
        "country": pa.array(country.tolist(), pa.string()),
        "age": rng.normal(40, 10, rows),
    }


def test_report_is_self_contained_drifted_first_and_escaped() -> None:
    result = report(fraud_columns(3000, 1), fraud_columns(500, 4, shift=0.5, hostile=True), FRAUD)
    html = result.html
    structure = parse(html)

    assert structure.fetching == []
    assert "<style>" in html and "@import" not in html
    assert "<script>alert(1)</script>" not in html
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;: reference 0.0%, production 25.0%" in html
    )  # full name in the tooltip
    assert "&lt;script&gt;alert(1)&lt;… (new)" in html  # the unseen category, marked
    assert result.summary["drifted_features"] == ["amount", "country"]

    table_rows = re.findall(r"<tr><td>([^<]+)</td>", html)
    assert table_rows == ["amount", "country", "age", "score", "embedding"]  # drifted first
    assert "the training data has no column &#x27;score&#x27;" in html
    assert "not profiled (a tensor of shape [8] per item)" in html
    assert structure.tags.count("svg") == 3  # one histogram per compared feature
    assert "dataset drift" in html and "drift (distribution)" in html


def test_twenty_features_make_a_small_page() -> None:
    rng = np.random.default_rng(4)
    signature = {
        "inputs": [{"name": f"f{i}", "datatype": "FP64", "shape": [-1]} for i in range(20)],
        "outputs": [{"name": "y", "datatype": "FP64", "shape": [-1]}],
    }
    reference = {f"f{i}": rng.normal(size=20_000) for i in range(20)}
    current = {f"f{i}": rng.normal(0.3 if i < 3 else 0.0, size=20_000) for i in range(20)}
    result = report(reference, current, signature)
    assert result.summary["drifted_features"] == ["f0", "f1", "f2"]
    assert len(result.html.encode()) < 50_000
    assert parse(result.html).tags.count("svg") == 20


def test_numeric_histograms_cover_both_sides_and_sum_to_one() -> None:
    rng = np.random.default_rng(8)
    reference = rng.normal(0, 1, 10_000)
    current = np.concatenate([rng.normal(5, 1, 1000), [np.nan] * 10])
    chart = numeric_chart(profile_feature("x", reference), reference, current)
    assert len(chart.labels) == 20
    assert sum(chart.reference) == 1.0 or abs(sum(chart.reference) - 1.0) < 1e-12
    assert abs(sum(chart.current) - 1.0) < 1e-12
    # the bins reach past the reference's range to where production went
    assert float(chart.labels[-1].split(" – ")[1]) > 7.0
    # the mass of each side sits where it belongs
    assert sum(chart.reference[:10]) > 0.9 and sum(chart.current[10:]) > 0.9


def test_categorical_histograms_keep_the_top_categories_and_mark_new_ones() -> None:
    reference = np.array([f"c{i:02d}" for i in range(30) for _ in range(30 - i)], dtype=object)
    current = np.concatenate([reference, np.array(["brand-new"] * 200, dtype=object)])
    chart = categorical_chart(profile_feature("c", reference, "categorical"), current)
    assert chart.labels[0] == "brand-new" and chart.marked[0]
    assert chart.labels[-1] == "other" and len(chart.labels) == 13
    assert chart.reference[0] == 0.0
    assert abs(sum(chart.reference) - 1.0) < 1e-12 and abs(sum(chart.current) - 1.0) < 1e-12
