"""The offline analyst's script, generated per run from its tables' plan and its question.

The plan is made by the real profiler (``analysis_plan.profile``) from CSVs written here; the
script is generated on the host, checked as Python, and run: in a plain process for the
script's wording, and once through the real code sandbox (`run_analysis`, offline brain).
"""

from __future__ import annotations

import ast
import contextlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from graph.context import Context
from graph.models import Findings, TableRef
from nodes.analyse.node import run_analysis
from nodes.analyse.offline import PROFILE_CODE, PlanError, generate_analysis_code
from nodes.analyse.workbench import IN_SANDBOX, Workbench, runtime_files
from nodes.artifacts import write_csv
from sandbox.interpreter import ExecResult
from tests.fake_sandboxes import FakeCodeSession

sys.path.insert(0, str(IN_SANDBOX))
from analysis_plan import profile

INJECTION = '"); import os; os.system("x") #'

Table = tuple[str, list[str], list[list[str]]]

STORAGE: list[Table] = [
    (
        "Nimbus Vault",
        ["Plan", "Price", "Storage"],
        [["Starter", "$4.99/mo", "100 GB"], ["Pro", "$19.99/mo", "2 TB"]],
    ),
    (
        "Strato Cask",
        ["Tier", "Monthly fee", "Capacity"],
        [["Pebble", "€ 2,50 per month", "0.1 TB"], ["Ridge", "€ 12,90 per month", "1 TB"]],
    ),
    (
        "Cumulo Crate",
        ["Plan", "Annual price", "Included storage"],
        [["Puff", "£29 per year", "200 GiB"], ["Anvil", "£599 per year", "16 TiB"]],
    ),
]

EBIKES: list[Table] = [
    (
        "VoltWay",
        ["Model", "Battery", "Range", "Weight", "Price"],
        [
            ["Trail 5", "0.625 kWh", "up to 120 km", "23.5 kg", "€3,499"],
            ["City 3", "0.5 kWh", "90 km", "21 kg", "€2,799"],
        ],
    ),
    (
        "Pedalia",
        ["Bike", "Battery capacity", "Max range", "Mass", "Price"],
        [
            ["Roamer", "720 Wh", "75 mi", "52 lb", "$3,999"],
            ["Hopper", "400 Wh", "50 mi", "44 lb", "$2,199"],
        ],
    ),
]


def _plan(tmp_path: Path, question: str, tables: list[Table]) -> dict[str, Any]:
    """Write the tables and the manifest as the workbench does; profile them for real."""
    entries = []
    for number, (site, columns, rows) in enumerate(tables, start=1):
        path = f"tables/site-{number}-1.csv"
        write_csv(tmp_path / path, columns, rows)
        url = f"http://127.0.0.1:8000/site-{number}/"
        entries.append({"site": site, "source_url": url, "path": path, "caption": ""})
    manifest = {"question": question, "fx_to_usd": None, "tables": entries}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    for name, data in runtime_files().items():
        (tmp_path / name).write_bytes(data)
    cwd = Path.cwd()
    try:  # table paths in a plan are relative to the work dir, as in the sandbox
        import os

        os.chdir(tmp_path)
        return profile("manifest.json")
    finally:
        os.chdir(cwd)


def _calls(code: str, name: str) -> list[ast.Call]:
    tree = ast.parse(code)
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == name
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "comparison"
    ]


def _kw(call: ast.Call) -> dict[str, Any]:
    """A call's keyword arguments as values (table variables as their names)."""
    out: dict[str, Any] = {}
    for kw in call.keywords:
        value = kw.value
        if isinstance(value, ast.List) and value.elts and isinstance(value.elts[0], ast.Tuple):
            out[str(kw.arg)] = [
                (t.elts[0].id, t.elts[1].value)  # type: ignore[attr-defined]
                for t in value.elts
                if isinstance(t, ast.Tuple)
            ]
        else:
            out[str(kw.arg)] = ast.literal_eval(value)
    return out


def _metrics(code: str) -> dict[str, dict[str, Any]]:
    return {
        ast.literal_eval(c.args[0]): {"title": ast.literal_eval(c.args[1]), **_kw(c)}
        for c in _calls(code, "metric") + _calls(code, "ratio")
    }


def _run(tmp_path: Path, code: str) -> dict[str, Any]:
    (tmp_path / "analysis.py").write_text(code, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-I", "analysis.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))


def test_money_and_storage_name_each_metric_its_columns_and_the_price_per_gb(
    tmp_path: Path,
) -> None:
    code = generate_analysis_code(_plan(tmp_path, "Compare price and storage", STORAGE))
    metrics = _metrics(code)
    assert list(metrics) == ["price_usd_month", "storage_gb", "price_per_gb_usd_month"]
    price = metrics["price_usd_month"]
    assert (price["title"], price["unit"], price["currencies"]) == (
        "Monthly price",
        "USD/month",
        ["EUR", "GBP"],
    )
    assert price["columns"] == [("t1", "Price"), ("t2", "Monthly fee"), ("t3", "Annual price")]
    assert metrics["storage_gb"]["columns"] == [
        ("t1", "Storage"),
        ("t2", "Capacity"),
        ("t3", "Included storage"),
    ]
    ratio = metrics["price_per_gb_usd_month"]
    assert (ratio["numerator"], ratio["denominator"], ratio["per"]) == (
        "price_usd_month",
        "storage_gb",
        "GB",
    )
    charts = {ast.literal_eval(c.args[0]): _kw(c) for c in _calls(code, "chart")}
    assert charts["price_usd_month"]["title"] == "Monthly price (EUR, GBP → USD/month)"
    assert charts["storage_gb"]["axis"] == "Included storage (GB)"
    first = _calls(code, "highlight")[0]
    assert _kw(first)["low"] == "Cheapest monthly price"

    summary = _run(tmp_path, code)
    assert summary["highlights"][0].startswith("Cheapest monthly price: Pebble at Strato Cask")
    assert summary["charts"] == [f"charts/{m}.png" for m in metrics]


def test_ebike_units_become_metrics_named_with_their_unit(tmp_path: Path) -> None:
    code = generate_analysis_code(_plan(tmp_path, "Compare the e-bikes", EBIKES))
    metrics = _metrics(code)
    assert metrics["battery_capacity_wh"]["columns"] == [
        ("t1", "Battery"),
        ("t2", "Battery capacity"),
    ]
    assert (metrics["range_km"]["title"], metrics["range_km"]["unit"]) == ("Range", "km")
    assert metrics["weight_kg"]["columns"] == [("t1", "Weight"), ("t2", "Mass")]
    charts = {ast.literal_eval(c.args[0]): _kw(c)["title"] for c in _calls(code, "chart")}
    assert charts["battery_capacity_wh"] == "Battery capacity (Wh)"
    assert charts["range_km"] == "Range (km)"
    assert charts["price_usd"] == "Price (EUR → USD)"
    assert not any(k.startswith("price_per_") and k != "price_per_gb_usd_month" for k in metrics)

    summary = _run(tmp_path, code)
    lines = summary["highlights"]
    assert any(h.startswith("Longest range: Roamer at Pedalia — 75 mi (120.7 km)") for h in lines)
    assert any(h.startswith("Lightest: Hopper at Pedalia") for h in lines)
    assert any(h.startswith("Most battery capacity: Roamer at Pedalia — 720 Wh") for h in lines)


def test_a_question_asking_per_wh_adds_that_ratio_first(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "Which e-bike is cheapest per Wh of battery?", EBIKES)
    code = generate_analysis_code(plan)
    ratio = _metrics(code)["price_per_wh_usd"]
    assert (ratio["title"], ratio["numerator"], ratio["denominator"], ratio["unit"]) == (
        "Price per Wh",
        "price_usd",
        "battery_capacity_wh",
        "USD/Wh",
    )
    [first, *_] = _calls(code, "highlight")
    assert ast.literal_eval(first.args[0]) == "price_per_wh_usd"
    assert _kw(first)["low"] == "Cheapest per Wh"

    summary = _run(tmp_path, code)
    # Hopper: $2,199 / 400 Wh = 5.50 USD/Wh; Roamer: $3,999 / 720 Wh = 5.55 USD/Wh.
    assert summary["highlights"][0].startswith(
        "Cheapest per Wh: Hopper at Pedalia — $2,199 ÷ 400 Wh"
    )


def test_a_column_whose_meaning_is_unclear_stays_its_own_metric(tmp_path: Path) -> None:
    tables: list[Table] = [
        ("Acme", ["Plan", "Price", "Value"], [["A", "$5/mo", "12 kg"], ["B", "$9/mo", "30 kg"]]),
        ("Beta", ["Plan", "Price", "Weight"], [["C", "$4/mo", "10 kg"], ["D", "$8/mo", "20 kg"]]),
    ]
    metrics = _metrics(generate_analysis_code(_plan(tmp_path, "Compare plans", tables)))
    assert metrics["weight_kg"]["columns"] == [("t2", "Weight")]
    [unclear] = [k for k in metrics if "__" in k]
    assert unclear.endswith("__acme") and metrics[unclear]["columns"] == [("t1", "Value")]


def test_page_text_in_the_plan_stays_inside_literals(tmp_path: Path) -> None:
    tables: list[Table] = [
        (INJECTION, ["Plan", INJECTION, "Storage"], [[INJECTION, "$5/mo", "1 TB"]]),
        ("Beta\nimport os", ["Plan", "Price", "Storage"], [["B", "$9/mo", "2 TB"]]),
    ]
    code = generate_analysis_code(_plan(tmp_path, "Compare " + INJECTION, tables))
    tree = ast.parse(code)
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert [getattr(n, "module", None) or n.names[0].name for n in imports] == [
        "os",
        "sys",
        "analysis_script",
    ]
    called = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert called <= {
        "sys.path.insert",
        "os.path.abspath",
        "Comparison",
        "comparison.table",
        "comparison.metric",
        "comparison.ratio",
        "comparison.chart",
        "comparison.highlight",
        "comparison.finish",
    }
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert INJECTION in strings and "Beta\nimport os" in strings
    assert "Compare " + INJECTION in strings
    summary = _run(tmp_path, code)
    assert summary["n_rows"] > 0


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        ([], "JSON object"),
        ({"question": 3}, "'question' must be a string"),
        ({"question": "q", "tables": [{"path": "t.csv", "site": ["x"]}]}, "'site'"),
        (
            {
                "question": "q",
                "tables": [],
                "metrics": [{"key": "k", "title": "t", "unit": "u", "columns": [[1, "h"]]}],
            },
            "no table number 1",
        ),
        (
            {
                "question": "q",
                "metrics": [
                    {
                        "key": "k",
                        "title": "t",
                        "ratio": {
                            "numerator": "a",
                            "denominator": "b",
                            "per": "GB",
                            "unit": "u",
                            "label": "l",
                        },
                    }
                ],
            },
            "does not have",
        ),
        ({"question": "q", "charts": [{"key": "nope", "title": "t", "axis": "a"}]}, "unknown"),
        ({"question": "q", "fx_to_usd": {"EUR": "1.1"}}, "currency codes to numbers"),
    ],
)
def test_a_malformed_plan_is_refused(plan: Any, problem: str) -> None:
    with pytest.raises(PlanError, match=problem):
        generate_analysis_code(plan)


@pytest.mark.slow
async def test_the_generated_script_runs_in_the_real_sandbox(tmp_path: Path) -> None:
    findings = []
    for number, (site, columns, rows) in enumerate(EBIKES, start=1):
        url = f"http://127.0.0.1:8000/site-{number}/"
        ref = write_csv(tmp_path / "tables" / f"site-{number}.csv", columns, rows)
        table = TableRef(artifact=ref, source_url=url, columns=columns, n_rows=len(rows))
        findings.append(
            Findings(task_id=f"site-{number}", site=url, site_name=site, goal="", tables=[table])
        )
    out = tmp_path / "analysis"
    question = "Which e-bike is cheapest per Wh?"
    analysis = await run_analysis(question, findings, Context(), out=out)

    assert not analysis.errors, analysis.errors
    kept = Path(analysis.code_path).read_text()
    assert "comparison.ratio(\n    'price_per_wh_usd'" in kept
    assert "'Battery capacity'" in kept and "unit='Wh'" in kept
    assert analysis.highlights[0].startswith("Cheapest per Wh: Hopper at Pedalia — $2,199 ÷ 400 Wh")
    assert {Path(c.path).name for c in analysis.charts} >= {"range_km.png", "price_per_wh_usd.png"}


async def test_a_plan_that_cannot_be_read_is_the_analysis_error(tmp_path: Path) -> None:
    class BadPlan(FakeCodeSession):
        """Profiles into a plan whose table number points nowhere."""

        async def execute(self, code: str) -> ExecResult:
            self.executed.append(code)
            plan = {"question": "q", "metrics": [{"key": "k", "title": "t", "columns": [[9, "x"]]}]}
            self.files["plan.json"] = json.dumps(plan).encode()
            return ExecResult(exit_status=0, tier=self.tier)

    sessions: list[BadPlan] = []

    @contextlib.asynccontextmanager
    async def open_bad() -> AsyncIterator[BadPlan]:
        sessions.append(BadPlan())
        yield sessions[-1]

    bench = Workbench(manifest={"tables": []}, files={}, out=tmp_path, open_session=open_bad)
    analysis = await bench.run_offline()

    [session] = sessions
    assert session.executed == [PROFILE_CODE], "no script runs without a plan"
    [error] = analysis.errors
    assert error.kind == "analysis_failed" and "plan could not be read" in error.message
    assert "no table number 9" in error.message
    assert (tmp_path / "analysis.py").read_text() == PROFILE_CODE
