"""What the report model reads: every piece of information once, nothing a fact needs lost."""

from __future__ import annotations

from graph.models import Analysis, Fact, Findings
from nodes.report.llm import compact_table, material, material_parts

QUESTION = "Compare the monthly price and storage of each vendor's plans"
LONG = """| site | item | metric | value | raw |
|---|---|---|---|---|
| Beta | Lite | price_usd_month | 2.5 USD/month | $2.50/mo |
| Beta | Max | price_usd_month | 9 USD/month | $9/mo |
| Beta | Lite | storage_gb | 100 GB | 100 GB |
| Beta | Max | storage_gb | 1,024 GB | 1 TiB |
| Beta | Lite | price_per_gb_usd_month | 0.025 USD/GB/month | $2.50/mo ÷ 100 GB |
| Beta | Max | price_per_gb_usd_month | 0.0088 USD/GB/month | £9 ÷ 1 TiB |

_2 more rows in comparison.csv_"""


def test_the_long_table_becomes_one_row_per_item_with_every_value_kept() -> None:
    table = compact_table(LONG)
    lines = table.splitlines()
    assert lines[0] == "| site | item | price_usd_month | storage_gb | price_per_gb_usd_month |"
    assert lines[2] == "| Beta | Lite | 2.5 USD/month ($2.50/mo) | 100 GB | 0.025 USD/GB/month |"
    # A derived value's wording stays when it is not made of the row's own cells.
    cells = ["Beta", "Max", "9 USD/month ($9/mo)", "1,024 GB (1 TiB)"]
    cells.append("0.0088 USD/GB/month (£9 ÷ 1 TiB)")
    assert lines[3] == "| " + " | ".join(cells) + " |"
    assert lines[-1] == "2 more rows in comparison.csv"
    assert len(table) < len(LONG)


def test_a_table_in_another_shape_is_shown_as_written() -> None:
    other = "| plan | price |\n|---|---|\n| Lite | $2.50 |"
    assert compact_table(other) == other
    assert compact_table("no table at all") == "no table at all"


def _finding(goal: str = QUESTION) -> Findings:
    return Findings(
        task_id="site-1",
        site="https://beta.example/",
        site_name="Beta",
        goal=goal,
        summary="Beta sells storage. The Lite plan costs $2.50 per month. Max holds 1 TiB.",
        key_facts=[
            Fact(text="The Lite plan costs $2.50 per month.", source_url="https://beta.example/p",
                 score=3),
            Fact(text="Max holds 1 TiB.", source_url="https://beta.example/p", score=2),
            Fact(text="Support answers within 4 hours.", source_url="https://beta.example/",
                 score=1),
        ],
    )  # fmt: skip


def test_a_sites_digest_says_each_fact_once_and_each_page_once() -> None:
    text = material(QUESTION, Analysis(), [_finding()])
    assert text.count("The Lite plan costs $2.50 per month.") == 1
    assert text.count("Max holds 1 TiB") == 1
    assert "summary: Beta sells storage" in text
    assert text.count("https://beta.example/p") == 1  # the page heads its facts
    assert "facts from https://beta.example/:\n- Support answers within 4 hours." in text
    assert "goal:" not in text  # the goal is the question: not repeated
    assert 'source="https://beta.example/"' in text


def test_a_narrowed_goal_is_shown_and_parts_are_labelled() -> None:
    analysis = Analysis(highlights=["Cheapest: Lite at Beta"], comparison_markdown=LONG)
    parts = material_parts(QUESTION, analysis, [_finding("Find Beta's plan prices")])
    assert [label for label, _ in parts] == [
        "question",
        "highlights",
        "comparison",
        "site:https://beta.example/",
    ]
    assert "goal: Find Beta's plan prices" in parts[-1][1]
    assert material(QUESTION, analysis, []) == "\n\n".join(text for _, text in parts[:3])


def test_nothing_found_says_so() -> None:
    parts = material_parts(QUESTION, Analysis(), [])
    assert parts[-1] == ("nothing", "No highlights and no findings: nothing was found.")
