"""The tier a report names carries its syscall filter: no silent downgrade to bwrap without seccomp."""

import pytest

from graph.models import Analysis
from nodes.analyse.workbench import CodeRun
from nodes.report.node import render
from sandbox.interpreter import ExecResult, isolation_label


@pytest.mark.parametrize(
    ("tier", "syscall_filter", "label"),
    [
        ("bwrap", "seccomp", "bwrap+seccomp"),
        ("bwrap", "none", "bwrap (no seccomp)"),
        ("gvisor", "gvisor", "gvisor"),
        ("none", "none", "none"),
    ],
)
def test_the_label_says_what_stood_between_the_code_and_the_kernel(tier, syscall_filter, label):
    assert isolation_label(tier, syscall_filter) == label


def test_a_code_run_on_bwrap_without_seccomp_is_named_so():
    run = CodeRun(result=ExecResult(exit_status=0, tier="bwrap", syscall_filter="none"))
    assert run.isolation == "bwrap (no seccomp)"


def test_the_report_header_names_the_label(tmp_path):
    state = {"question": "q", "analysis": Analysis(sandbox_tier="bwrap (no seccomp)")}
    markdown, _, _ = render(state, thread_id="t", report_path=tmp_path / "report.md")
    header = markdown.split("## ")[0]
    assert "analysis sandbox `bwrap (no seccomp)`" in header
