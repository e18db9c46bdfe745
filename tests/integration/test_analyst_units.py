"""The offline analyst over e-bike spec tables in a real code sandbox: any unit, named metrics.

Two fictional shops write their specs differently: one in kWh, miles and kilograms with
prices in dollars, the other in Wh, kilometres (a bare number under "Range (km)") and
pounds, in euros, with its bikes as columns. The analysis must convert every value, name
each metric after what it measures with its unit, draw one chart per metric and, because
the question says "per Wh", derive the price per Wh.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graph.context import Context
from graph.models import Findings, TableRef
from nodes.analyse.node import run_analysis
from nodes.artifacts import write_csv

pytestmark = pytest.mark.slow

QUESTION = "Which e-bike is cheapest per Wh of battery? Compare range and weight too."

NORTH = (
    "Northwind Cycles",
    ["Model", "Price", "Battery", "Range", "Weight", "Max payload"],
    [
        ["Trailhead", "$2,799", "0.625 kWh", "75 mi", "23.5 kg", "120 kg"],
        ["Commuter S", "$1,999", "0.5 kWh", "up to 60 miles", "21 kg", "110 kg"],
        ["Cargo Max", "$3,499", "0.75 kWh", "40–55 mi", "32.5 kg", "200 kg"],
        ["Kids 20", "Sold out", "—", "—", "12 kg", "—"],
    ],
)
# Bikes as columns, as spec comparison tables often are; euros with decimal commas.
VELO = (
    "Velo Werk",
    ["", "Stadtflitzer", "Bergziege"],
    [
        ["Price", "2.199,00 €", "3.099,00 €"],
        ["Battery capacity", "500 Wh", "750 Wh"],
        ["Range (km)", "90", "110"],
        ["Weight (lb)", "48.5", "55.1"],
        ["Frame sizes", "S, M, L", "M, L"],
    ],
)


def _findings(tmp_path: Path) -> list[Findings]:
    found = []
    for i, (name, columns, rows) in enumerate((NORTH, VELO), start=1):
        url = f"https://{name.split()[0].lower()}.example/e-bikes"
        ref = write_csv(tmp_path / "tables" / f"site-{i}.csv", columns, rows)
        table = TableRef(
            artifact=ref, source_url=url, caption="E-bikes", columns=columns, n_rows=len(rows)
        )
        found.append(
            Findings(task_id=f"site-{i}", site=url, site_name=name, goal=QUESTION, tables=[table])
        )
    return found


async def test_ebike_specs_in_any_unit_are_converted_named_and_charted(tmp_path: Path) -> None:
    out = tmp_path / "analysis"
    analysis = await run_analysis(QUESTION, _findings(tmp_path), Context(), out=out)

    assert [e.kind for e in analysis.errors] == ["warning"]  # Velo's table read transposed
    summary = json.loads((out / "summary.json").read_text("utf-8"))
    info = {m["metric"]: m for m in summary["metric_info"]}
    assert {k: v["heading"] for k, v in info.items()} == {
        "price_usd": "Price (EUR → USD)",
        "battery_capacity_wh": "Battery capacity (Wh)",
        "range_km": "Range (km)",
        "weight_kg": "Weight (kg)",
        "payload_kg": "Max payload (kg)",  # a mass, but not the bike's weight: kept apart
        "price_per_wh_usd": "Price per Wh (EUR → USD/Wh)",
    }

    # One chart per metric, each named after it, and every chart a real PNG.
    charts = sorted(Path(c.path).name for c in analysis.charts)
    assert charts == sorted(f"{m}.png" for m in info)
    assert all(Path(c.path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for c in analysis.charts)
    assert all(v["chart"] == f"charts/{k}.png" for k, v in info.items())

    # Values converted: miles to km, pounds to kg, kWh to Wh, euros to dollars.
    rows = {(r["item"], r["metric"]): float(r["value"]) for r in _csv_rows(out / "comparison.csv")}
    assert rows[("Trailhead", "range_km")] == pytest.approx(75 * 1.609344)
    assert rows[("Cargo Max", "range_km")] == pytest.approx(55 * 1.609344)  # "40–55 mi"
    assert rows[("Bergziege", "range_km")] == pytest.approx(110)
    assert rows[("Stadtflitzer", "weight_kg")] == pytest.approx(48.5 * 0.45359237)
    assert rows[("Trailhead", "battery_capacity_wh")] == pytest.approx(625)
    assert rows[("Stadtflitzer", "price_usd")] == pytest.approx(2199 * 1.08)
    assert rows[("Trailhead", "price_per_wh_usd")] == pytest.approx(2799 / 625)
    assert rows[("Bergziege", "price_per_wh_usd")] == pytest.approx(3099 * 1.08 / 750)
    assert ("Kids 20", "price_usd") not in rows and ("Kids 20", "weight_kg") in rows

    # Highlights say cheapest / longest / lightest, with the raw cell beside the value.
    lines = analysis.highlights
    assert "Cheapest per Wh: Commuter S at Northwind Cycles — $1,999 ÷ 0.5 kWh (4 USD/Wh)" in lines
    assert (
        "Most expensive per Wh: Stadtflitzer at Velo Werk — 2.199,00 € ÷ 500 Wh (4.75 USD/Wh)"
        " — 1.2× the cheapest" in lines
    )
    assert any(h.startswith("Longest range: Trailhead at Northwind Cycles — 75 mi") for h in lines)
    assert any(h.startswith("Lightest: Kids 20 at Northwind Cycles — 12 kg") for h in lines)
    assert any(h.startswith("Most battery capacity: Cargo Max") for h in lines)
    assert summary["site_colours"].keys() == {"Northwind Cycles", "Velo Werk"}


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
