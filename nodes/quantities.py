"""Numbers that carry a unit, currency, percent sign or per-period, as they are written.

Shared by the roles that read them out of text: the browser's extraction and remember.
"""

from __future__ import annotations

import re

WS = re.compile(r"\s+")

_CUR_SYMBOL = r"(?:(?<![A-Za-z])(?:US|CA|AU|NZ|HK|[ACRS]))?\$|[€£¥₹₩₽₺₪₫฿₴₦]"
_CUR_CODE = (
    r"\b(?:USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|INR|CNY|RMB|SEK|NOK|DKK|PLN|BRL|MXN|SGD|HKD|ZAR|"
    r"KRW|CZK|HUF|TRY)\b"
)
_NUM = r"\d{1,3}(?:[,.\u00a0\u202f]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?"
_MAG = r"(?:k|m|mn|bn|thousand|million|billion|trillion)(?![a-z])"
_UNIT = (
    r"(?:%|percent\b|per\s?cent\b|°[CF]\b|"
    r"(?:[kmgtpe]i?b|[kmg]bps|bytes?|(?:kilo|mega|giga|tera|peta)bytes?|"
    r"ms|secs?|seconds?|mins?|minutes?|hrs?|hours?|days?|weeks?|months?|years?|yrs?|"
    r"[kmg]hz|kwh|kw|watts?|kg|lbs?|oz|km|cm|mm|miles?|px|dpi|fps|x|"
    r"users?|seats?|members?|projects?|sites?|domains?|devices?|requests?|calls?|credits?|"
    r"emails?|messages?|contacts?|licen[cs]es?|accounts?|workspaces?|repos?|repositories|"
    r"builds?|gpus?|v?cpus?|cores?|nodes?|instances?|queries|tokens?|pages?|files?|"
    r"(?:usd|eur|gbp|chf|cad|aud|jpy|inr|sek|nok|dkk|pln)|€|£|¥)(?![a-z]))"
)
_PERIOD_WORD = (
    r"(?:mo|mos|mth|months?|yr|years?|annum|wk|weeks?|days?|hr|hours?|min|minutes?|"
    r"users?|seats?|members?|person|licen[cs]es?|[kmgt]i?b|requests?|devices?|sites?|"
    r"projects?|hosts?|nodes?|instances?|cores?|v?cpus?|units?)(?![a-z])"
)
_PERIOD = rf"(?:\s?(?:/|\bper\b|\ba\b|\ban\b)\s?{_PERIOD_WORD}|\s(?:monthly|yearly|annually|weekly|daily)\b)"

NUMBER_WITH_UNIT = re.compile(
    rf"""
    (?:(?:{_CUR_SYMBOL}|{_CUR_CODE})\s?[-−]?(?:{_NUM})(?:\s?{_MAG})?(?:\s?{_UNIT})?
      |(?<![\w.,])[-−]?(?:{_NUM})(?:\s?{_MAG}(?:\s?{_UNIT})?|\s?{_UNIT}))
    {_PERIOD}{{0,3}}
    """,
    re.IGNORECASE | re.VERBOSE,
)
"""A number together with its currency, unit, percent sign and per-period, as one span."""


def quantities(text: str) -> list[str]:
    """Numbers in ``text`` that carry a unit or currency, each with that unit, in order."""
    return [WS.sub(" ", m.group(0)).strip() for m in NUMBER_WITH_UNIT.finditer(text)]
