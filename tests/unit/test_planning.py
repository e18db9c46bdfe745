"""The coordinator's plan: one task per good URL, every other target refused with a reason."""

import pytest

from nodes.plan.node import fan_out, plan_tasks, review_plan

QUESTION = "Compare monthly prices"


def test_one_task_per_url_with_the_question_as_goal():
    plan = plan_tasks(QUESTION, ["https://a.example/", "https://b.example/x"], max_subagents=4)
    assert [(t.task_id, t.url, t.goal) for t in plan.tasks] == [
        ("site-1", "https://a.example/", QUESTION),
        ("site-2", "https://b.example/x", QUESTION),
    ]
    assert plan.refused == []


def test_targets_beyond_max_subagents_are_refused_not_dropped():
    urls = [f"https://s{i}.example/" for i in range(5)]
    plan = plan_tasks(QUESTION, urls, max_subagents=3)
    assert [t.url for t in plan.tasks] == urls[:3]
    assert [(r.url, r.rule) for r in plan.refused] == [(u, "max_subagents") for u in urls[3:]]
    assert "at most 3" in plan.refused[0].reason


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("not a url", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("chrome://settings", "scheme"),
        ("http://", "malformed_url"),
        ("http://host:99999/", "malformed_url"),
        ("ftp://files.example/", "scheme"),
    ],
)
def test_malformed_or_unsupported_urls_are_refused_by_rule(url, rule):
    plan = plan_tasks(QUESTION, [url, "https://ok.example/"], max_subagents=4)
    assert [t.url for t in plan.tasks] == ["https://ok.example/"]
    assert [(r.url, r.rule) for r in plan.refused] == [(url, rule)]


def test_duplicates_are_planned_once():
    plan = plan_tasks(QUESTION, ["https://a.example/", " https://a.example/ "], max_subagents=4)
    assert len(plan.tasks) == 1
    assert plan.refused[0].rule == "duplicate"


def test_empty_question_plans_nothing_and_says_why():
    plan = plan_tasks("   ", ["https://a.example/"], max_subagents=4)
    assert plan.tasks == []
    assert plan.refused[0].rule == "empty_question"


def test_fan_out_sends_one_branch_per_task_or_goes_straight_to_the_analyst():
    plan = plan_tasks(QUESTION, ["https://a.example/", "https://b.example/"], max_subagents=4)
    sends = fan_out({"question": QUESTION, "urls": [], "plan": plan})
    assert [s.node for s in sends] == ["browser", "browser"]
    assert {s.arg["task"].task_id for s in sends} == {"site-1", "site-2"}
    assert (
        fan_out(
            {"question": QUESTION, "urls": [], "plan": plan_tasks(QUESTION, [], max_subagents=4)}
        )
        == "analyst"
    )


def _planned():
    return plan_tasks(QUESTION, ["https://a.example/", "https://b.example/"], max_subagents=4)


def test_review_approves_the_plan_as_it_was_shown():
    reviewed = review_plan(_planned(), True, max_subagents=4)
    assert [t.url for t in reviewed.tasks] == ["https://a.example/", "https://b.example/"]
    assert reviewed.review == "approved"


def test_review_edit_drops_a_site_and_changes_a_goal_keeping_task_ids():
    edit = {"tasks": [{"url": "https://b.example/", "goal": "Only the storage limits"}]}
    reviewed = review_plan(_planned(), edit, max_subagents=4)
    assert [(t.task_id, t.url, t.goal) for t in reviewed.tasks] == [
        ("site-2", "https://b.example/", "Only the storage limits")
    ]
    assert reviewed.review == "edited"


def test_review_edit_is_validated_like_any_target():
    edit = {"tasks": [{"url": "file:///etc/passwd"}, {"url": "https://a.example/"}]}
    reviewed = review_plan(_planned(), edit, max_subagents=4)
    assert [(t.url, t.goal) for t in reviewed.tasks] == [("https://a.example/", QUESTION)]
    assert [r.rule for r in reviewed.refused] == ["scheme"]


def test_review_reject_runs_nothing_and_says_so():
    reviewed = review_plan(_planned(), False, max_subagents=4)
    assert reviewed.tasks == [] and reviewed.review == "rejected"
    assert {r.rule for r in reviewed.refused} == {"rejected"}
