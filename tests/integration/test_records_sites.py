"""Shops whose specs sit in cards, in JSON-LD or in spec lists, read by a real browser subagent.

Real Chromium, real local servers (tests/sites/card_shop, jsonld_shop, spec_list), the offline
brain: every model becomes one row of a record table saved as a CSV artifact, a list's second
page is followed by its "Next page ›" link, and recommendation rails never become products.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from graph.context import Context
from graph.models import Findings, SiteTask, TableRef
from nodes.browse.subagent import run_subagent

pytestmark = pytest.mark.slow

GOAL = "Compare the battery, range and price of every e-bike model"


async def browse(url: str, allow: list[str], tmp_path: Path, goal: str = GOAL) -> Findings:
    ctx = Context(allow_hosts=allow, runs_dir=str(tmp_path), max_pages=4)
    task = SiteTask(task_id="site-1", url=url, goal=goal)
    return await run_subagent(
        task, ctx, artifacts_root=str(tmp_path), thread_id="t", progress=lambda *_: None
    )


def csv_rows(table: TableRef) -> list[list[str]]:
    with open(table.artifact.path, newline="") as handle:
        return list(csv.reader(handle))


def record_table(findings: Findings) -> list[list[str]]:
    named = [t for t in findings.tables if t.columns and t.columns[0] == "Name"]
    assert len(named) == 1, [t.columns for t in findings.tables]
    return csv_rows(named[0])


async def test_cards_over_two_pages_behind_a_cookie_overlay_become_one_table(site_server, tmp_path):
    site = site_server("card_shop")
    findings = await browse(site.url + "e-bikes/", [site.host], tmp_path)
    assert findings.status == "ok"
    assert findings.pages_visited[:2] == [site.url + "e-bikes/", site.url + "e-bikes/page-2.html"]
    table = record_table(findings)
    assert table[0] == ["Name", "Battery", "Range", "Weight", "Price"]
    assert table[1:] == [
        ["Voltaro City 7", "625 Wh", "up to 120 km", "24.8 kg", "€3,499"],
        ["Voltaro Trail 9", "750 Wh", "up to 140 km", "26.1 kg", "€4,199"],
        ["Kestrel Fold", "400 Wh", "up to 70 km", "19.5 kg", "€2,299"],
        ["Hornet Cargo", "1,000 Wh (dual battery)", "up to 180 km", "38 kg", "€5,990"],
        ["Sprite Kids E", "250 Wh", "up to 40 km", "14.2 kg", "€1,499"],
    ]
    names = {row[0] for t in findings.tables for row in csv_rows(t)}
    assert not names & {"Urban Pro helmet", "Lock XL 120", "Pannier 25"}


async def test_products_only_in_json_ld_become_records(site_server, tmp_path):
    site = site_server("jsonld_shop")
    goal = "Compare the price, storage and memory of every laptop"
    findings = await browse(site.url, [site.host], tmp_path, goal=goal)
    assert findings.status == "ok"
    table = record_table(findings)
    header, rows = table[0], {row[0]: dict(zip(table[0], row, strict=True)) for row in table[1:]}
    assert header[:3] == ["Name", "Brand", "Price"]
    assert set(rows) == {"Northwind Air 13", "Northwind Pro 15", "Northwind Studio 16"}
    assert rows["Northwind Air 13"]["Price"] == "1299.00 USD"
    assert rows["Northwind Pro 15"]["Storage"] == "1 TB"
    assert rows["Northwind Studio 16"]["Price"] == "from 2899 USD"
    assert rows["Northwind Studio 16"]["Highest price"] == "3499 USD"
    assert rows["Northwind Air 13"]["Weight"] == "1.19 kg"


async def test_a_spec_list_page_becomes_one_row_per_model(site_server, tmp_path):
    site = site_server("spec_list")
    goal = "Compare the storage and price of the tablets"
    findings = await browse(site.url, [site.host], tmp_path, goal=goal)
    table = record_table(findings)
    assert table == [
        ["Name", "Display", "Storage", "Battery life", "Price"],
        ["Tessera Mini", "8.3-inch", "128 GB", "10 hours", "$499"],
        ["Tessera Air", "11-inch", "256 GB", "12 hours", "$699"],
        ["Tessera Pro", "13-inch", "1 TB", "11 hours", "$1,299"],
    ]
