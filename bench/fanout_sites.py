"""Test sites for the fan-out benchmark: N fictional vendors, 4 JavaScript-rendered pages each.

Each site is written into a folder and served by `demo_sites.server.DemoSites` with a fixed
latency per request, so every page costs one round trip at that latency: the HTML carries its
data in a JSON island and an inline script renders it (nav, cookie overlay, cards, a table,
footer chrome), as many real storefronts do. Around the plans, each page carries what a real
vendor page does: a mega-menu, a story, a feature grid, customer quotes, an FAQ, footer link
columns and small print. Vendors differ in names, prices and wording; the pages share no
markup the reader could be tuned to.
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


# The pages' marketing copy, chrome and small print: what a real vendor page carries around its
# plans. Each vendor draws its own selection (a separate random stream, so names and prices stay
# those of the seed), and the words name the vendor.
_FEATURES = (
    ("Versioning", "Every overwrite keeps the previous version, so a bad sync can be undone."),
    ("Sharing links", "Send a link that expires, with or without a password, to anyone."),
    ("Desktop sync", "Apps for every desktop keep chosen folders in step in the background."),
    ("Audit log", "See who opened, changed or shared a file, and export the log for audits."),
    ("Single sign-on", "Sign in with your company directory and manage access in its groups."),
    ("Encryption", "Files are encrypted in transit and at rest with keys we rotate for you."),
    ("Object lock", "Make a folder write-once for backups that ransomware cannot touch."),
    ("Offline mode", "Keep working without a connection; changes merge when you are back."),
    ("Admin console", "Remove a departing colleague from every shared folder in one step."),
    ("Open API", "Automate uploads and reports with a documented API and client libraries."),
    ("Regional hosting", "Choose the region your data lives in when you create the workspace."),
    ("Friendly support", "Talk to engineers who answer in plain language, not in ticket codes."),
)
_QUOTES = (
    ("Moving our archive took one weekend, and nobody in the office noticed.", "Office manager"),
    ("It is the first cloud invoice our finance team reads without asking questions.", "CTO"),
    ("Restoring a deleted project folder took three clicks and no panic at all.", "Designer"),
    ("Support answered a tricky question in plain words and sent a checklist.", "IT lead"),
    ("We replaced a cupboard of hard drives and a lot of worrying.", "Founder"),
    ("Our auditors asked for the access log, and we had it ready in a minute.", "Compliance"),
)
_FAQ = (
    ("Can I keep my existing backup tools?", "Yes. Most tools only need a new endpoint."),
    ("Where is my data kept?", "In two data centres in the region you choose at sign-up."),
    ("Can I cancel online?", "Yes, from the account page, at any time, without calling."),
    ("Do you offer a trial?", "Yes. Every account starts with a free trial, no card needed."),
    ("How do I migrate?", "Use our migration service or copy files with any common tool."),
    ("Is there an uptime guarantee?", "Yes. Paid accounts are covered by a service level."),
    (
        "Can guests upload files?",
        "Yes. A drop folder accepts uploads from people without accounts.",
    ),
    ("What happens when I leave?", "Download everything as an archive; we delete the rest."),
)
_STORIES = (
    "Big cloud platforms bill separately for requests, retrievals and traffic, and the rules "
    "change from region to region. {vendor} keeps one rate card and no request fees.",
    "{vendor} does one thing: it keeps your team's files safe and easy to find. We do not "
    "sell advertising, and we never change a plan's terms halfway through the year.",
    "Unlike a consumer drive, {vendor} is built for teams: shared folders come first, and a "
    "person answers the phone when something goes wrong.",
)
_MENU = {
    "Products": ("Team drive", "Backup", "Archive", "File gateway", "Mobile apps"),
    "Solutions": ("Agencies", "Healthcare", "Education", "Non-profits", "Public sector"),
    "Resources": ("Documentation", "API reference", "Migration guides", "Webinars", "Status"),
    "Company": ("About", "Careers", "Press", "Partners", "Contact"),
}
_FOOTER = {
    "Product": ("Features", "Security", "Integrations", "Changelog", "Roadmap", "Status"),
    "Support": ("Help centre", "Community", "Contact support", "Service status", "Training"),
    "Legal": ("Privacy", "Terms", "Cookies", "Acceptable use", "Subprocessors", "Imprint"),
    "Follow": ("Blog", "Newsletter", "Mastodon", "LinkedIn", "YouTube"),
}
_SMALL_PRINT = (
    "{vendor} is a fictional company invented for benchmarks. Product names and customer quotes "
    "are made up, and any resemblance to a real provider is a coincidence.",
    "Service level credits are the sole remedy for availability failures. Features marked as "
    "preview may change or be withdrawn without notice. Offers are for new customers only.",
    "Trademarks mentioned belong to their owners and are named only to describe compatibility.",
)

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
    root.appendChild(el('h2', '', 'Why ' + data.vendor));
    root.appendChild(el('p', 'story', data.story));
    var grid = el('div', 'features');
    data.features.forEach(function (f) {
      var c = el('section', 'feature');
      c.appendChild(el('h3', '', f[0]));
      c.appendChild(el('p', '', f[1]));
      grid.appendChild(c);
    });
    root.appendChild(grid);
    data.quotes.forEach(function (q) {
      var f = el('figure', 'quote');
      f.appendChild(el('blockquote', '', q[0]));
      f.appendChild(el('figcaption', '', q[1] + ', a ' + data.vendor + ' customer'));
      root.appendChild(f);
    });
    root.appendChild(el('h2', '', 'Questions and answers'));
    data.faq.forEach(function (q) {
      root.appendChild(el('h3', 'question', q[0]));
      root.appendChild(el('p', 'answer', q[1]));
    });
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
    copy = random.Random(f"{vendor}/{path}")  # its own stream: the seed's values stay
    return {
        "vendor": vendor,
        "story": copy.choice(_STORIES).format(vendor=vendor),
        "features": copy.sample(_FEATURES, 8),
        "quotes": copy.sample(_QUOTES, 2),
        "faq": copy.sample(_FAQ, 6),
        "heading": f"{vendor}: {_TITLES[path]}",
        "lede": f"Cloud storage for teams. Every {vendor} plan includes versioning and sharing.",
        "plans": plans if path != "storage/" else plans[:2],
        "table": table,
        "notes": notes,
    }


def _page(vendor: str, path: str, data: dict) -> str:
    nav = " ".join(f'<a href="/{p}">{html.escape(_TITLES[p])}</a>' for p in PAGES if p != path)
    island = json.dumps(data).replace("</", "<\\/")
    small = "\n".join(
        f'<p class="small-print">{html.escape(t.format(vendor=vendor))}</p>' for t in _SMALL_PRINT
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(vendor)} | {html.escape(_TITLES[path])} (fictional)</title>
<style>.cards{{display:flex;gap:1em}} #cookie{{position:fixed;bottom:0;background:#eee}}</style>
</head><body>
<header><a class="logo" href="/">{html.escape(vendor)}</a><nav>{nav}</nav>
<div class="mega-menu">{_columns(_MENU, "menu")}</div></header>
<div id="cookie" role="dialog"><p>We use cookies to improve your experience.</p>
<button id="cookie-ok">Accept all</button><button>Settings</button></div>
<main id="app"><p class="loading">Loading…</p></main>
<footer><a href="#careers">Careers</a> <a href="#privacy">Privacy</a> <a href="#terms">Terms</a>
{_columns(_FOOTER, "footer")}
{small}
<p>© 2026 {html.escape(vendor)} Ltd (a fictional company).</p></footer>
<script type="application/json" id="page-data">{island}</script>
<script>{_RENDER_JS}</script>
</body></html>
"""


def _columns(columns: dict[str, tuple[str, ...]], kind: str) -> str:
    """Link columns of a mega-menu or footer; every link stays on the page (#fragment)."""
    return "\n".join(
        f'<div class="{kind}-col"><h4>{html.escape(title)}</h4><ul>'
        + "".join(
            f'<li><a href="#{kind}-{i}-{j}">{html.escape(name)}</a></li>'
            for j, name in enumerate(names)
        )
        + "</ul></div>"
        for i, (title, names) in enumerate(columns.items())
    )


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
