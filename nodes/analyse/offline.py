"""The offline brain's analysis: a script written for this run from its tables and question.

Two steps in one code-interpreter session. First `PROFILE_CODE` runs the sandbox-side
program's profiler (``nodes/analyse/in_sandbox/analysis_plan.py``) over the manifest: it
reads the tables the way the comparison does and writes the plan as JSON: the tables,
each metric with its title, unit and the columns joined into it, the derived ratios, the
charts and the highlight words. Then `generate_analysis_code` turns the plan into this
run's script: plain calls into ``analysis_script.Comparison`` that a reader can follow and
rerun; the script runs in the same session and is kept as the run's `analysis.py`.

The plan is made from page text, so every value from it enters the script as a Python
literal (``repr`` of a checked str, int or list), never spliced into code; the result is
parsed before it is returned.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sandbox.interpreter import CodeSession, ExecResult

PLAN_FILE = "plan.json"
MANIFEST_FILE = "manifest.json"
# The most plan bytes read back from the sandbox.
MAX_PLAN_BYTES = 4 << 20

PROFILE_CODE = f"""\
import os
import sys

sys.path.insert(0, os.path.abspath("."))
import analysis_plan

analysis_plan.write_plan({MANIFEST_FILE!r}, {PLAN_FILE!r})
"""

_HEAD = '''\
"""This run's analysis, generated from the tables it found and its question.

Each table the browser subagents saved, the columns joined into each metric and the unit
its values are shown in, the ratios derived from them, one chart per metric with two
values or more, and the words its highlights use. Run it beside the analysis_*.py modules
and the tables to get comparison.csv, the charts and summary.json again.
"""

import os
import sys

sys.path.insert(0, os.path.abspath("."))
from analysis_script import Comparison

'''


class PlanError(ValueError):
    """The plan read back from the sandbox is not in the shape `generate_analysis_code` needs."""


def _lit(value: object) -> str:
    """`value` as a Python literal: str, int, float, bool, None, or lists of them."""
    if value is None or isinstance(value, bool | int | float | str):
        text = repr(value)
        if isinstance(value, float) and not ast.literal_eval(text) == value:
            raise PlanError(f"not a finite number: {text}")
        return text
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_lit(v) for v in value) + "]"
    raise PlanError(f"not a plain value: {type(value).__name__}")


def _str(entry: Mapping[str, Any], name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str):
        raise PlanError(f"{name!r} must be a string, got {type(value).__name__}")
    return value


def _strs(entry: Mapping[str, Any], name: str) -> list[str]:
    values = entry.get(name, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise PlanError(f"{name!r} must be a list of strings")
    return values


def _entries(plan: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    entries = plan.get(name, [])
    if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
        raise PlanError(f"{name!r} must be a list of objects")
    return entries


def _call(name: str, args: Sequence[str], kwargs: Sequence[tuple[str, str]]) -> str:
    """A call spread over lines, one argument per line, each already a literal."""
    parts = [*args, *(f"{k}={v}" for k, v in kwargs)]
    return f"{name}(\n" + "".join(f"    {p},\n" for p in parts) + ")\n"


def _fx(plan: Mapping[str, Any]) -> str:
    fx = plan.get("fx_to_usd")
    if fx is None:
        return "None"
    if not isinstance(fx, Mapping) or not all(
        isinstance(k, str) and isinstance(v, int | float) for k, v in fx.items()
    ):
        raise PlanError("'fx_to_usd' must map currency codes to numbers")
    return "{" + ", ".join(f"{_lit(k)}: {_lit(float(v))}" for k, v in fx.items()) + "}"


def _tables(plan: Mapping[str, Any]) -> tuple[str, int]:
    lines = ["# The tables the browser subagents saved, numbered t1, t2...\n"]
    tables = _entries(plan, "tables")
    for number, t in enumerate(tables, start=1):
        kwargs = [(k, _lit(_str(t, k))) for k in ("site", "source_url", "caption")]
        lines.append(_call(f"t{number} = comparison.table", [_lit(_str(t, "path"))], kwargs))
    return "".join(lines), len(tables)


def _metrics(plan: Mapping[str, Any], n_tables: int) -> tuple[str, set[str]]:
    lines: list[str] = []
    keys: set[str] = set()
    for m in _entries(plan, "metrics"):
        key, title = _lit(_str(m, "key")), _lit(_str(m, "title"))
        currencies = [("currencies", _lit(_strs(m, "currencies")))] if m.get("currencies") else []
        ratio = m.get("ratio")
        if isinstance(ratio, Mapping):
            parts = [_str(ratio, k) for k in ("numerator", "denominator")]
            if not set(parts) <= keys:
                raise PlanError(f"ratio {key} divides metrics the plan does not have")
            kwargs = [(k, _lit(_str(ratio, k))) for k in _RATIO_ARGS]
            lines.append("# Derived: each item's numerator ÷ its denominator counted in `per`.\n")
            lines.append(_call("comparison.ratio", [key, title], kwargs + currencies))
        else:
            pairs = m.get("columns")
            if not isinstance(pairs, list) or not pairs:
                raise PlanError(f"metric {key} has neither columns nor a ratio")
            columns = []
            for pair in pairs:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[1], str)):
                    raise PlanError(f"metric {key}: a column must be [table number, header]")
                number = pair[0]
                if not isinstance(number, int) or not 1 <= number <= n_tables:
                    raise PlanError(f"metric {key}: no table number {number!r}")
                columns.append(f"(t{number}, {_lit(pair[1])})")
            unit = [("unit", _lit(_str(m, "unit")))]
            column_list = [("columns", "[" + ", ".join(columns) + "]")]
            lines.append(_call("comparison.metric", [key, title], unit + currencies + column_list))
        keys.add(_str(m, "key"))
    return "".join(lines), keys


_RATIO_ARGS = ("numerator", "denominator", "per", "unit", "label")


def generate_analysis_code(plan: Mapping[str, Any], *, out_dir: str = "out") -> str:
    """This run's analysis script from the plan the profiler wrote; raises PlanError.

    Every value from the plan is a literal of the script; the script is parsed before it
    is returned, so a plan that would not make valid Python is refused here.
    """
    if not isinstance(plan, Mapping):
        raise PlanError("the plan must be a JSON object")
    if not isinstance(out_dir, str) or not out_dir or "\x00" in out_dir:
        raise PlanError(f"out_dir must be a non-empty path string, got {out_dir!r}")
    tables, n_tables = _tables(plan)
    metrics, keys = _metrics(plan, n_tables)
    charts, highlights = [], []
    for c in _entries(plan, "charts"):
        if _str(c, "key") not in keys:
            raise PlanError(f"chart of unknown metric {_str(c, 'key')!r}")
        kwargs = [(k, _lit(_str(c, k))) for k in ("title", "axis")]
        charts.append(_call("comparison.chart", [_lit(_str(c, "key"))], kwargs))
    for h in _entries(plan, "highlights"):
        if _str(h, "key") not in keys:
            raise PlanError(f"highlight of unknown metric {_str(h, 'key')!r}")
        kwargs = [(k, _lit(_str(h, k))) for k in ("low", "high", "ref")]
        highlights.append(_call("comparison.highlight", [_lit(_str(h, "key"))], kwargs))
    code = (
        _HEAD
        + f"QUESTION = {_lit(_str(plan, 'question'))}\n"
        + f"comparison = Comparison(QUESTION, fx_to_usd={_fx(plan)})\n\n"
        + tables
        + "\n# Each metric: the columns joined into it and the unit its values are shown in.\n"
        + metrics
        + "\n# One chart per metric with two values or more: its title and axis label.\n"
        + "".join(charts)
        + "\n# Highlights in each metric's words, the metrics the question names first.\n"
        + "".join(highlights)
        + f"\nsummary = comparison.finish({_lit(out_dir)})\n"
    )
    try:
        ast.parse(code)
    except SyntaxError as exc:  # cannot happen with literals only; refused all the same
        raise PlanError(f"the generated script does not parse: {exc}") from exc
    return code


async def write_analysis(
    session: CodeSession, *, out_dir: str = "out"
) -> tuple[str, ExecResult | None]:
    """Profile the session's tables, then write this run's script from the plan.

    Returns the script and None, or, when profiling failed, the profiling code and its
    failed result (so the caller reports that instead of running anything).
    """
    result = await session.execute(PROFILE_CODE)
    if result.exit_status != 0 or result.error_type:
        return PROFILE_CODE, result
    try:
        data = await session.read_file(PLAN_FILE)
        if len(data) > MAX_PLAN_BYTES:
            raise PlanError(f"the plan is {len(data)} bytes, over {MAX_PLAN_BYTES}")
        return generate_analysis_code(json.loads(data), out_dir=out_dir), None
    except (OSError, ValueError, KeyError) as exc:  # PlanError and bad JSON are ValueErrors
        failed = result.model_copy(
            update={
                "exit_status": 1,
                "error_type": type(exc).__name__,
                "error_message": f"the analysis plan could not be read: {exc}",
            }
        )
        return PROFILE_CODE, failed
