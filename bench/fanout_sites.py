"""Test sites for the fan-out benchmark: N fictional vendors, 4 JavaScript-rendered pages each.

Each site is written into a folder and served by `demo_sites.server.DemoSites` with a fixed
latency per request, so every page costs one round trip at that latency: the HTML carries its
data in a JSON island and an inline script renders it (nav, cookie overlay, cards, a table,
footer chrome), as many real storefronts do. Vendors differ in names, prices and wording; the
pages share no markup the reader could be tuned to.
"""

from __future__ import annotations

import html
import json
import random
from pathlib import Path

PAGES = ("", "plans/", "storage/", "compare/")
"""Paths of each site's pages; the start page links to the other three."""

_NAMES = ("Altocu", "Borealis", "Cirrus", "Drizzle", "Ember", "Fogbank", "Gale", "Haze",
          "Isobar", "Jetstream", "Kelvin", "Lumen")  # fmt: skip
_SUFFIX = ("Store", "Vault", "Box", "Locker", "Depot", "Shelf")
_TITLES = {
    "": "Home",
    "plans/": "Plans and monthly prices",
    "storage/": "Storage included per plan",
    "compare/": "Compare plans side by side",
}

_RENDER_JS = """
(function () {
  var data = JSON.parse(document.getElementById('page-data').textContent);
  var root = document.getElementById('app');
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  setTimeout(function () {
    root.innerHTML = '';
    root.appendChild(el('h1', '', data.heading));
    root.appendChild(el('p', 'lede', data.lede));
    var cards = el('div', 'cards');
    data.plans.forEach(function (p) {
      var c = el('article', 'card');
      c.appendChild(el('h3', '', p.name));
      c.appendChild(el('p', 'price', p.price));
      c.appendChild(el('p', 'quota', p.storage));
      c.appendChild(el('button', 'cta', 'Start free trial'));
      cards.appendChild(c);
    });
    root.appendChild(cards);
    if (data.table) {
      var t = el('table', 'grid');
      var head = el('tr');
      data.table.head.forEach(function (h) { head.appendChild(el('th', '', h)); });
      t.appendChild(head);
      data.table.rows.forEach(function (r) {
        var tr = el('tr');
        r.forEach(function (v) { tr.appendChild(el('td', '', v)); });
        t.appendChild(tr);
      });
      root.appendChild(t);
    }
    data.notes.forEach(function (n) { root.appendChild(el('p', 'note', n)); });
  }, 30);
  document.getElementById('cookie-ok').addEventListener('click', function () {
    document.getElementById('cookie').remove();
  });
})();
"""


def _plans(rng: random.Random, currency: str) -> list[dict[str, str]]:
    plans = []
    storage = rng.choice((50, 100, 200))
    price = rng.uniform(2.0, 6.0)
    for name in ("Starter", "Team", "Business"):
        plans.append(
            {"name": name, "price": f"{currency}{price:.2f} per month", "storage": f"{storage} GB"}
        )
        storage *= rng.choice((4, 5, 10))
        price *= rng.uniform(2.2, 3.4)
    return plans


def _page_data(vendor: str, path: str, plans: list[dict[str, str]], rng: random.Random) -> dict:
    table = None
    if path in ("plans/", "compare/"):
        table = {
            "head": ["Plan", "Monthly price", "Storage"],
            "rows": [[p["name"], p["price"], p["storage"]] for p in plans],
        }
    elif path == "storage/":
        table = {
            "head": ["Plan", "Included storage", "Extra storage"],
            "rows": [[p["name"], p["storage"], f"{rng.randint(2, 9)} cents per GB"] for p in plans],
        }
    notes = [
        f"{vendor} keeps three copies of every file in two regions.",
        f"Prices exclude VAT. Annual billing saves {rng.randint(10, 25)}% on every plan.",
        "Customers rate our support 4.8 out of 5.",
    ]
    rng.shuffle(notes)
    return {
        "heading": f"{vendor}: {_TITLES[path]}",
        "lede": f"Cloud storage for teams. Every {vendor} plan includes versioning and sharing.",
        "plans": plans if path != "storage/" else plans[:2],
        "table": table,
        "notes": notes,
    }


def _page(vendor: str, path: str, data: dict) -> str:
    nav = " ".join(f'<a href="/{p}">{html.escape(_TITLES[p])}</a>' for p in PAGES if p != path)
    island = json.dumps(data).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(vendor)} | {html.escape(_TITLES[path])} (fictional)</title>
<style>.cards{{display:flex;gap:1em}} #cookie{{position:fixed;bottom:0;background:#eee}}</style>
</head><body>
<header><a class="logo" href="/">{html.escape(vendor)}</a><nav>{nav}</nav></header>
<div id="cookie" role="dialog"><p>We use cookies to improve your experience.</p>
<button id="cookie-ok">Accept all</button><button>Settings</button></div>
<main id="app"><p class="loading">Loading…</p></main>
<footer><a href="#careers">Careers</a> <a href="#privacy">Privacy</a> <a href="#terms">Terms</a>
<p>© 2026 {html.escape(vendor)} Ltd (a fictional company).</p></footer>
<script type="application/json" id="page-data">{island}</script>
<script>{_RENDER_JS}</script>
</body></html>
"""


def write_sites(root: Path, n: int, *, seed: int = 17) -> list[str]:
    """Write `n` vendor sites under `root` (one folder each); return the folder names."""
    rng = random.Random(seed)
    names = []
    for i in range(n):
        vendor = f"{_NAMES[i % len(_NAMES)]} {rng.choice(_SUFFIX)}"
        folder = f"vendor_{i:02d}"
        plans = _plans(rng, rng.choice(("$", "€", "£")))
        for path in PAGES:
            target = root / folder / path / "index.html"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_page(vendor, path, _page_data(vendor, path, plans, rng)))
        names.append(folder)
    return names
