"""The name of the site a subagent read: what its pages declare, share or end their titles with.

In order: the name the pages declare (``og:site_name``, ``application-name``, a schema.org
``WebSite`` or ``Organization`` in JSON-LD); the title segment repeated across the site's
pages ("Pricing — Acme", "Acme — home"); for a single page, the title segment that names the
host, else the segment after the last separator when it reads like a brand ("Battery Guide
2026 — Best E-bike Batteries Compared | VoltWay Blog": "VoltWay Blog"), else the first one
("Quarry Storage — files for teams"); else the host. A brand is short, capitalised word by
word and not a page's word ("Home", "Page 2"). A whole title ("Battery Guide 2026") is never
a site's name.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from nodes.browse.extract.dom import WS, parse_html

MAX_NAME_CHARS = 60
_TITLE_SEPARATORS = re.compile(r"\s+[|·—–:-]\s+")
_SITE_TYPES = (
    "WebSite",
    "Organization",
    "Corporation",
    "OnlineStore",
    "Store",
    "NewsMediaOrganization",
)
# Segments that name a page or a section, not a site ("Home", "Blog", "Page 2").
_GENERIC_WORDS = (
    "home homepage page blog news shop store pricing plans products product index welcome "
    "official site website online docs documentation help support about contact login sign in "
    "search results category categories article articles all the and of"
)
_GENERIC = frozenset(_GENERIC_WORDS.split())
_CONNECTOR_WORDS = "of and the for on by at in & de la le du der die das von y e et"
_CONNECTORS = frozenset(_CONNECTOR_WORDS.split())
_MAX_BRAND_WORDS = 4
_MAX_BRAND_CHARS = 40


def declared_site_name(html: str) -> str:
    """The name a page declares for its site ("" when it declares none).

    ``og:site_name`` first, then ``application-name``, then the ``name`` of a top-level
    schema.org ``WebSite`` (or ``Organization``) in the page's JSON-LD.
    """
    root = parse_html(html)
    if root is None:
        return ""
    for attr, value in (("property", "og:site_name"), ("name", "application-name")):
        for meta in root.iter("meta"):
            if (meta.get(attr) or "").strip().lower() == value:
                name = _clean(meta.get("content") or "")
                if name:
                    return name
    found: list[tuple[int, str]] = []
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        try:
            data = json.loads(script.text_content())
        except ValueError:
            continue  # a broken block: the page's other blocks still count
        for item in _top_level(data):
            types = item.get("@type")
            types = types if isinstance(types, list) else [types]
            rank = min((_SITE_TYPES.index(t) for t in types if t in _SITE_TYPES), default=-1)
            name = _clean(item.get("name")) if isinstance(item.get("name"), str) else ""
            if rank >= 0 and name:
                found.append((rank, name))
    return min(found)[1] if found else ""


def _top_level(data: Any) -> Iterator[dict[str, Any]]:
    """The items of a JSON-LD block: itself, its list entries or its ``@graph`` (not nested)."""
    items = data if isinstance(data, list) else [data]
    for item in items:
        if isinstance(item, dict):
            graph = item.get("@graph")
            if isinstance(graph, list):
                yield from (g for g in graph if isinstance(g, dict))
            else:
                yield item


def _clean(text: Any) -> str:
    name = WS.sub(" ", str(text)).strip()
    return name if len(name) <= MAX_NAME_CHARS else ""


def _segments(title: str) -> list[str]:
    return [part.strip() for part in _TITLE_SEPARATORS.split(title) if part.strip()]


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _names_host(segment: str, url: str) -> bool:
    """Whether a segment spells the host's name ("VoltWay Blog" on voltway.example)."""
    labels = (urlsplit(url).hostname or "").lower().removeprefix("www.").split(".")
    host = labels[0] if labels else ""
    letters = re.sub(r"[^a-z0-9]", "", segment.lower())
    return len(host) >= 3 and not host.isdigit() and (host in letters or letters == host)


def _brand_like(segment: str) -> bool:
    """Short, worded like a name, not a page or section word ("Home", "Page 2")."""
    words = segment.split()
    if not words or len(words) > _MAX_BRAND_WORDS or len(segment) > _MAX_BRAND_CHARS:
        return False
    if re.search(r"\d{3,}|\d$", segment) or not re.search(r"[^\W\d_]", segment):
        return False
    # Names are capitalised word by word ("Quarry Storage", "VoltWay"); a tagline is not.
    if any(w[0].islower() and w.lower() not in _CONNECTORS for w in words):
        return False
    return not {w.lower().strip(".,!&") for w in words} <= _GENERIC


def site_name(titles: list[str], url: str, declared: Iterable[str] = ()) -> str:
    """The site's own name from what its pages declare and their titles; else the host."""
    names = Counter(name for name in declared if name)
    if names:
        return names.most_common(1)[0][0]
    segments = [_segments(title) for title in titles if title.strip()]
    counts: Counter[str] = Counter()
    for parts in segments:
        counts.update(list(dict.fromkeys(parts)))
    shared = [part for part, n in counts.items() if n >= 2 and len(part) <= MAX_NAME_CHARS]
    if shared:
        return max(shared, key=lambda part: counts[part])
    for parts in segments:
        named = [part for part in parts if _names_host(part, url) and _brand_like(part)]
        if named:
            return named[-1]
        # The brand ends a page's title ("Guide — Acme") or starts a home page's ("Acme — tagline").
        brands = [part for part in (parts[-1], parts[0]) if _brand_like(part)]
        if len(parts) >= 2 and brands:
            return brands[0]
    return _host(url)
