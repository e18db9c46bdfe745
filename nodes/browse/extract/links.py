"""Same-site links worth following, ranked by how their words meet the goal."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

from nodes.browse.extract.dom import WS
from nodes.browse.extract.sentences import content_stems
from nodes.urls import DEFAULT_PORTS, page_identity


@dataclass
class Link:
    """A same-site link worth following, with its relevance to the goal."""

    url: str
    text: str
    score: float


_DOWNLOAD = re.compile(
    r"\.(?:pdf|zip|gz|tgz|bz2|xz|rar|7z|exe|dmg|pkg|msi|deb|rpm|apk|iso|csv|xlsx?|docx?|"
    r"pptx?|mp[34]|mov|avi|webm|png|jpe?g|gif|svg|webp|ico)$",
    re.IGNORECASE,
)
_AVOID_PATH = re.compile(
    r"(?:^|[^a-z])(?:log-?in|log-?out|sign-?in|sign-?up|sign-?out|register|auth|oauth|sso|"
    r"account|my-?account|password|cart|basket|checkout|privacy|terms|tos|legal|cookies?|"
    r"gdpr|imprint|impressum|unsubscribe|subscribe|wp-admin|admin)(?:[^a-z]|$)",
    re.IGNORECASE,
)


def _site(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


def _followable(href: str, base_url: str) -> str | None:
    """The absolute URL of ``href`` when it is a same-site page worth visiting, else None."""
    href = href.strip()
    if not href or href.startswith("#") or re.match(r"(?i)(?:mailto|javascript|tel|data):", href):
        return None
    try:
        absolute = urljoin(base_url, href)
        parts = urlsplit(absolute)
        same_site = _site(absolute) == _site(base_url)
    except ValueError:  # malformed ports or IPv6 literals in hand-written hrefs
        return None
    if parts.scheme not in ("http", "https") or not same_site:
        return None
    if _DOWNLOAD.search(parts.path) or _AVOID_PATH.search(f"{parts.path}?{parts.query}"):
        return None
    return urldefrag(absolute).url


def rank_links(
    links: list[tuple[str, str]],
    *,
    base_url: str,
    goal: str,
    visited: set[str],
    limit: int,
) -> list[Link]:
    """Same-site links ranked by goal overlap of anchor text and path, best first, ≤ ``limit``.

    Each link keeps its URL as the page spells it (no fragment): "/plans/" is not sent to
    "/plans" to be redirected back, a round trip to the server for nothing.
    """
    goal_stems = content_stems(goal)
    seen = {page_identity(u) for u in visited} | {page_identity(base_url)}
    best: dict[str, tuple[int, Link]] = {}
    for order, (href, text) in enumerate(links):
        absolute = _followable(href, base_url)
        if absolute is None or (key := page_identity(absolute)) in seen:
            continue
        score = _link_score(key, text, goal_stems)
        if score > 0 and (key not in best or score > best[key][1].score):
            best[key] = (order, Link(url=absolute, text=WS.sub(" ", text).strip(), score=score))
    ranked = sorted(best.values(), key=lambda t: (-t[1].score, t[0]))
    return [link for _, link in ranked[: max(limit, 0)]]


def _link_score(url: str, text: str, goal_stems: set[str]) -> float:
    """Anchor words count fully, path words half; deep paths are nudged down slightly."""
    path = urlsplit(url).path
    anchor = len(goal_stems & content_stems(text))
    in_path = len(goal_stems & content_stems(re.sub(r"[^A-Za-z0-9]+", " ", path)))
    if anchor + in_path == 0:
        return 0.0
    depth = path.strip("/").count("/")
    return round(anchor + 0.5 * in_path - 0.05 * depth, 4)
