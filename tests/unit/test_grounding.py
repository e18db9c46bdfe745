"""A model-written answer may state only what the findings or the analysis hold.

The report model is a scripted fake that invents values the way a small real model did (the
figures below are the ones it wrote over a run that read no page); the node, the grounding
check, the saved table read from disk and the report file are real.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from langgraph.runtime import Runtime

from graph.context import Context
from graph.models import Analysis, ArtifactRef, Fact, Findings, Plan, TableRef
from nodes.report.grounding import Material, ground, material, unfounded, values
from nodes.report.node import report
from tests.fakes import ScriptedChatModel, ai_tool_call, replies

QUESTION = "Compare battery capacity, range and price of the e-bikes these shops sell"
SITE = "http://127.0.0.1:8101/"
INVENTED = "Voltway Trek 750: Battery capacity 30.5 kWh, Range 100 km, Price $1,299"


def _table(tmp_path: Path) -> TableRef:
    path = tmp_path / "ebikes.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Model", "Battery", "Range", "Price"])
        writer.writerow(["Glide 500", "500 Wh", "80 km", "€ 1.899,00"])
        writer.writerow(["Summit X", "625 Wh", "110 km", "€ 2.449,00"])
    artifact = ArtifactRef(
        path=str(path), media_type="text/csv", size=path.stat().st_size, sha256="0" * 64
    )
    return TableRef(artifact=artifact, source_url=SITE + "bikes", columns=["Model", "Battery"])


def _findings(tmp_path: Path) -> list[Findings]:
    return [
        Findings(
            task_id="site-1",
            site=SITE,
            site_name="Voltway",
            goal=QUESTION,
            summary="Voltway sells two e-bikes.",
            key_facts=[Fact(text="Glide 500: 500 Wh battery, 80 km range", source_url=SITE)],
            pages_visited=[SITE, SITE + "bikes"],
            tables=[_table(tmp_path)],
            brain="llm",
            model="fake-browser",
        )
    ]


def _state(tmp_path: Path, **kw: Any) -> dict[str, Any]:
    analysis = Analysis(
        highlights=["Longest range: Summit X at Voltway, 110 km"],
        comparison_markdown="| Model | Price (USD) |\n|---|--:|\n| Glide 500 | 2,050.92 |",
        author="fake-analyst",
    )
    return {
        "question": QUESTION,
        "urls": [SITE],
        "brain": "llm",
        "findings": _findings(tmp_path),
        "analysis": analysis,
        "plan": Plan(planner="fake-planner"),
        "usage": [],
        **kw,
    }


async def _report(tmp_path: Path, *bullets: str) -> tuple[dict[str, Any], str]:
    writer = ScriptedChatModel(
        script=replies(ai_tool_call("ShortAnswer", bullets=list(bullets))), name="fake-writer"
    )
    ctx = Context(runs_dir=str(tmp_path / "runs"))
    update = await report(
        _state(tmp_path),  # type: ignore[arg-type]
        Runtime(context=ctx),
        models={"report": writer},
    )
    return update, Path(update["report_path"]).read_text()


async def test_an_invented_answer_is_dropped_and_the_templated_one_used(tmp_path: Path) -> None:
    update, markdown = await _report(tmp_path, INVENTED, "Voltway Eagle: Range 95 km, $999")
    answer = markdown.split("## Short answer")[1].split("## ")[0]
    assert "30.5" not in answer and "Trek" not in answer and "999" not in answer
    assert "Longest range: Summit X at Voltway, 110 km" in answer  # the templated answer
    failed = markdown.split("## What failed")[1].split("## ")[0]
    assert "report writer (ungrounded): dropped a sentence by fake-writer" in failed
    assert "30.5" in failed and "Trek" in failed and "1,299" in failed
    assert "nothing fake-writer wrote was grounded" in failed
    assert "- Report writer: templated (fallback: fake-writer's answer was not grounded)" in (
        markdown
    )
    assert update["answer"] == "Longest range: Summit X at Voltway, 110 km"


async def test_grounded_sentences_stay_and_only_the_invented_one_goes(tmp_path: Path) -> None:
    grounded = [
        "Summit X at Voltway has the longest range, 110 km, with a 625 Wh battery.",
        "Glide 500 costs € 1.899,00 ([source](http://127.0.0.1:8101/bikes)), about $2,050.92.",
        "Glide 500's battery holds 0.5 kWh.",  # the kilo prefix of the table's 500 Wh
    ]
    update, markdown = await _report(tmp_path, grounded[0], INVENTED, *grounded[1:])
    assert update["answer"].splitlines() == grounded
    failed = markdown.split("## What failed")[1].split("## ")[0]
    assert failed.count("report writer (ungrounded)") == 1
    assert "- Report writer: `fake-writer`" in markdown


@pytest.mark.parametrize(
    ("bullet", "missing"),
    [
        ("Glide 500 costs 1899 euros", []),  # the table's € 1.899,00
        ("Glide 500 costs 1,900 euros", ["1,900"]),  # not rounding: a different figure
        ("Glide 500 costs about 2051 USD", []),  # rounding the analysis's 2,050.92
        ("Summit X range is 110 km", []),
        ("Summit X range is 111 km", ["111"]),
        ("See [the page](http://127.0.0.1:8101/other)", ["http://127.0.0.1:8101/other"]),
        ("Voltway lists 2 pages of bikes", []),  # counts of what the run read
        ("The Cruiser model is cheaper", ["Cruiser"]),
        ("Both shops list prices in EUR", ["EUR"]),  # not in the material here
        # Money must be an amount the run found as money: 80 is a range, 500 a battery.
        ("Glide 500 costs € 80", ["80"]),
        ("Glide 500 costs $500 a month", ["500"]),
        ("Summit X costs € 2.449,00", []),  # the table's price cell
        ("Glide 500 is 2,050.92 USD", []),  # the analysis's "Price (USD)" column
    ],
)
def test_each_number_name_and_link_is_looked_up(
    tmp_path: Path, bullet: str, missing: list[str]
) -> None:
    state = _state(tmp_path)
    texts = [Path(t.artifact.path).read_text() for f in state["findings"] for t in f.tables]
    held = material(QUESTION, state["analysis"], state["findings"], texts)
    assert unfounded(bullet, held) == missing


def test_numbers_are_read_as_people_write_them() -> None:
    assert values("1,299 · 7,50 · 1 299 · 30.5 · 1.899,00 · 2,050.92") == [
        1299.0,
        1.299,
        750.0,
        7.5,
        1299.0,
        30.5,
        1899.0,
        2050.92,
    ]
    # Digits inside identifiers, versions and addresses are not values.
    assert values("model X500, v2.5, 127.0.0.1, sku-0123456789") == []


def test_an_answer_with_nothing_to_check_is_kept() -> None:
    held = Material(text="", numbers=[], words=set(), pages=set())
    assert ground(["Nothing on the pages answers the question."], held).kept == [
        "Nothing on the pages answers the question."
    ]
