"""Records from repeated structure: sibling blocks that each carry a name and labelled values.

Product cards, spec lists, definition lists and "label: value" items become one table, one row
per block, columns from the labels, cells verbatim. Detection is generic: siblings of one tag
(or runs that each start at a heading of one level) whose blocks each yield a name and at least
one labelled value, with labels shared across blocks. Chrome, hidden nodes and recommendation
rails ("customers also bought") are skipped; no selectors for a particular page.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import dataclass, field

from lxml.html import HtmlElement

from nodes.browse.extract.dom import WS, block_text, is_chrome, is_hidden, parse_html, visible_len
from nodes.browse.extract.tables import PageTable
from nodes.quantities import NUMBER_WITH_UNIT

NAME = "Name"
"""Header of the name column, the first column of every record table."""

_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "head"})
_STRUCK = ("del", "s", "strike")  # a struck-through price is the old one, not the price
_PAIR = re.compile(r"^([^\W\d][^:.!?]{0,39}?)\s*:\s+(\S.*)$")
_MAX_LABEL_WORDS = 5
_MONEY = re.compile(r"(?:[$€£¥₹]|\b(?:USD|EUR|GBP|CHF|JPY)\b)", re.IGNORECASE)
_RAIL = re.compile(
    r"\b(?:(?:also|frequently)\s+(?:bought|viewed|purchased|like)|you\s+(?:may|might)\s+"
    r"(?:also\s+)?like|recommended|recommendations|similar\s+(?:products|items|models)|"
    r"related\s+(?:products|items)|recently\s+viewed|sponsored|complete\s+the\s+look|"
    r"bought\s+together|accessories\s+for\s+you)\b",
    re.IGNORECASE,
)
_RAIL_WORDS = re.compile(
    r"crosssell|upsell|recommend|alsobought|alsoviewed|similarproducts|recentlyviewed|"
    r"boughttogether|youmayalsolike"
)
_NAME_TOKENS = frozenset({"name", "title", "model", "product"})
_MAX_NAME = 120
_MAX_BLOCK_CHARS = 2000
_PRECEDING_HEADINGS = " | ".join(f"preceding::{h}" for h in _HEADINGS)


@dataclass
class RecordTable(PageTable):
    """A table of records, one row per item: names first, then one column per label."""

    origin: str = "blocks"
    names: list[str] = field(default_factory=list)


@dataclass
class _Record:
    name: str
    values: dict[str, str]  # label (as first shown) -> value, verbatim
    bare: bool  # True when the only values are unlabelled prices


@dataclass
class _Group:
    blocks: list[list[HtmlElement]]
    records: list[_Record]
    columns: list[str]
    depth: int

    @property
    def score(self) -> int:
        return len(self.records) * len(self.columns)


def extract_records(html: str) -> list[RecordTable]:
    """Record tables of a page: one per group of repeated blocks, exact duplicates dropped."""
    root = parse_html(html)
    if root is None:
        return []
    total = visible_len(root)
    candidates: list[_Group] = []
    sizes: dict[HtmlElement, int] = {}
    _measure(root, sizes)
    _walk(root, total, 0, candidates, sizes)
    accepted = [g for g in _without_overlaps(candidates) if not _in_rail(g.blocks[0][0])]
    tables = [_table(g, _caption(g.blocks[0][0], total)) for g in accepted]
    return merge_record_tables([], tables)


def _measure(el: HtmlElement, sizes: dict[HtmlElement, int]) -> int:
    """Record the length of the text under every element (one pass over the tree)."""
    size = len((el.text or "").strip()) if el.tag not in _SKIP_TAGS else 0
    for child in el:
        if isinstance(child, HtmlElement):
            size += _measure(child, sizes)
        size += len((child.tail or "").strip())
    sizes[el] = size
    return size


def _walk(
    el: HtmlElement, total: int, depth: int, out: list[_Group], sizes: dict[HtmlElement, int]
) -> None:
    """Collect the best group under every element outside chrome, hidden nodes and tables."""
    if el.tag in _SKIP_TAGS or el.tag == "table" or is_hidden(el) or is_chrome(el, total):
        return
    best = _best_group(el, depth, sizes)
    if best is not None:
        out.append(best)
    for child in el:
        if isinstance(child, HtmlElement):
            _walk(child, total, depth + 1, out, sizes)


def _excluded(el: HtmlElement, total: int) -> bool:
    """True inside chrome, hidden nodes and tables (a table's rows are read as a table)."""
    for node in [el, *el.iterancestors()]:
        if node.tag in ("table", "tr", "thead", "tbody") or is_hidden(node):
            return True
        if is_chrome(node, total):
            return True
    return False


def _best_group(parent: HtmlElement, depth: int, sizes: dict[HtmlElement, int]) -> _Group | None:
    """The best group of record blocks among ``parent``'s children, if any qualifies."""
    children = [c for c in parent if isinstance(c, HtmlElement) and c.tag not in _SKIP_TAGS]
    if len(children) < 2:
        return None
    options: list[list[list[HtmlElement]]] = []
    by_tag: dict[str, list[HtmlElement]] = {}
    for child in children:
        if not is_hidden(child):
            by_tag.setdefault(str(child.tag), []).append(child)
    options.extend([[c] for c in same] for tag, same in by_tag.items() if tag not in _HEADINGS)
    for level in _HEADINGS:
        runs = _heading_runs(children, level)
        if len(runs) >= 2:
            options.append(runs)
    # An item's block is short: page-wide wrappers are not read as records at all.
    options = [
        [b for b in blocks if sum(sizes.get(el, 0) for el in b) <= _MAX_BLOCK_CHARS]
        for blocks in options
    ]
    groups = [g for blocks in options if (g := _group(blocks, depth)) is not None]
    return max(groups, key=lambda g: g.score, default=None)


def _heading_runs(children: list[HtmlElement], level: str) -> list[list[HtmlElement]]:
    """Blocks that each start at a heading of ``level`` and run to the next one as high."""
    rank = _HEADINGS.index(level)
    runs: list[list[HtmlElement]] = []
    current: list[HtmlElement] | None = None
    for child in children:
        if child.tag in _HEADINGS and _HEADINGS.index(str(child.tag)) <= rank:
            current = [child] if child.tag == level else None
            if current is not None:
                runs.append(current)
        elif current is not None:
            current.append(child)
    return [run for run in runs if len(run) > 1]


def _group(blocks: list[list[HtmlElement]], depth: int) -> _Group | None:
    """Blocks as a group of records when at least two have names and shared labels."""
    if len(blocks) < 2:
        return None
    kept: list[list[HtmlElement]] = []
    records: list[_Record] = []
    for block in blocks:
        record = _record(block)
        if record is not None:
            kept.append(block)
            records.append(record)
    if len(records) < 2 or all(r.bare for r in records):
        return None  # a rail of names with prices only is not a list of specifications
    names = [r.name.casefold() for r in records]
    if len(set(names)) * 5 < len(names) * 4:
        return None  # "Specs", "Specs", ...: sections of one item, not items
    counts = Counter(label.casefold() for r in records for label in r.values)
    shared = {k for k, n in counts.items() if n >= 2 or len(records) <= 3}
    if not any(n >= 2 for n in counts.values()):
        return None
    columns: list[str] = []
    for r in records:
        columns.extend(
            label
            for label in r.values
            if label.casefold() in shared and label.casefold() not in map(str.casefold, columns)
        )
    if not any(_mostly_numbers([r.values.get(c, "") for r in records]) for c in columns):
        return None  # labelled text only (authors, categories): no values to compare
    return _Group(blocks=kept, records=records, columns=columns, depth=depth)


def _mostly_numbers(cells: list[str]) -> bool:
    filled = [c for c in cells if c]
    return bool(filled) and sum(bool(re.search(r"\d", c)) for c in filled) * 2 >= len(filled)


def _record(block: list[HtmlElement]) -> _Record | None:
    """A block's name and labelled values; None when it lacks either."""
    name = _name(block)
    if not name:
        return None
    values: dict[str, str] = {}
    for el in block:
        for label, value in _pairs(el):
            if label.casefold() != name.casefold():
                values.setdefault(label, value)
    bare = False
    if not any(_MONEY.search(v) for v in values.values()):
        price = _bare_price(block, name)
        if price:
            values["Price"] = price
            bare = len(values) == 1
    if not values:
        return None
    return _Record(name=name, values=values, bare=bare)


def _name(block: list[HtmlElement]) -> str:
    """The block's name: its first heading, else an element named like one, else a link."""
    for el in block:
        for path in (
            "descendant-or-self::*[self::h1 or self::h2 or self::h3 or self::h4 or self::h5"
            " or self::h6]",
            "descendant-or-self::*[@itemprop='name']",
        ):
            found = el.xpath(path)
            if found and (text := _clean(found[0])):
                return text
    for el in block:
        for node in el.iter():
            named = isinstance(node, HtmlElement) and _NAME_TOKENS & set(_tokens(node))
            if named and (text := _clean(node)) and not _PAIR.match(text):
                return text
    for el in block:
        for node in el.iter("a", "strong", "b"):
            if (text := _clean(node)) and not _PAIR.match(text) and not _MONEY.search(text):
                return text
    return ""


def _clean(el: HtmlElement) -> str:
    text = WS.sub(" ", el.text_content()).strip()
    return text if re.search(r"[^\W\d_]", text) and len(text) <= _MAX_NAME else ""


def _tokens(el: HtmlElement) -> list[str]:
    raw = f"{el.get('class', '')} {el.get('itemprop', '')}".lower()
    return [t for t in re.split(r"[^a-z0-9]+", raw) if t]


def _pairs(el: HtmlElement) -> list[tuple[str, str]]:
    """Labelled values inside ``el``: definition lists, two-cell rows, pairs, "label: value"."""
    pairs: list[tuple[str, str]] = []
    for dl in el.iter("dl"):
        label = ""
        for item in dl.iter("dt", "dd"):
            text = _line(item)
            if item.tag == "dt":
                label = text.rstrip(":").strip()
            elif label and text:
                pairs.append((label, text))
                label = ""
    for tr in el.iter("tr"):
        cells = tr.xpath("./th | ./td")
        label = _line(cells[0]).rstrip(":").strip() if len(cells) == 2 else ""
        if re.match(r"[^\W\d]", label) and (value := _line(cells[1])):
            pairs.append((label, value))
    for node in el.iter():
        if isinstance(node, HtmlElement) and node.tag not in ("dl", "tr", "table"):
            pair = _two_children(node)
            if pair:
                pairs.append(pair)
    for line in _visible_lines(el):
        match = _PAIR.match(line)
        short = match and len(match.group(1).split()) <= _MAX_LABEL_WORDS
        if match and short and "//" not in match.group(2)[:3]:
            pairs.append((match.group(1).strip(), match.group(2).strip()))
    return pairs


def _two_children(node: HtmlElement) -> tuple[str, str] | None:
    """A label element and a value element side by side with no other text."""
    kids = [k for k in node if isinstance(k, HtmlElement) and k.tag not in _SKIP_TAGS]
    if len(kids) != 2 or (node.text or "").strip() or any((k.tail or "").strip() for k in kids):
        return None
    if any(k.xpath(".//*[self::li or self::p or self::div or self::dl]") for k in kids):
        return None
    label, value = (_line(k) for k in kids)
    label = label.rstrip(":").strip()
    if not label or not value or len(label) > 40 or not re.match(r"[^\W\d]", label):
        return None
    return (label, value) if re.search(r"\d", value) else None


def _line(el: HtmlElement) -> str:
    return WS.sub(" ", block_text(el)).strip()


def _visible_lines(el: HtmlElement) -> list[str]:
    """Text lines of ``el`` with struck-through text left out."""
    copy = _without_struck(el)
    return [line.strip() for line in block_text(copy).split("\n") if line.strip()]


def _without_struck(el: HtmlElement) -> HtmlElement:
    if not any(True for _ in el.iter(*_STRUCK)):
        return el
    clone = copy.deepcopy(el)
    for struck in list(clone.iter(*_STRUCK)):
        struck.drop_tree()
    return clone


def _bare_price(block: list[HtmlElement], name: str) -> str:
    """A line that is only a price ("€3,499", "from $899"), struck-through prices left out."""
    for el in block:
        for line in _visible_lines(el):
            if line == name or not _MONEY.search(line):
                continue
            spans = NUMBER_WITH_UNIT.findall(line)
            if len(spans) == 1 and len(line) - len(spans[0]) <= 8:
                return line
    return ""


def _without_overlaps(groups: list[_Group]) -> list[_Group]:
    """Innermost groups first; a group whose blocks hold an accepted group's block is dropped."""
    accepted: list[_Group] = []
    claimed: set[HtmlElement] = set()
    for group in sorted(groups, key=lambda g: (-g.depth, -g.score)):
        elements = [el for block in group.blocks for el in block]
        inside = {d for el in elements for d in el.iter() if isinstance(d, HtmlElement)}
        above = {a for el in elements for a in el.iterancestors()}
        if claimed & (inside | above):
            continue
        accepted.append(group)
        claimed.update(elements)
    return accepted


def _in_rail(el: HtmlElement) -> bool:
    """True inside a recommendation rail named so by its class, id or aria-label."""
    for node in [el, *el.iterancestors()]:
        words = re.sub(r"[^a-z]", "", f"{node.get('class', '')}{node.get('id', '')}".lower())
        if _RAIL_WORDS.search(words) or _RAIL.search(node.get("aria-label", "")):
            return True
    return False


def _caption(first: HtmlElement, total: int) -> str:
    """The nearest heading before the group outside chrome, or "" when there is none."""
    for heading in reversed(first.xpath(_PRECEDING_HEADINGS)):
        if not _excluded(heading, total) and (text := _clean(heading)):
            return text
    return ""


def _table(group: _Group, caption: str) -> RecordTable:
    columns = [NAME, *group.columns]
    rows: list[list[str]] = []
    for record in group.records:
        folded = {k.casefold(): v for k, v in record.values.items()}
        rows.append([record.name, *(folded.get(c.casefold(), "") for c in group.columns)])
    return RecordTable(
        rows=rows,
        columns=columns,
        caption=caption,
        numeric=any(re.search(r"\d", c) for r in rows for c in r[1:]),
        origin="blocks",
        names=[r.name for r in group.records],
    )


def is_rail(table: RecordTable) -> bool:
    """True for a recommendation rail ("Customers also bought"), judged by its caption."""
    return bool(_RAIL.search(table.caption))


def merge_record_tables(known: list[RecordTable], new: list[RecordTable]) -> list[RecordTable]:
    """Fold record tables together: same items (by name) or same columns make one table.

    Recommendation rails are left out (see `fold_records`).
    """
    result = list(known)
    for table in new:
        index = fold_records(result, table)
        if index is not None and index == len(result):
            result.append(table)
    return result


def fold_records(known: list[RecordTable], table: RecordTable) -> int | None:
    """Merge ``table`` into the first of ``known`` it belongs with, in place.

    Returns the index it was merged at, ``len(known)`` when it belongs with none (the caller
    appends it), or None for a recommendation rail, which is dropped. Rows are keyed by name:
    a name seen again fills only its cells still empty, so the pages of one list, and the
    cards and the structured data of one page, give one row per item.
    """
    if is_rail(table):
        return None
    for index, other in enumerate(known):
        if mergeable(other, table):
            known[index] = merge_records(other, table)
            return index
    return len(known)


def covered_by(table: RecordTable, tables: list[PageTable]) -> bool:
    """True when a data table of the same page already lists every one of these items."""
    names = {n.casefold() for n in table.names}
    for other in tables:
        cells = {c.casefold() for row in other.rows for c in row}
        if names and names <= cells:
            return True
    return False


def mergeable(a: RecordTable, b: RecordTable) -> bool:
    """True when ``a`` and ``b`` describe the same items, or the same fields of other items."""
    names_a = {n.casefold() for n in a.names}
    names_b = {n.casefold() for n in b.names}
    if len(names_a & names_b) * 2 >= min(len(names_a), len(names_b)):
        return True
    cols_a = {c.casefold() for c in a.columns[1:]}
    cols_b = {c.casefold() for c in b.columns[1:]}
    return bool(cols_a) and len(cols_a & cols_b) * 2 > max(len(cols_a), len(cols_b))


def merge_records(a: RecordTable, b: RecordTable) -> RecordTable:
    """One table of ``a``'s and ``b``'s items: columns united, one row per name."""
    columns = list(a.columns)
    folded = [c.casefold() for c in columns]
    for column in b.columns:
        if column.casefold() not in folded:
            columns.append(column)
            folded.append(column.casefold())
    rows: dict[str, list[str]] = {}
    for table in (a, b):
        position = {c.casefold(): i for i, c in enumerate(table.columns)}
        for row in table.rows:
            merged = rows.setdefault(row[0].casefold(), [""] * len(columns))
            for i, column in enumerate(folded):
                if not merged[i] and column in position and position[column] < len(row):
                    merged[i] = row[position[column]]
    origins = dict.fromkeys([*a.origin.split("+"), *b.origin.split("+")])
    return RecordTable(
        rows=list(rows.values()),
        columns=columns,
        caption=a.caption or b.caption,
        numeric=a.numeric or b.numeric,
        origin="+".join(origins),
        names=[row[0] for row in rows.values()],
    )
