"""Buttons the browser subagent may press: overlay dismissals and pagination controls."""

from __future__ import annotations

import re

CONSENT_ACCEPT = re.compile(
    r"""^\s*(?:
        accept(?:\s+(?:all|cookies|all\s+cookies|and\s+close|&\s+close))?
      | i\s+(?:agree|accept|understand)
      | agree(?:\s+(?:and|&)\s+(?:close|continue))?
      | allow(?:\s+all)?(?:\s+cookies)?
      | got\s+it
      | ok(?:ay)?
      | close
      | dismiss
      | no,?\s+thanks
      | not\s+now
      | maybe\s+later
      | reject\s+all
      | [×✕✖╳x]
    )\s*[.!]?\s*\Z""",
    re.IGNORECASE | re.VERBOSE,
)
"""Whole button texts that dismiss a cookie, consent or newsletter overlay."""

NEXT_PAGE = re.compile(
    r"""^\s*(?:
        (?:next(?:\s+page)?|load\s+more|show\s+more|more\s+results|see\s+more|older\s+posts)
        (?:\s*[›»→>]{1,2})?
      | [›»→>]{1,2}
    )\s*\Z""",
    re.IGNORECASE | re.VERBOSE,
)
"""Whole button or link texts of pagination controls ("Next ›", "Load more", "»")."""
