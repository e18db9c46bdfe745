"""The analyst's sandbox runtime: cell parsing, column classification, comparison, charts."""

from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from nodes.analyse.offline import PROFILE_CODE, generate_analysis_code
from nodes.analyse.workbench import IN_SANDBOX, runtime_files

# The sandbox imports the program as top-level modules from its work dir; so does this test.
sys.path.insert(0, str(IN_SANDBOX))
from analysis_runtime import (
    FX_TO_USD,
    Quantity,
    TableInput,
    build_comparison,
    classify_column,
    draw_charts,
    highlights,
    load_manifest,
    normalise,
    parse_quantity,
    read_manifest,
    run,
)

FX = {"USD": 1.0, "EUR": 1.1, "GBP": 1.25}

PARSE_CASES: list[tuple[str, Quantity | None]] = [
    ("$9.99/mo", Quantity(9.99, "money", "USD", "USD", "month")),
    ("€ 7,50 per month", Quantity(7.5, "money", "EUR", "EUR", "month")),
    ("7.50 EUR / month", Quantity(7.5, "money", "EUR", "EUR", "month")),
    ("USD 12 / month", Quantity(12.0, "money", "USD", "USD", "month")),
    ("£99 per year", Quantity(99.0, "money", "GBP", "GBP", "year")),
    ("$1,299.00/yr", Quantity(1299.0, "money", "USD", "USD", "year")),
    ("1.234,56 €", Quantity(1234.56, "money", "EUR", "EUR", None)),
    ("¥1,000", Quantity(1000.0, "money", "JPY", "JPY", None)),
    ("$96 billed annually", Quantity(96.0, "money", "USD", "USD", "year")),
    ("$5/mo billed annually", Quantity(5.0, "money", "USD", "USD", "month")),
    ("$0.10 per hour", Quantity(0.1, "money", "USD", "USD", "hour")),
    ("From $1.2k monthly", Quantity(1200.0, "money", "USD", "USD", "month")),
    # Free is a price of zero, in no currency and for no period (a monthly column adopts it).
    ("Free", Quantity(0.0, "money", "", None, None)),
    ("$0.09/GB", Quantity(0.09, "rate", "GB", "USD", None)),
    ("$0.023 per GB-month", Quantity(0.023, "rate", "GB", "USD", "month")),
    ("$8 per user / month", Quantity(8.0, "rate", "user", "USD", "month")),
    ("250 GB", Quantity(250.0, "storage", "GB", None, None)),
    ("1 TB", Quantity(1.0, "storage", "TB", None, None)),
    ("0.5 TB", Quantity(0.5, "storage", "TB", None, None)),
    ("512 GiB", Quantity(512.0, "storage", "GiB", None, None)),
    ("1,024 GiB", Quantity(1024.0, "storage", "GiB", None, None)),
    ("2 TB/month", Quantity(2.0, "storage", "TB", None, "month")),
    ("30%", Quantity(30.0, "percent", "%", None, None)),
    ("99.9 % uptime", Quantity(99.9, "percent", "%", None, None)),
    ("120 ms", Quantity(120.0, "duration", "ms", None, None)),
    ("30-day", Quantity(30.0, "duration", "day", None, None)),
    ("5 users", Quantity(5.0, "count", "users", None, None)),
    ("Up to 10 projects", Quantity(10.0, "count", "projects", None, None)),
    ("3", Quantity(3.0, "count", "", None, None)),
    ("—", None),
    ("-", None),
    ("", None),
    ("Unlimited", None),
    ("Yes", None),
    ("Contact us", None),
    ("24/7", None),
    ("Plan 2", None),
]


@pytest.mark.parametrize(("cell", "expected"), PARSE_CASES, ids=[c for c, _ in PARSE_CASES])
def test_parse_quantity(cell: str, expected: Quantity | None) -> None:
    got = parse_quantity(cell)
    if expected is None:
        assert got is None
        return
    assert got is not None
    assert got.value == pytest.approx(expected.value)
    assert (got.kind, got.unit, got.currency, got.period) == (
        expected.kind,
        expected.unit,
        expected.currency,
        expected.period,
    )


NORMALISE_CASES = [
    ("$9.99/mo", 9.99, "USD/month"),
    ("€ 7,50 per month", 7.5 * 1.1, "USD/month"),
    ("£99 per year", 99 * 1.25 / 12, "USD/month"),
    ("$0.10 per hour", 73.0, "USD/month"),
    ("1 TB", 1000.0, "GB"),
    ("1,024 GiB", 1024 * 1.073741824, "GB"),
    ("$20 per TB", 0.02, "USD/GB"),
    ("120 ms", 0.12, "s"),
]


@pytest.mark.parametrize(("cell", "value", "unit"), NORMALISE_CASES)
def test_normalise(cell: str, value: float, unit: str) -> None:
    q = parse_quantity(cell)
    assert q is not None
    n = normalise(q, FX)
    assert n is not None
    assert (n.value, n.unit) == (pytest.approx(value), unit)


def test_normalise_unknown_currency_is_none() -> None:
    q = parse_quantity("CHF 12 / month")
    assert q is not None
    assert normalise(q, {"USD": 1.0}) is None
    assert FX_TO_USD["USD"] == 1.0


@pytest.mark.parametrize(
    ("header", "cells", "expected"),
    [
        ("Price", ["$4.99/mo", "$9.99/mo", "$19.99/mo", "Contact us"], "price_usd_month"),
        ("Monthly fee", ["€ 7,50 per month", "15 EUR / month", "Free"], "price_usd_month"),
        ("Annual price", ["£99 per year", "£199 per year"], "price_usd_month"),
        ("Price (EUR / month)", ["7.50", "12"], "price_usd_month"),
        ("Storage", ["250 GB", "1 TB", "2 TB", "Unlimited"], "storage_gb"),
        ("Capacity", ["512 GiB", "1,024 GiB", "10 GB"], "storage_gb"),
        ("Included storage", ["0.5 TB", "2 TB"], "storage_gb"),
        ("Storage (TB)", ["1", "2", "—"], "storage_gb"),
        # A price per unit is named by what it prices: egress stays apart from a plain rate.
        ("Egress", ["$0.09/GB", "$0.05/GB"], "egress_usd_per_gb"),
        ("Price", ["$0.09/GB", "$0.05/GB"], "rate_usd_per_gb"),
        ("Plan", ["Basic", "Plus", "Pro"], None),
        ("Tier", ["Start", "Team", "Free"], None),
        ("Package", ["Solo", "Family 2", "Duo"], None),
        ("Support", ["24/7", "Email", "Business hours"], None),
        ("Price", ["$5/mo", "Contact us", "Contact us", "Custom"], None),
    ],
)
def test_classify_column(header: str, cells: list[str], expected: str | None) -> None:
    assert classify_column(header, cells, FX) == expected


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _three_tables(root: Path) -> list[TableInput]:
    nimbus = _write_csv(
        root / "tables" / "nimbus.csv",
        [
            ["Plan", "Price", "Storage"],
            ["Basic", "$4.99/mo", "250 GB"],
            ["Plus", "$9.99/mo", "1 TB"],
            ["Pro", "$19.99/mo", "2 TB"],
            ["Enterprise", "Contact us", "Unlimited"],
        ],
    )
    boreal = _write_csv(
        root / "tables" / "boreal.csv",
        [
            ["Tier", "Monthly fee", "Capacity"],
            ["Starter", "€ 7,50 per month", "512 GiB"],
            ["Team", "15 EUR / month", "1,024 GiB"],
            ["Hobby", "Free", "10 GB"],
        ],
    )
    cirrus = _write_csv(
        root / "tables" / "cirrus.csv",
        [
            ["Package", "Annual price", "Included storage"],
            ["Solo", "£99 per year", "0.5 TB"],
            ["Family", "£199 per year", "2 TB"],
        ],
    )
    return [
        TableInput("Nimbus Vault", "https://nimbus.example/pricing", nimbus, "Plans"),
        TableInput("Boreal Box", "https://boreal.example/prix", boreal, "Tarife"),
        TableInput("Cirrus", "https://cirrus.example/plans", cirrus, "Packages"),
    ]


def _value(df: object, site: str, item: str, metric: str) -> float:
    import pandas as pd

    assert isinstance(df, pd.DataFrame)
    hit = df[(df["site"] == site) & (df["item"] == item) & (df["metric"] == metric)]
    assert len(hit) == 1, f"{site}/{item}/{metric}: {len(hit)} rows"
    return float(hit["value"].iloc[0])


def test_build_comparison_joins_heterogeneous_tables(tmp_path: Path) -> None:
    df = build_comparison(_three_tables(tmp_path), fx_to_usd=FX)
    assert list(df.columns) == [
        "site",
        "item",
        "metric",
        "label",
        "value",
        "unit",
        "raw",
        "source_url",
    ]
    prices = df[df["metric"] == "price_usd_month"]
    assert set(prices["site"]) == {"Nimbus Vault", "Boreal Box", "Cirrus"}
    assert set(prices["label"]) == {"Price", "Monthly fee", "Annual price"}
    assert set(prices["unit"]) == {"USD/month"}
    assert _value(df, "Cirrus", "Solo", "price_usd_month") == pytest.approx(99 * 1.25 / 12)
    assert _value(df, "Boreal Box", "Starter", "price_usd_month") == pytest.approx(8.25)
    assert _value(df, "Boreal Box", "Hobby", "price_usd_month") == 0.0
    assert _value(df, "Nimbus Vault", "Plus", "storage_gb") == pytest.approx(1000.0)
    assert _value(df, "Boreal Box", "Team", "storage_gb") == pytest.approx(1099.511627776)
    assert _value(df, "Cirrus", "Solo", "storage_gb") == pytest.approx(500.0)
    assert _value(df, "Nimbus Vault", "Plus", "price_per_gb_usd_month") == pytest.approx(
        9.99 / 1000
    )
    # "Contact us" / "Unlimited" are kept out, not turned into numbers.
    assert "Enterprise" not in set(df["item"])
    solo = df[(df["item"] == "Solo") & (df["metric"] == "price_usd_month")]
    assert solo["raw"].tolist() == ["£99 per year"]
    assert solo["source_url"].tolist() == ["https://cirrus.example/plans"]
    assert df.attrs["warnings"] == []


def test_table_without_numbers_warns_instead_of_failing(tmp_path: Path) -> None:
    text_only = _write_csv(
        tmp_path / "features.csv",
        [["Feature", "Basic", "Pro"], ["Encryption", "Yes", "Yes"], ["Support", "Email", "24/7"]],
    )
    tables = [
        *_three_tables(tmp_path),
        TableInput("Nimbus Vault", "https://nimbus.example/f", text_only, "Features"),
        TableInput("Gone", "https://gone.example", tmp_path / "missing.csv", ""),
    ]
    sink: list[str] = []
    df = build_comparison(tables, fx_to_usd=FX, warnings_out=sink)
    assert len(sink) == 2
    assert "features.csv" in sink[0] and "no numeric columns" in sink[0]
    assert "missing.csv" in sink[1]
    assert df.attrs["warnings"] == sink
    assert set(df["site"]) == {"Nimbus Vault", "Boreal Box", "Cirrus"}


def test_plans_as_columns_table_is_read_transposed(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "wide.csv",
        [["", "Basic", "Pro"], ["Price", "$5/mo", "$12/mo"], ["Storage", "100 GB", "1 TB"]],
    )
    sink: list[str] = []
    df = build_comparison([TableInput("Wide", "https://w.example", path)], warnings_out=sink)
    assert _value(df, "Wide", "Pro", "price_usd_month") == 12.0
    assert _value(df, "Wide", "Basic", "storage_gb") == 100.0
    assert "transposed" in sink[0]


def test_draw_charts_one_non_blank_png_per_metric(tmp_path: Path) -> None:
    df = build_comparison(_three_tables(tmp_path), fx_to_usd=FX)
    paths = draw_charts(df, tmp_path / "out")
    assert sorted(p.name for p in paths) == sorted(f"{m}.png" for m in set(df["metric"]))
    assert {p.name for p in paths} >= {
        "price_usd_month.png",
        "storage_gb.png",
        "price_per_gb_usd_month.png",
    }
    for path in paths:
        assert path.parent == tmp_path / "out" / "charts"
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 5_000
        pixels = np.asarray(mpimg.imread(path))
        assert pixels.var() > 0
        assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 2


def test_highlights_name_cheapest_and_best_price_per_gb(tmp_path: Path) -> None:
    df = build_comparison(_three_tables(tmp_path), fx_to_usd=FX)
    lines = highlights(df)
    assert "Cheapest monthly price: Hobby at Boreal Box — Free (0 USD/month)" in lines
    # £199 a year at 1.25 USD/GBP is 20.73 USD a month: dearer than Nimbus's $19.99/mo.
    assert "Most expensive monthly price: Family at Cirrus — £199 per year (20.73 USD/month)" in (
        lines
    )
    assert any(line.startswith("Best price per GB: Hobby at Boreal Box") for line in lines)
    # A free tier wins per GB, so the best paying option is named too ($9.99 / 1 TB beats
    # $19.99 / 2 TB by half a cent per TB).
    assert (
        "Best paid price per GB: Plus at Nimbus Vault — $9.99/mo ÷ 1 TB (0.00999 USD/GB/month)"
        in lines
    )
    assert (
        "Most storage: Pro at Nimbus Vault — 2 TB (2,000 GB) — 200.0× the least (tied with 1 more)"
        in (lines)
    )
    assert any(line.startswith("Most storage: ") for line in lines)


def test_load_manifest_resolves_paths_next_to_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "job" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text(
        json.dumps(
            {
                "question": "cheapest 1 TB?",
                "fx_to_usd": {"eur": 1.2},
                "tables": [{"site": "A", "source_url": "u", "path": "tables/a.csv", "caption": ""}],
            }
        )
    )
    [table] = load_manifest(manifest)
    assert table.path == tmp_path / "job" / "tables" / "a.csv"
    assert read_manifest(manifest).fx_to_usd == {"EUR": 1.2}
    manifest.write_text(json.dumps({"question": "q"}))
    with pytest.raises(ValueError, match="'tables' list"):
        load_manifest(manifest)


# Blocks the project and its heavy dependencies inside the child process, so the run
# proves that analysis_runtime needs nothing but the stdlib, pandas, numpy and matplotlib.
_BLOCK_PROJECT = """\
import importlib.abc, sys
BLOCKED = {"nodes", "graph", "sandbox", "memory", "cli", "demo_sites", "tests", "flotilla",
           "langgraph", "langchain", "langchain_core", "langchain_aws", "pydantic",
           "playwright", "redis", "trafilatura"}
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"not in the sandbox: {name}")
        return None
sys.meta_path.insert(0, _Block())
try:
    import nodes
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("the project is importable; the test proves nothing")
"""


def test_run_end_to_end_in_isolated_process(tmp_path: Path) -> None:
    tables = _three_tables(tmp_path)
    manifest = {
        "question": "Which plan is cheapest per GB?",
        "fx_to_usd": FX,
        "tables": [
            {
                "site": t.site,
                "source_url": t.source_url,
                "path": t.path.relative_to(tmp_path).as_posix(),
                "caption": t.caption,
            }
            for t in tables
        ],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    for name, data in runtime_files().items():
        (tmp_path / name).write_bytes(data)

    # The offline analyst's two steps, each in a process that cannot import the project:
    # profile the tables into a plan, then run the script generated from the plan.
    def isolated(code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-I", "-c", _BLOCK_PROJECT + code],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    profiled = isolated(PROFILE_CODE)
    assert profiled.returncode == 0, profiled.stderr
    plan = json.loads((tmp_path / "plan.json").read_text("utf-8"))
    code = generate_analysis_code(plan, out_dir="out")
    proc = isolated(code)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("analysis: 3 tables -> 24 rows")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    assert summary == run(str(tmp_path / "manifest.json"), out_dir=str(tmp_path / "again"))
    assert summary == json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    assert summary["n_rows"] == 24
    assert summary["warnings"] == []
    assert summary["metrics"][:2] == ["price_usd_month", "storage_gb"]
    assert "price_per_gb_usd_month" in summary["metrics"]
    assert summary["charts"] == [f"charts/{m}.png" for m in summary["metrics"]]
    assert all((tmp_path / "out" / c).stat().st_size > 5_000 for c in summary["charts"])
    assert summary["comparison_markdown"].startswith("| site | item | metric | value | raw |")
    assert (
        "| Cirrus | Solo | price_usd_month | 10.31 USD/month | £99 per year |"
        in (summary["comparison_markdown"])
    )
    assert any(h.startswith("Cheapest monthly price: Hobby") for h in summary["highlights"])
    csv_text = (tmp_path / "out" / "comparison.csv").read_text("utf-8")
    assert csv_text.splitlines()[0] == "site,item,metric,label,value,unit,raw,source_url"


def test_runtime_imports_only_stdlib_pandas_numpy_matplotlib_pint() -> None:
    files = runtime_files()
    assert "analysis_runtime.py" in files  # the entry module the driver imports
    siblings = {name.removesuffix(".py") for name in files}
    roots: set[str] = set()
    for data in files.values():
        for node in ast.walk(ast.parse(data)):
            if isinstance(node, ast.Import):
                roots.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, "relative imports cannot work in the sandbox"
                roots.add((node.module or "").split(".")[0])
    third_party = {"pandas", "numpy", "matplotlib", "pint"}
    allowed = set(sys.stdlib_module_names) | third_party | siblings
    assert roots - allowed == set()
    assert not siblings & (set(sys.stdlib_module_names) | third_party)
