"""A model-written answer states only what the run found: its numbers, names and links are checked.

Whatever the provider, a model asked to answer from findings can invent a plausible figure
("Battery capacity 30.5 kWh") that no page held. Before a model's bullet reaches the report,
every number, every capitalised name and every link in it is looked up in what the run holds:
the findings (site names, summaries, key facts, the tables read, as saved on disk) and the
analysis (highlights, the comparison table, its output files, which carry any unit or currency
conversion the analysis made). A bullet with anything not found there is dropped and the report
says what was dropped and why; when no bullet is left, the templated answer is used instead.

The checks are deliberately literal: a number counts when the same value appears in the
material (thousands separators, a decimal comma and rounding to the digits written are allowed;
so is a kilo- prefix, e.g. 0.5 kWh for 500 Wh); a name counts when each of its words appears in
the material or the question; a link counts when it is a page a subagent visited.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from graph.models import Analysis, Findings

# Most bytes of one saved table or analysis output read as material.
FILE_MAX_BYTES = 256_000
# Relative slack for values compared after a kilo-prefix conversion.
_REL_TOL = 1e-6
# Numbers as people write them: 1,299 · 1 299 · 7,50 · 30.5 · 2.50 — not digits inside words,
# versions, identifiers or URLs.
NUMBER = re.compile(
    r"(?<![\w./:#-])(?<!\d,)(\d{1,3}(?:\.\d{3})+,\d+|\d{1,3}(?:[,\u202f\u00a0' ]\d{3})+(?:[.,]\d+)?"
    r"|\d+(?:[.,]\d+)?)(?![\w-]|[.,]\d)"
)
# A currency written right before or after a number: $ 5, €5, 5 EUR, 3.07 USD/month.
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥₹]|\b(?:USD|EUR|GBP|JPY|CHF|CAD|AUD|INR))\s?$", re.I)
_CURRENCY_AFTER = re.compile(r"^\s?(?:[$€£¥₹]|(?:USD|EUR|GBP|JPY|CHF|CAD|AUD|INR)\b)", re.I)
_CURRENCY = re.compile(r"[$€£¥₹]|\b(?:USD|EUR|GBP|JPY|CHF|CAD|AUD|INR)\b", re.I)
_MD_RULE = re.compile(r"^\|?\s*:?-{3,}")
_LINK_MD = re.compile(r"\]\(([^)\s]+)\)")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s<>()\[\]]+|\bwww\.[^\s<>()\[\]]+", re.IGNORECASE)
# A capitalised word (or an all-caps / alphanumeric model name such as "X500").
_NAME_WORD = re.compile(r"(?<![\w-])([A-Z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)")
_WORD = re.compile(r"[A-Za-z0-9]+")
# Words an answer uses to compare and connect, capitalised at the start of a bullet or sentence;
# they name nothing, so they need not appear in the material.
_COMMON = """
a about above according across after against all also although among an and any are as at
average available be because before below best both but by cheaper cheapest compared
comparison could each either every few for from given has have higher highest however if in
including into is it its largest least less longer longest lower lowest many more most much
neither no none nor not nothing of on one only or other overall per price prices range
ranges shorter shortest since smaller smallest so see some than that the their then there
these they this those three to top two under unknown unlike up versus vs was we were what
when where which while who with within without yes you
"""
COMMON_WORDS = frozenset(_COMMON.split())


@dataclass
class Material:
    """What an answer may draw on: the run's text, its numbers, its words, the visited pages."""

    text: str
    numbers: list[float]
    words: set[str]
    pages: set[str]
    # The amounts the material writes with a currency: a bullet's money must be one of them.
    money: list[float] = field(default_factory=list)


@dataclass
class Verdict:
    """The grounded bullets, and each dropped bullet with what in it was not found."""

    kept: list[str] = field(default_factory=list)
    dropped: list[tuple[str, list[str]]] = field(default_factory=list)


def values(text: str) -> list[float]:
    """Every value a number in `text` may mean (1,299 → 1299; 7,50 → 7.5; 1,500 → 1500 or 1.5)."""
    return [value for match in NUMBER.finditer(text) for value, _ in _readings(match.group(1))]


def _is_money(text: str, match: re.Match[str]) -> bool:
    """Whether the number `match` found in `text` is written with a currency beside it."""
    before, after = text[max(0, match.start() - 4) : match.start()], text[match.end() :][:4]
    return bool(_CURRENCY_BEFORE.search(before) or _CURRENCY_AFTER.search(after))


def money_values(text: str) -> list[float]:
    """Every value a number written with a currency in `text` may mean (€ 7,50 → 7.5)."""
    return [
        value
        for match in NUMBER.finditer(text)
        if _is_money(text, match)
        for value, _ in _readings(match.group(1))
    ]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def table_money(text: str, *, is_csv: bool = False) -> list[float]:
    """Values in the columns of `text`'s tables whose header names a currency ("Price (USD)").

    Markdown tables (a header row, then a rule), and with `is_csv` the text as CSV (its first
    line the header).
    """
    found: list[float] = []
    lines = text.splitlines()
    for index, line in enumerate(lines[:-1]):
        if not line.lstrip().startswith("|") or not _MD_RULE.match(lines[index + 1].strip()):
            continue
        paid = [i for i, h in enumerate(_cells(line)) if _CURRENCY.search(h)]
        for row in itertools.takewhile(lambda r: r.lstrip().startswith("|"), lines[index + 2 :]):
            cells = _cells(row)
            found += [v for i in paid if i < len(cells) for v in values(cells[i])]
    if is_csv and lines:
        rows = list(csv.reader(lines))
        paid = [i for i, h in enumerate(rows[0]) if _CURRENCY.search(h)]
        found += [v for r in rows[1:] for i in paid if i < len(r) for v in values(r[i])]
    return found


def _readings(raw: str) -> list[tuple[float, int]]:
    """(value, decimals written) for each way `raw` can be read."""
    plain = re.sub(r"[\u202f\u00a0' ]", "", raw)
    if "," in plain and "." in plain:
        # Whichever comes last is the decimal mark.
        if plain.rfind(",") > plain.rfind("."):
            plain = plain.replace(".", "").replace(",", ".")
        else:
            plain = plain.replace(",", "")
        return [(float(plain), len(plain.split(".")[1]))]
    if "," in plain:
        readings = [(float(plain.replace(",", "")), 0)]
        if plain.count(",") == 1:  # or a decimal comma
            readings.append((float(plain.replace(",", ".")), len(plain.split(",")[1])))
        return readings
    return [(float(plain), len(plain.split(".")[1]) if "." in plain else 0)]


def material(
    question: str, analysis: Analysis, findings: Sequence[Findings], files: Iterable[str] = ()
) -> Material:
    """The material an answer is checked against (`files`: the texts of saved tables/outputs)."""
    files = list(files)
    parts = [
        *analysis.highlights,
        analysis.comparison_markdown,
        *(w.message for w in analysis.errors),
    ]
    pages: set[str] = set()
    for finding in findings:
        parts += [finding.site_name, finding.summary, *(t.caption for t in finding.tables)]
        parts += [c for t in finding.tables for c in t.columns]
        parts += [fact.text for fact in finding.key_facts]
        pages.update(_norm_url(u) for u in finding.pages_visited)
        pages.update(_norm_url(fact.source_url) for fact in finding.key_facts)
        pages.add(_norm_url(finding.site))
    parts.extend(files)
    text = "\n".join(p for p in parts if p)
    numbers = values(text)
    numbers += [float(len(findings)), float(sum(len(f.pages_visited) for f in findings))]
    numbers += values(question)
    words = {w.lower() for w in _WORD.findall(text + "\n" + question)}
    money = money_values(text) + table_money(text) + money_values(question)
    for file_text in files:
        money += table_money(file_text, is_csv=True)
    return Material(text=text, numbers=numbers, words=words, pages=pages, money=money)


def read_files(analysis: Analysis, findings: Sequence[Findings], run_dir: Path) -> list[str]:
    """The texts of the tables the subagents saved and the analysis's outputs (bounded)."""
    paths = [t.artifact.path for f in findings for t in f.tables]
    paths += [o.path for o in analysis.outputs if o.media_type in ("text/csv", "application/json")]
    texts = []
    for raw in paths:
        path = Path(raw) if Path(raw).is_absolute() else run_dir / raw
        try:
            with path.open("rb") as handle:
                texts.append(handle.read(FILE_MAX_BYTES).decode("utf-8", "replace"))
        except OSError:
            continue
    return texts


def _norm_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


def _number_found(raw: str, held: Sequence[float]) -> bool:
    for value, decimals in _readings(raw):
        slack = 0.5 * 10**-decimals + 1e-9  # rounding to the digits written
        for known in held:
            # As held, or with a kilo prefix: 0.5 kWh for 500 Wh, 1,200 m for 1.2 km.
            for scaled in (known, known * 1000, known / 1000):
                if abs(value - scaled) <= slack or math.isclose(value, scaled, rel_tol=_REL_TOL):
                    return True
    return False


def unfounded(bullet: str, held: Material) -> list[str]:
    """What in `bullet` the material does not hold: numbers, name words and links."""
    missing: list[str] = []
    links = [m.group(1) for m in _LINK_MD.finditer(bullet)]
    links += [m.group(0) for m in _URL.finditer(bullet)]
    for link in dict.fromkeys(links):
        if _norm_url(link.rstrip(".,;:!?")) not in held.pages:
            missing.append(link)
    prose = _URL.sub(" ", _LINK_MD.sub("]", bullet))
    for match in NUMBER.finditer(prose):
        # An amount of money must be one the run found as money, not any number it holds: "€ 5"
        # is not grounded by "5 TB".
        known = held.money if _is_money(prose, match) else held.numbers
        if not _number_found(match.group(1), known):
            missing.append(match.group(1))
    for match in _NAME_WORD.finditer(prose):
        word = match.group(1)
        parts = [p.lower() for p in _WORD.findall(word)]
        if all(p in COMMON_WORDS or p in held.words or p.isdigit() for p in parts):
            continue
        missing.append(word)
    return list(dict.fromkeys(missing))


def ground(bullets: Sequence[str], held: Material) -> Verdict:
    """Keep the bullets whose every number, name and link the material holds."""
    verdict = Verdict()
    for bullet in bullets:
        missing = unfounded(bullet, held)
        if missing:
            verdict.dropped.append((bullet, missing))
        else:
            verdict.kept.append(bullet)
    return verdict


def notes_for(verdict: Verdict, label: str) -> list[str]:
    """One 'What failed' line per dropped bullet, naming what no finding or analysis held."""
    return [
        f"report writer (ungrounded): dropped a sentence by {label} stating what no finding or "
        f"analysis holds ({', '.join(missing[:6])}): {bullet[:200]!r}"
        for bullet, missing in verdict.dropped
    ]


def grounded_answer(
    bullets: Sequence[str],
    *,
    question: str,
    analysis: Analysis,
    findings: Sequence[Findings],
    run_dir: Path,
    label: str,
) -> tuple[list[str] | None, str, list[str]]:
    """The model's bullets as the report may print them: (bullets or None, writer, notes).

    None means nothing grounded was left: the report uses its templated answer and says so.
    Reads saved tables from disk: call it off the event loop.
    """
    held = material(question, analysis, findings, read_files(analysis, findings, run_dir))
    verdict = ground(bullets, held)
    notes = notes_for(verdict, label)
    if verdict.kept:
        return verdict.kept, label, notes
    notes.append(
        f"report writer (ungrounded): nothing {label} wrote was grounded in the findings or the "
        "analysis; the short answer is the templated one"
    )
    return None, f"templated (fallback: {label}'s answer was not grounded)", notes
