"""The browser subagent's task parsing: only the sites it was built with, nothing else."""

from __future__ import annotations

from graph.models import Findings, SiteTask
from integrations.deepagents.browser_subagent import browser_subagent, plan_task

SITES = ["http://127.0.0.1:8001/", "http://127.0.0.1:8002/"]


def test_the_first_url_on_a_known_site_is_the_start() -> None:
    task = plan_task(
        "Compare http://evil.test/ and http://127.0.0.1:8002/plans/. Prices", SITES, "t1"
    )
    assert isinstance(task, SiteTask)
    assert (task.url, task.task_id) == ("http://127.0.0.1:8002/plans/", "t1")
    assert "Prices" in task.goal


def test_an_unknown_site_is_refused_without_a_browser() -> None:
    for text in ("Research http://127.0.0.1:9999/ please", "no url at all"):
        found = plan_task(text, SITES, "t2")
        assert isinstance(found, Findings)
        assert found.status == "refused"
        assert [e.rule for e in found.errors] == ["off_plan"]
        assert found.pages_visited == []


def test_the_spec_names_its_sites() -> None:
    spec = browser_subagent(SITES)
    assert spec["name"] == "flotilla-browser"
    assert all(site in spec["description"] for site in SITES)
