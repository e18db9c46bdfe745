"""Sentences of a page's text, ranked by their relevance to the goal, and goal-led summaries."""

from __future__ import annotations

import re

from nodes.browse.extract.dom import WS
from nodes.quantities import quantities

_ABBREVIATIONS = frozenset(
    {
        "e.g",
        "i.e",
        "etc",
        "vs",
        "approx",
        "inc",
        "ltd",
        "co",
        "corp",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "st",
        "no",
        "fig",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "est",
        "u.s",
        "u.k",
        "cf",
        "al",
        "incl",
        "excl",
    }
)
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9$€£¥])")
_BULLET = re.compile(r"^\s*(?:[-*•·▪◦‣–—>]|\d{1,2}[.)])\s+")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: every line (bullet, heading) stands alone, then split at stops.

    A stop ends a sentence only when followed by space and a capital, digit or currency, and
    not after a known abbreviation or a single-letter initial, so "9.99" and "e.g. X" hold.
    """
    out: list[str] = []
    for line in text.splitlines():
        line = _BULLET.sub("", WS.sub(" ", line)).strip()
        if line:
            out.extend(_split_line(line))
    return out


def _split_line(line: str) -> list[str]:
    """Split one line at sentence stops that are not abbreviations."""
    parts: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(line):
        words = line[start : m.start()].split()
        last = words[-1].lower().rstrip(".") if words else ""
        if last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        parts.append(line[start : m.end()].strip())
        start = m.end()
    parts.append(line[start:].strip())
    return [p for p in parts if p]


_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        """a about above after all also an and any are as at be been but by can could do does
        each for from get got had has have how i if in into is it its just like may me more most
        my no not of on or our out over per so such than that the their them then there these
        they this to up us use via was we what when where which while who why will with would
        you your compare comparison find list show tell give versus vs between across""",
    )
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ed", "es", "ly", "age", "s", "e")
# A handful of generic equivalences so goal words meet the page's wording.
_SYNONYMS = {"cost": "pric", "fee": "pric", "charg": "pric", "capacity": "stor", "space": "stor"}
_BOILERPLATE = re.compile(
    r"\bcookies?\b|\bsubscribe\b|\bunsubscribe\b|all rights reserved|\bnewsletter\b|"
    r"sign up for|privacy policy|terms of (?:service|use)|©|\bcopyright\b|follow us|"
    r"skip to (?:main )?content|enable javascript|accept all|\bsponsored\b|"
    # Comment prompts, share and follow boxes, disclosures, page furniture.
    r"hear what you think|have your say|leave a (?:comment|reply)|join the (?:conversation|"
    r"discussion)|(?:sign|log) in to (?:comment|reply)|what are your thoughts|"
    r"\bshare (?:this|on|via)\b|follow the topics|affiliate links?|was this page helpful|"
    r"edit (?:this page|on github)|\b(?:min|minute) read\b|read more\s*:|advertisement",
    re.IGNORECASE,
)


def _stem(word: str) -> str:
    """Light suffix stripping so price~prices~pricing~priced and store~storage agree."""
    w = word.lower()
    if len(w) > 4 and w.endswith(("ies", "ied")):
        return _SYNONYMS.get(w[:-3] + "y", w[:-3] + "y")
    for suffix in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            if not (suffix == "s" and w.endswith("ss")):  # class, business
                w = w[: -len(suffix)]
            break
    return _SYNONYMS.get(w, w)


def content_stems(text: str) -> set[str]:
    """Stems of the content words of ``text`` (stop words and single letters dropped)."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {_stem(w) for w in words if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())}


def _scored(text: str, goal: str) -> list[tuple[int, str, float]]:
    """(position, sentence, score) for every non-boilerplate sentence with a positive score."""
    goal_stems = content_stems(goal)
    allowed = _BOILERPLATE.search(goal)
    content = text if allowed else "\n".join(main_lines(text))
    scored: list[tuple[int, str, float]] = []
    seen: set[str] = set()
    for i, sentence in enumerate(split_sentences(content)):
        if sentence in seen or (_BOILERPLATE.search(sentence) and not allowed):
            continue
        seen.add(sentence)
        score = _sentence_score(sentence, goal_stems)
        if score > 0:
            scored.append((i, sentence, score))
    return scored


def _sentence_score(sentence: str, goal_stems: set[str]) -> float:
    """Goal-word overlap plus a bonus for carried quantities, minus a little for rambling."""
    stems = content_stems(sentence)
    overlap = len(goal_stems & stems)
    found = quantities(sentence)
    if overlap == 0 and not found:
        return 0.0
    if len(sentence.split()) < 3 and not found:
        return 0.0  # a bare heading restates the goal without carrying a fact
    bonus = 0.5 * min(len(found), 3)
    rambling = 0.02 * max(0, len(sentence.split()) - 40)
    return round(overlap + bonus - rambling, 4)


def rank_sentences(text: str, goal: str, *, k: int = 8) -> list[tuple[str, float]]:
    """The ``k`` sentences most relevant to ``goal``, best first; ties keep document order."""
    scored = sorted(_scored(text, goal), key=lambda t: (-t[2], t[0]))
    return [(sentence, score) for _, sentence, score in scored[:k]]


LEAD_PARAGRAPHS = 2
# Goal words that ask for the page as a whole, not for something on it.
_GENERIC_GOAL = frozenset(
    _stem(w)
    for w in re.findall(
        r"\w+",
        """main article page content contents summary summarise summarize story post text
        information info detail details overview key point points topic read site website
        document documentation doc docs blog news subject gist general describe explain say
        says said whole entire full body piece""",
    )
)
_PROSE_END = re.compile(r"[.!?…:;][\"'”’)\]]*$")
_DATELINE = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\b|\b\d{1,4}\b|"
    r"\b(?:by|words|photographs?|photos?|published|updated|posted|written|on|at|am|pm|bst|"
    r"gmt|utc|ago|hours?|minutes?|min|read|mon|tue|wed|thu|fri|sat|sun)[a-z]*\b|[,:/|·•–—-]",
    re.IGNORECASE,
)


def is_byline(line: str) -> bool:
    """A line that only names people and dates ("By Ana Ruiz · 3 Mar 2026 · 5 min read")."""
    words = line.split()
    if not words or len(words) > 14 or _PROSE_END.search(line):
        return False
    rest = _DATELINE.sub(" ", line).split()
    if len(rest) == len(words):
        return False  # neither a date nor a credit word: a heading, a label
    return all(w[:1].isupper() or not w[:1].isalpha() for w in rest)


def main_lines(text: str) -> list[str]:
    """The lines of ``text`` that are content: page chrome (prompts, bylines, boxes) left out."""
    lines = (WS.sub(" ", line).strip() for line in text.splitlines())
    return [ln for ln in lines if ln and not _BOILERPLATE.search(ln) and not is_byline(ln)]


def _is_prose(line: str) -> bool:
    """Reads as sentences: at least eight words ending in a stop."""
    return len(line.split()) >= 8 and bool(_PROSE_END.search(line))


def lead(text: str, *, paragraphs: int | None = None) -> list[str]:
    """Sentences of the lead: the content's first prose paragraphs, in order, chrome left out.

    Headings, labels, bullets of a few words and bylines are not the lead. ``paragraphs``
    caps how many paragraphs it takes (all when None).
    """
    prose = [line for line in main_lines(text) if _is_prose(line)][:paragraphs]
    return [s for line in prose for s in split_sentences(line) if not _BOILERPLATE.search(s)]


def summarise(text: str, goal: str, *, max_chars: int = 1500) -> str:
    """A summary of the main content: its lead, then the sentences that answer ``goal``.

    When ``goal`` only asks for the page as a whole ("the main article") or no sentence
    shares a word with it, the lead alone fills the bound. Otherwise the lead is the first
    `LEAD_PARAGRAPHS` paragraphs within two fifths of it, and the best goal sentences (prose
    or quantities sharing the goal's words) follow in document order. Chrome never counts:
    boilerplate sentences and bylines are dropped before anything is chosen. At most
    ``max_chars`` long.
    """
    goal_stems = content_stems(goal) - _GENERIC_GOAL
    answers = [
        (pos, sentence, score)
        for pos, sentence, score in _scored(text, goal)
        if goal_stems & content_stems(sentence) and (_is_prose(sentence) or quantities(sentence))
    ]
    opening = lead(text, paragraphs=None if not answers else LEAD_PARAGRAPHS)
    budget = max_chars if not answers or not opening else max_chars * 2 // 5
    chosen: list[str] = []
    used = 0
    for sentence in opening:
        cost = len(sentence) + (1 if chosen else 0)
        if used + cost > budget:
            break
        chosen.append(sentence)
        used += cost
    if not chosen and opening and not answers:
        return _truncate(opening[0], max_chars)
    picked: list[tuple[int, str]] = []
    for pos, sentence, _ in sorted(answers, key=lambda t: (-t[2], t[0])):
        cost = len(sentence) + 1
        if sentence not in chosen and used + cost <= max_chars:
            picked.append((pos, sentence))
            used += cost
    if not chosen and not picked and answers:
        return _truncate(max(answers, key=lambda t: t[2])[1], max_chars)
    return " ".join([*chosen, *(sentence for _, sentence in sorted(picked))])


def _truncate(text: str, max_chars: int) -> str:
    """Cut ``text`` at a word boundary so it fits ``max_chars`` with an ellipsis."""
    if len(text) <= max_chars:
        return text
    cut = text[: max(max_chars - 1, 0)].rsplit(" ", 1)[0]
    return f"{cut}…" if max_chars > 0 else ""
