"""Page text made inert for the report: escaped markdown, checked links, model prose split.

Everything a page wrote (summaries, facts, table cells, site names, error messages) reaches the
report as text, never as markup: in markdown every character that could start a link, an
image, an HTML tag, emphasis or code is backslash-escaped, and so are the places where
GitHub-flavoured markdown would make a link by itself (`https://…`, `www.…`, `name@host`).
HTML needs no help here: its templates autoescape. The only links a report makes are to the
run's own sources, the pages its subagents read (`link_target`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

# Inline markdown that page text must not form: links and images ([ ] and the ! and ( ) they
# need), raw HTML and autolinks (< >), entities (&), emphasis (* _ ~), code (`), tables (|).
_INLINE = re.compile(r"([\\`*\[\]<>&|~#])")
# An underscore between two letters or digits opens no emphasis (CommonMark): left as it is.
_UNDERSCORE = re.compile(r"_")
# GitHub's extended autolinks: a scheme's "://", a "www." host, and e-mail addresses.
_SCHEME = re.compile(r"(?<=[A-Za-z0-9]):(?=//)")
_WWW = re.compile(r"(?i)(?<![A-Za-z0-9])(www)\.")
_AT = re.compile(r"@")
# What makes a line a heading, quote, list item or rule when it starts with it.
_LINE_START = re.compile(r"^([>+=-]|\d+(?=[.)]))")

_LINK = re.compile(r"\[([^\[\]\n]{1,300})\]\(\s*<?([^()\s<>]{1,2000})>?\s*\)")
_SAFE_SCHEMES = ("http", "https")
_MAX_URL_CHARS = 2_000


def md_text(value: object) -> str:
    """`value` as markdown that renders as exactly its text, within a line.

    Whitespace (newlines included) collapses to single spaces, so page text can start no
    block of its own; markdown syntax and autolinks are escaped.
    """
    text = " ".join(str(value).split())
    text = _INLINE.sub(r"\\\1", text)
    text = _UNDERSCORE.sub(_underscore, text)
    text = _SCHEME.sub(r"\\:", text)
    text = _WWW.sub(r"\1\\.", text)
    return _AT.sub(r"\\@", text)


def _underscore(match: re.Match[str]) -> str:
    text, at = match.string, match.start()
    inside = 0 < at < len(text) - 1 and text[at - 1].isalnum() and text[at + 1].isalnum()
    return "_" if inside else "\\_"


def md_block(value: object) -> str:
    """`md_text` for text that starts a line: no list, quote or rule marker either."""
    text = md_text(value)
    match = _LINE_START.match(text)
    if match is None:
        return text
    if match.group(1)[0].isdigit():  # "1." or "1)": escape the punctuation after the number
        end = match.end()
        return f"{text[:end]}\\{text[end:]}"
    return f"\\{text}"


def link_target(url: str, allowed: Collection[str]) -> str | None:
    """`url` if a report may link it: an http(s) URL of the run's own sources, else None."""
    if not url or len(url) > _MAX_URL_CHARS or url not in allowed:
        return None
    if any(ch.isspace() or ch in "<>\"'`\\" or ord(ch) < 0x20 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in _SAFE_SCHEMES or not parts.netloc:
        return None
    return url


def md_autolink(url: str, allowed: Collection[str]) -> str:
    """A source URL as a markdown autolink, or as escaped text when it may not be linked."""
    target = link_target(url, allowed)
    return f"<{target}>" if target else md_text(url)


def md_link(label: str, url: str, allowed: Collection[str]) -> str:
    """`[label](url)` with the label escaped, or escaped text when `url` may not be linked."""
    target = link_target(url, allowed)
    if target is None:
        return f"{md_text(label)} ({md_text(url)})"
    return f"[{md_text(label)}]({target})"


@dataclass(frozen=True)
class Segment:
    """A piece of prose: plain text, or a link the report may keep (`url` set)."""

    text: str
    url: str = ""


def segments(prose: str, allowed: Collection[str]) -> Iterator[Segment]:
    """Split model-written markdown into text and links to the run's sources.

    A model writes the short answer after reading page text, so its markdown is page-derived:
    only `[label](url)` links whose URL is one of `allowed` stay links; every other character,
    other links and images included, is text.
    """
    at = 0
    for match in _LINK.finditer(prose):
        url = link_target(match.group(2), allowed)
        image = match.start() > 0 and prose[match.start() - 1] == "!"
        if url is None or image:
            continue
        if match.start() > at:
            yield Segment(prose[at : match.start()])
        yield Segment(match.group(1), url)
        at = match.end()
    if at < len(prose):
        yield Segment(prose[at:])


def md_prose(prose: str, allowed: Collection[str]) -> str:
    """Model-written markdown with its text escaped and only links to sources kept."""
    parts: list[str] = []
    for seg in segments(prose, allowed):
        text = " ".join(seg.text.split())
        # Keep the spaces around links that `md_text` would trim.
        lead = " " if seg.text[:1].isspace() and parts else ""
        tail = " " if seg.text[-1:].isspace() else ""
        body = f"[{md_text(text)}]({seg.url})" if seg.url else md_text(text)
        parts.append(f"{lead}{body}{tail}")
    return "".join(parts).strip()


def coded(text: str) -> list[tuple[str, bool]]:
    """`text` split at its backquotes into (text, is_code) parts; an unpaired one is text.

    Reports name rules, tiers and models in backquotes; the parts between them are shown as
    code (inert in both formats), everything else as text.
    """
    pieces = text.split("`")
    if len(pieces) % 2 == 0:  # an odd number of backquotes: the last one is plain text
        pieces[-2:] = [f"{pieces[-2]}`{pieces[-1]}"]
    return [(piece, n % 2 == 1) for n, piece in enumerate(pieces) if piece]


def md_coded(text: str) -> str:
    """`text` with its backquoted parts as code spans and the rest escaped."""
    out = []
    for piece, code in coded(text):
        if code:
            out.append(f"`{' '.join(piece.split())}`")
        else:
            lead = " " if piece[:1].isspace() and out else ""
            tail = " " if piece[-1:].isspace() else ""
            out.append(f"{lead}{md_text(piece)}{tail}")
    return "".join(out).strip()
