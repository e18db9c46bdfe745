"""Records from schema.org data on a page: JSON-LD, microdata and RDFa, read with extruct.

`Product` items (on their own, in an `ItemList`, in an `@graph` or nested anywhere) become one
row each: the name, the brand, the price of its `Offer` (or the lowest and highest price of an
`AggregateOffer`), its `PropertyValue`s and measured properties (weight, width, ...) with the
units the page gives. Values are the page's own, joined with their units or currency codes.
A broken JSON-LD block is skipped; the page's other blocks still count.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import extruct
from extruct.jsonld import JsonLdExtractor

from nodes.browse.extract.dom import parse_html
from nodes.browse.extract.records import NAME, RecordTable

log = logging.getLogger(__name__)

_SCHEMA = re.compile(r"^https?://schema\.org/")
_MEASURES = ("weight", "width", "height", "depth")
# UN/CEFACT codes schema.org's unitCode uses, for the units a product page commonly states.
_UNIT_CODES = {
    "KGM": "kg",
    "GRM": "g",
    "LBR": "lb",
    "MTR": "m",
    "CMT": "cm",
    "MMT": "mm",
    "INH": "in",
    "KMT": "km",
    "WTT": "W",
    "KWT": "kW",
    "WHR": "Wh",
    "KWH": "kWh",
    "HUR": "h",
    "MIN": "min",
    "LTR": "l",
    "E34": "GB",
    "E35": "TB",
    "4L": "MB",
    "GB": "GB",
    "TB": "TB",
    "MB": "MB",
}


def structured_records(html: str, base_url: str = "") -> list[RecordTable]:
    """Products in the page's JSON-LD, microdata and RDFa, one record table per syntax."""
    tables: list[RecordTable] = []
    for origin, items in _items(html, base_url):
        rows = [row for item in items for row in _products(item)]
        table = _table(rows, origin)
        if table is not None:
            tables.append(table)
    return tables


def _items(html: str, base_url: str) -> Iterator[tuple[str, list[Any]]]:
    """Top-level items per syntax; a syntax the page does not use is not parsed at all."""
    if "ld+json" in html:
        yield "json-ld", _json_ld(html, base_url)
    syntaxes = []
    if re.search(r"\bitemscope\b", html):
        syntaxes.append("microdata")
    if re.search(r"\btypeof\s*=", html):
        syntaxes.append("rdfa")
    if syntaxes:
        try:
            found = extruct.extract(
                html, base_url=base_url or None, syntaxes=syntaxes, uniform=True, errors="log"
            )
        except Exception:  # a page extruct cannot parse has no structured data to read
            log.warning("structured data unreadable on %s", base_url, exc_info=True)
            return
        if found.get("microdata"):
            yield "microdata", found["microdata"]
        if found.get("rdfa"):
            yield "rdfa", _from_rdfa(found["rdfa"])


def _json_ld(html: str, base_url: str) -> list[Any]:
    """Every JSON-LD block's items, each block parsed on its own so one broken block is skipped."""
    root = parse_html(html)
    if root is None:
        return []
    items: list[Any] = []
    extractor = JsonLdExtractor()
    for script in root.xpath("//script[@type='application/ld+json']"):
        try:
            items.extend(extractor.extract_items(script, base_url=base_url))
        except ValueError:
            log.info("skipped a JSON-LD block that is not JSON on %s", base_url)
    return items


def _from_rdfa(nodes: list[dict[str, Any]]) -> list[Any]:
    """RDFa's expanded JSON-LD nodes as plain items: short property names, references resolved."""
    by_id = {node.get("@id"): node for node in nodes if isinstance(node, dict)}

    def plain(node: dict[str, Any], seen: frozenset[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        types = node.get("@type") or []
        out["@type"] = [_SCHEMA.sub("", t) for t in types]
        for key, values in node.items():
            if key.startswith("@") or not _SCHEMA.match(key):
                continue
            converted = [value_of(v, seen) for v in values if isinstance(v, dict)]
            out[_SCHEMA.sub("", key)] = converted[0] if len(converted) == 1 else converted
        return out

    def value_of(value: dict[str, Any], seen: frozenset[str]) -> Any:
        if "@value" in value:
            return value["@value"]
        ref = value.get("@id")
        if isinstance(ref, str) and ref in by_id and ref not in seen:
            return plain(by_id[ref], seen | {ref})
        return ref

    return [plain(n, frozenset({str(n.get("@id"))})) for n in nodes if n.get("@type")]


def _types(item: dict[str, Any]) -> set[str]:
    raw = item.get("@type") or []
    types = raw if isinstance(raw, list) else [raw]
    return {_SCHEMA.sub("", str(t)) for t in types}


def _products(item: Any) -> Iterator[dict[str, str]]:
    """Rows for every Product in ``item``, however deeply it is nested (lists, graphs)."""
    if isinstance(item, list):
        for sub in item:
            yield from _products(sub)
        return
    if not isinstance(item, dict):
        return
    if "Product" in _types(item) or "ProductModel" in _types(item):
        row = _product_row(item)
        if row:
            yield row
        return
    for value in item.values():
        if isinstance(value, (dict, list)):
            yield from _products(value)


def _product_row(item: dict[str, Any]) -> dict[str, str]:
    name = _text(item.get("name"))
    if not name:
        return {}
    row = {NAME: name}
    brand = item.get("brand")
    brand_name = _text(brand.get("name")) if isinstance(brand, dict) else _text(brand)
    if brand_name:
        row["Brand"] = brand_name
    row.update(_offer_cells(item.get("offers")))
    for key in _MEASURES:
        measure = item.get(key)
        if isinstance(measure, dict) and (cell := _quantity(measure)):
            row[key.capitalize()] = cell
    properties = item.get("additionalProperty") or []
    for prop in properties if isinstance(properties, list) else [properties]:
        label = _text(prop.get("name")) if isinstance(prop, dict) else ""
        if label and (cell := _quantity(prop)):
            row.setdefault(label, cell)
    return row


def _offer_cells(offers: Any) -> dict[str, str]:
    """The price of the first priced offer, or an aggregate offer's lowest and highest price."""
    for offer in offers if isinstance(offers, list) else [offers]:
        if not isinstance(offer, dict):
            continue
        currency = _text(offer.get("priceCurrency"))
        if "AggregateOffer" in _types(offer):
            # Shops show an aggregate offer as "from <lowest>": the price column says so too.
            cells = {}
            for key, label, word in (
                ("lowPrice", "Price", "from "),
                ("highPrice", "Highest price", ""),
            ):
                if (amount := _text(offer.get(key))) and _numeric(amount):
                    cells[label] = f"{word}{amount} {currency}".strip()
            if cells:
                return cells
        spec = offer.get("priceSpecification")
        if isinstance(spec, list):
            spec = spec[0] if spec else None
        price = _text(offer.get("price"))
        if not price and isinstance(spec, dict):
            price = _text(spec.get("price"))
            currency = currency or _text(spec.get("priceCurrency"))
        if price and _numeric(price):
            return {"Price": f"{price} {currency}".strip()}
    return {}


def _quantity(value: dict[str, Any]) -> str:
    """A value with its unit: ``unitText`` as written, else the unit a ``unitCode`` names."""
    amount = _text(value.get("value"))
    if not amount:
        return ""
    unit = _text(value.get("unitText"))
    if not unit:
        code = _text(value.get("unitCode")).upper()
        unit = _UNIT_CODES.get(code, "")
    return f"{amount} {unit}".strip()


def _numeric(text: str) -> bool:
    return bool(re.fullmatch(r"\s*\d[\d.,\s]*", text))


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, dict):
        value = value.get("@value", value.get("name", ""))
    if isinstance(value, bool) or value is None:
        return ""
    return re.sub(r"\s+", " ", str(value)).strip()


def _table(rows: list[dict[str, str]], origin: str) -> RecordTable | None:
    """Rows as one record table (one row per product name, first seen kept)."""
    unique: dict[str, dict[str, str]] = {}
    for row in rows:
        unique.setdefault(row[NAME].casefold(), row)
    if not unique:
        return None
    columns = list(dict.fromkeys(key for row in unique.values() for key in row))
    body = [[row.get(c, "") for c in columns] for row in unique.values()]
    return RecordTable(
        rows=body,
        columns=columns,
        caption=f"Products ({origin} structured data)",
        numeric=any(re.search(r"\d", cell) for r in body for cell in r[1:]),
        origin=origin,
        names=[r[0] for r in body],
    )
