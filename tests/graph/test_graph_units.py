"""The whole graph over two e-bike shops that write their specs in different units.

Real Chromium reads the pages (one behind a cookie banner, one with its bikes as columns),
a real code sandbox runs the offline analysis, and the report comes out with metrics named
after what they measure, in one unit each, and the price per Wh the question asks for.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore

from graph.builder import build_graph
from graph.context import Context

pytestmark = pytest.mark.slow

QUESTION = "Which e-bike is cheapest per Wh of battery? Compare range and weight too."


async def test_ebike_shops_in_kwh_miles_kg_and_wh_km_lb_compare_in_one_unit_each(
    tmp_path: Path, site_server
) -> None:
    north, velo = site_server("ebike_north"), site_server("ebike_velo")
    ctx = Context(allow_hosts=[north.host, velo.host], runs_dir=str(tmp_path / "runs"))
    app = build_graph(checkpointer=InMemorySaver(), store=InMemoryStore())
    config = {"configurable": {"thread_id": "t-ebikes"}}
    await app.ainvoke({"question": QUESTION, "urls": [north.url, velo.url]}, config, context=ctx)
    values = (await app.aget_state(config)).values

    assert {f.status for f in values["findings"]} == {"ok"}
    charts = sorted(Path(c).name for c in values["charts"])
    assert charts == [
        "battery_capacity_wh.png",
        "payload_kg.png",
        "price_per_wh_usd.png",
        "price_usd.png",
        "range_km.png",
        "weight_kg.png",
    ]
    highlights = values["analysis"].highlights
    north_name = next(f.site_name for f in values["findings"] if f.site == north.url)
    assert f"Cheapest per Wh: Commuter S at {north_name} — $1,999 ÷ 0.5 kWh (4 USD/Wh)" in (
        highlights
    )
    # Each page's table counts once, so no value ties with itself.
    assert (
        f"Longest range: Trailhead at {north_name} — 75 mi (120.7 km) — 1.4× the shortest range"
        in (highlights)
    )
    report = Path(values["report_path"]).read_text()
    assert "Cheapest per Wh" in report and "range_km" in report
