"""The analyst's units: any physical quantity through pint, and which columns may join."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

from nodes.analyse.workbench import IN_SANDBOX

# The sandbox imports the program as top-level modules from its work dir; so does this test.
sys.path.insert(0, str(IN_SANDBOX))
from analysis_metrics import header_words, question_ratios
from analysis_runtime import (
    TableInput,
    build_comparison,
    classify_column,
    draw_charts,
    highlights,
    metric_info,
    normalise,
    parse_quantity,
    site_colours,
)

# cell -> (value as written, dimension, value normalised, display unit)
MEASURES = [
    ("0.625 kWh", 0.625, "energy", 625.0, "Wh"),
    ("500 Wh", 500.0, "energy", 500.0, "Wh"),
    ("2 KWH", 2.0, "energy", 2000.0, "Wh"),
    ("75 mi", 75.0, "length", 120.7008, "km"),
    ("75 miles", 75.0, "length", 120.7008, "km"),
    ("1 mile", 1.0, "length", 1.609344, "km"),
    ("up to 120 km", 120.0, "length", 120.0, "km"),
    ("120 km range", 120.0, "length", 120.0, "km"),
    ("60-80 km", 80.0, "length", 80.0, "km"),
    ("60 to 80 km", 80.0, "length", 80.0, "km"),
    ("40–55 mi", 55.0, "length", 88.51392, "km"),
    ("23.5 kg", 23.5, "mass", 23.5, "kg"),
    ("52 lb", 52.0, "mass", 23.58680324, "kg"),
    ("12 lbs", 12.0, "mass", 5.44310844, "kg"),
    ("800 g", 800.0, "mass", 0.8, "kg"),
    ("25 km/h", 25.0, "speed", 25.0, "km/h"),
    ("20 mph", 20.0, "speed", 32.18688, "km/h"),
    ("28 km per hour", 28.0, "speed", 28.0, "km/h"),
    ("250 W", 250.0, "power", 250.0, "W"),
    ("0.5 kW", 0.5, "power", 500.0, "W"),
    ("1.5 L", 1.5, "volume", 1.5, "L"),
    ("750 ml", 750.0, "volume", 0.75, "L"),
    ("2 litres", 2.0, "volume", 2.0, "L"),
    ("85 Nm", 85.0, "torque", 85.0, "N·m"),
    ("14 Ah", 14.0, "charge", 14.0, "Ah"),
    ("36 V", 36.0, "voltage", 36.0, "V"),
]


@pytest.mark.parametrize(
    ("cell", "written", "dimension", "value", "unit"), MEASURES, ids=[m[0] for m in MEASURES]
)
def test_physical_quantities_parse_and_convert(
    cell: str, written: float, dimension: str, value: float, unit: str
) -> None:
    q = parse_quantity(cell)
    assert q is not None
    assert (q.kind, q.dimension, q.value) == ("measure", dimension, pytest.approx(written))
    n = normalise(q)
    assert n is not None
    assert (n.value, n.unit) == (pytest.approx(value), unit)


@pytest.mark.parametrize(
    "cell",
    # English words pint would read as units (inch, year, technical atmosphere, are, barn).
    ["5 in stock", "3 a day", "2 at once", "4 are included", "10 points", "2 b"],
)
def test_english_words_are_not_units(cell: str) -> None:
    q = parse_quantity(cell)
    assert q is None or q.kind == "count"


def test_money_and_data_sizes_keep_their_own_handling() -> None:
    money = parse_quantity("€ 7,50 per month")
    assert money is not None and (money.kind, money.period) == ("money", "month")
    storage = parse_quantity("1 TiB")
    assert storage is not None and (storage.kind, storage.unit) == ("storage", "TiB")
    duration = parse_quantity("4-6 h")
    assert duration is not None and (duration.kind, duration.value) == ("duration", 6.0)


@pytest.mark.parametrize(
    ("header", "cells", "expected"),
    [
        ("Battery", ["0.625 kWh", "0.5 kWh"], "battery_capacity_wh"),
        ("Battery capacity", ["500 Wh", "750 Wh"], "battery_capacity_wh"),
        ("Capacity", ["500 Wh", "750 Wh"], "battery_capacity_wh"),
        ("Capacity", ["512 GiB", "1 TB"], "storage_gb"),
        ("Max object size", ["5 GB", "5 TB"], "object_size_gb"),
        ("Range", ["75 mi", "up to 60 miles"], "range_km"),
        ("Range (km)", ["90", "110"], "range_km"),
        ("Weight (lb)", ["48.5", "55.1"], "weight_kg"),
        ("Max payload", ["120 kg", "200 kg"], "payload_kg"),
        ("Top speed", ["25 km/h", "20 mph"], "top_speed_km_h"),
        ("Motor", ["250 W", "500 W"], "power_w"),
        ("Torque", ["85 Nm", "60 Nm"], "torque_n_m"),
        # One column of a spec sheet: each cell another dimension, so no single metric.
        ("Value", ["0.625 kWh", "75 mi", "23.5 kg"], None),
    ],
)
def test_columns_are_named_by_their_words_and_dimension(
    header: str, cells: list[str], expected: str | None
) -> None:
    assert classify_column(header, cells) == expected


def _csv(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def test_same_words_and_dimension_join_others_stay_apart(tmp_path: Path) -> None:
    a = _csv(
        tmp_path / "a.csv",
        [
            ["Plan", "Price", "Included storage", "Max object size", "Weight"],
            ["Basic", "$5/mo", "100 GB", "5 GB", "2 kg"],
            ["Pro", "$10/mo", "1 TB", "5 TB", "3 kg"],
        ],
    )
    b = _csv(
        tmp_path / "b.csv",
        [
            ["Tier", "Monthly fee", "Storage", "Spec", "Weight"],
            ["Lite", "$4/mo", "50 GB", "3 km", "2 TB"],
            ["Max", "$9/mo", "2 TB", "4 km", "3 TB"],
        ],
    )
    df = build_comparison(
        [TableInput("A", "https://a.test", a), TableInput("B", "https://b.test", b)]
    )
    sites = df.groupby("metric")["site"].agg(lambda s: sorted(set(s))).to_dict()
    assert sites["price_usd_month"] == ["A", "B"]
    assert sites["storage_gb"] == ["A", "B"]  # "Included storage" joins "Storage"
    assert sites["object_size_gb"] == ["A"]  # "Max object size" does not
    # "Weight" in kg and "Weight" in TB name the same word but not the same dimension.
    assert sites["weight_kg"] == ["A"] and sites["weight_gb"] == ["B"]
    # A header that says nothing ("Spec") stays with its site, never merged.
    assert sites["length_km__b"] == ["B"]


def test_header_words_drop_qualifiers_units_and_periods() -> None:
    assert header_words("Max. range (km)") == ["range"]
    assert header_words("Included storage") == ["storage"]
    assert header_words("Monthly fee (EUR)") == ["fee"]
    assert header_words("Batteries") == ["battery"]


def test_question_ratios_name_units_not_billing_periods() -> None:
    assert [(r.unit, r.dimension) for r in question_ratios("cheapest per Wh?")] == [
        ("Wh", "energy")
    ]
    assert [r.dimension for r in question_ratios("price per km of range")] == ["length"]
    assert [r.dimension for r in question_ratios("price per GB")] == ["information"]
    assert question_ratios("price per month, per user") == []
    assert question_ratios("compare battery and range") == []


def test_metric_names_carry_units_and_converted_currencies(tmp_path: Path) -> None:
    a = _csv(
        tmp_path / "a.csv",
        [["Bike", "Price", "Battery"], ["X", "€2,000", "0.5 kWh"], ["Y", "$3,000", "750 Wh"]],
    )
    df = build_comparison([TableInput("A", "u", a)], question="Which is cheapest per Wh?")
    price = metric_info("price_usd", df[df["metric"] == "price_usd"])
    assert price.heading == "Price (EUR → USD)"
    battery = metric_info("battery_capacity_wh", df[df["metric"] == "battery_capacity_wh"])
    assert battery.heading == "Battery capacity (Wh)"
    per_wh = df[df["metric"] == "price_per_wh_usd"].set_index("item")["value"]
    assert per_wh["X"] == pytest.approx(2000 * 1.08 / 500)
    assert per_wh["Y"] == pytest.approx(3000 / 750)
    lines = highlights(df)
    assert "Cheapest per Wh: Y at A — $3,000 ÷ 750 Wh (4 USD/Wh)" in lines
    assert any(line.startswith("Most battery capacity: Y at A — 750 Wh (750 Wh)") for line in lines)


def test_a_table_met_twice_on_one_site_counts_once(tmp_path: Path) -> None:
    rows = [["Bike", "Range"], ["X", "75 mi"], ["Y", "60 km"]]
    first, again = _csv(tmp_path / "1.csv", rows), _csv(tmp_path / "2.csv", rows)
    other = _csv(tmp_path / "3.csv", rows)
    df = build_comparison(
        [
            TableInput("A", "u", first),
            TableInput("A", "u#specs", again),
            TableInput("B", "v", other),
        ]
    )
    assert df.groupby("site").size().to_dict() == {"A": 2, "B": 2}


def test_no_chart_from_one_value_and_one_colour_per_site(tmp_path: Path) -> None:
    a = _csv(
        tmp_path / "a.csv",
        [["Bike", "Range", "Torque"], ["X", "75 mi", "85 Nm"], ["Y", "60 km", "—"]],
    )
    b = _csv(tmp_path / "b.csv", [["Bike", "Range"], ["Z", "90 km"]])
    df = build_comparison([TableInput("A", "u", a), TableInput("B", "v", b)])
    charts = draw_charts(df, tmp_path / "out")
    assert [p.name for p in charts] == ["range_km.png"]
    assert "Torque (N·m): X at A — 85 Nm (85 N·m) (only one value: no chart)" in highlights(df)
    assert site_colours(df) == {"A": "#4C72B0", "B": "#DD8452"}


def test_each_physical_metric_gets_a_unit_that_fits_its_values(tmp_path: Path) -> None:
    a = _csv(
        tmp_path / "a.csv",
        [
            ["Model", "Wheel size", "Battery", "Range"],
            ["X", "27.5 inch", "75 kWh", "400 km"],
            ["Y", "29 inch", "100 kWh", "520 mi"],
        ],
    )
    df = build_comparison([TableInput("A", "u", a)])
    rows = df.set_index(["item", "metric"])
    assert rows.loc[("X", "wheel_size_cm"), "value"] == pytest.approx(69.85)
    assert rows.loc[("Y", "battery_capacity_kwh"), ["value", "unit"]].tolist() == [100.0, "kWh"]
    assert rows.loc[("Y", "range_km"), "value"] == pytest.approx(520 * 1.609344)
