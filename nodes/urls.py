"""One answer to "are these two URLs the same page?" for every place that asks it."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def page_identity(url: str) -> str:
    """A URL's page, comparable across spellings.

    Scheme and host in any case, the default port or none, the path without its trailing slash,
    the query; no fragment. Text that does not parse as a URL (a bad port, say) is its own
    identity.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    except ValueError:
        return text
    if port == DEFAULT_PORTS.get(scheme):
        port = None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/") or "/", parts.query, ""))
