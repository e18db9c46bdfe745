"""Unit tests for the offline brain's generic extraction (no network, no browser)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodes.browse.extract.controls import CONSENT_ACCEPT, NEXT_PAGE
from nodes.browse.extract.links import rank_links
from nodes.browse.extract.sentences import rank_sentences, split_sentences, summarise
from nodes.browse.extract.tables import (
    PageTable,
    extract_tables,
    merge_paginated,
    merge_tables,
    table_frame,
)
from nodes.browse.extract.text import main_text
from nodes.quantities import quantities

PAGES = Path(__file__).parent / "pages"
GOAL = "compare monthly price and storage of plans"
BASE = "https://vault.example.com/product"


def page(name: str) -> str:
    """A fixture page's HTML."""
    return (PAGES / f"{name}.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def pricing_text() -> str:
    return main_text(page("vendor_pricing"), "https://vault.example.com/pricing")


# --------------------------------------------------------------------------------------------
# main_text
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expected",
    [
        "The Basic plan costs $9.99/mo and includes 100 GB of storage for one user.",
        "The Pro plan is priced at $19.99 per month with 2 TB of storage and up to 5 users.",
        "€17,50 per user per month",
    ],
)
def test_main_text_keeps_plan_prose(pricing_text: str, expected: str) -> None:
    assert expected in pricing_text


@pytest.mark.parametrize(
    "chrome",
    [
        "Careers",  # navigation
        "Log in",
        "Save 50%",  # promo strip
        "HostCo",  # ad
        "Sponsored",
        "newsletter",  # newsletter box
        "10% off",
        "cookies",  # consent dialog
        "Accept all",
        "© 2026",  # footer
        "555-0100",
        "All rights reserved",
        "APP_STATE",  # script
        "font-weight",  # style
        "Unlimited",  # table cells are not prose
    ],
)
def test_main_text_drops_chrome(pricing_text: str, chrome: str) -> None:
    assert chrome.lower() not in pricing_text.lower()


def test_news_article_text_is_the_article_only() -> None:
    text = main_text(page("news_article"), "https://news.example.org/2026/03/storage")
    assert "$4.20 per TB per month, down 12%" in text
    assert "USD 12" in text
    for chrome in ("Most read", "Chip stocks", "Share on", "Great article", "Copyright"):
        assert chrome not in text


def test_div_grid_page_keeps_every_card() -> None:
    """Precision mode alone keeps one card of a JS-rendered grid; all cards must survive."""
    html = """<html><body><div id="__next">
      <div class="Header_nav__x1"><a href="/">Acme</a><a href="/pricing">Pricing</a></div>
      <div class="container"><div class="hero"><div>Plans for every team</div></div>
        <div class="grid">
          <div class="card"><div>Starter</div><div>$0</div><div>5 GB storage</div></div>
          <div class="card"><div>Team</div><div>$12 per user / month</div><div>1 TB storage</div></div>
        </div></div>
      <div class="cookieBar">We use cookies <button>OK</button></div></div></body></html>"""
    text = main_text(html, "https://acme.example/pricing")
    assert "5 GB storage" in text
    assert "$12 per user / month" in text
    assert "cookies" not in text


def test_page_wide_form_and_sidebar_wrapper_are_not_chrome() -> None:
    """ASP.NET wraps whole pages in one <form>; layouts name wrappers after their sidebar."""
    html = f"""<html><body><form id="aspnetForm" method="post"><div class="page with-sidebar">
      <div class="menu"><a href="/">Home</a><a href="/rates">Rates</a></div>
      <div class="content"><h2>Storage rates</h2>
        <p>Standard storage is billed at $0.023 per GB per month for the first 50 TB.</p>
        <table><tr><th>Tier</th><th>Price</th></tr><tr><td>Standard</td><td>$0.023/GB</td></tr>
          <tr><td>Infrequent</td><td>$0.0125/GB</td></tr></table></div>
      <div class="sidebar"><p>Related: 40% off for 3 months</p></div></div></form>
      <script id="__NEXT_DATA__">{"x" * 20_000}</script></body></html>"""
    text = main_text(html, "https://rates.example/")
    assert "$0.023 per GB per month" in text
    assert "40% off" not in text
    assert "Home" not in text
    (table,) = extract_tables(html)
    assert table.rows == [["Standard", "$0.023/GB"], ["Infrequent", "$0.0125/GB"]]
    assert table.caption == "Storage rates"


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   ",
        "<html><body></body></html>",
        '<html><body><div id="root"></div><script>render()</script></body></html>',
        "<!-- only a comment -->",
    ],
)
def test_empty_pages_give_nothing_without_crashing(html: str) -> None:
    assert main_text(html, "https://example.com/") == ""
    assert extract_tables(html) == []


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def test_pricing_table_keeps_cells_verbatim() -> None:
    tables = extract_tables(page("vendor_pricing"))
    assert len(tables) == 1, "footer link grid and cookie list must be skipped"
    table = tables[0]
    assert table.columns == ["Plan", "Monthly price", "Storage", "Users"]
    assert table.caption == "Compare plans"
    assert table.numeric
    assert table.rows[0] == ["Basic", "$9.99/mo", "100 GB", "1"]
    assert table.rows[2][1:3] == ["€ 17,50/mo", "10 TB"]


def test_table_frame_is_all_strings() -> None:
    frame = table_frame(extract_tables(page("vendor_pricing"))[0])
    assert list(frame.columns) == ["Plan", "Monthly price", "Storage", "Users"]
    assert frame.loc[1, "Monthly price"] == "$19.99/mo"
    assert frame.loc[1, "Users"] == "5"
    assert all(frame[c].map(lambda v: isinstance(v, str)).all() for c in frame.columns)


def test_navigation_and_layout_tables_are_skipped() -> None:
    assert extract_tables(page("nav_table")) == []


def test_table_without_numbers_and_duplicate_is_kept_once() -> None:
    tables = extract_tables(page("features_table"))
    assert len(tables) == 1
    assert tables[0].columns == ["Feature", "Basic", "Pro"]
    assert tables[0].caption == "Feature matrix"
    assert not tables[0].numeric
    assert tables[0].rows[-1] == ["Priority support", "—", "Included"]


@pytest.mark.parametrize(
    ("cells", "columns", "first_row"),
    [
        # inline markup inside a cell must not add spaces
        (
            "<tr><th>Plan</th><th>Price</th></tr><tr><td>A</td><td>$<b>5</b>/mo</td></tr>"
            "<tr><td>B</td><td>$7/mo</td></tr>",
            ["Plan", "Price"],
            ["A", "$5/mo"],
        ),
        # <br> separates words; colspan repeats; empty header gets a name
        (
            "<thead><tr><th></th><th colspan='2'>Price</th></tr></thead>"
            "<tr><td>A</td><td>1&nbsp;TB<br>storage</td><td>x</td></tr><tr><td>B</td><td>2 TB</td></tr>",
            ["column_1", "Price", "Price_2"],
            ["A", "1 TB storage", "x"],
        ),
    ],
)
def test_table_cell_parsing(cells: str, columns: list[str], first_row: list[str]) -> None:
    (table,) = extract_tables(f"<html><body><table>{cells}</table></body></html>")
    assert table.columns == columns
    assert table.rows[0] == first_row
    assert all(len(r) == len(columns) for r in table.rows)


def _page_table(rows: list[list[str]], caption: str = "Plans") -> PageTable:
    return PageTable(rows=rows, columns=["Plan", "Price"], caption=caption, numeric=True)


def test_paginated_tables_merge_without_duplicates() -> None:
    page1 = _page_table([["Basic", "$9.99/mo"], ["Pro", "$19.99/mo"]])
    page2 = _page_table([["Pro", "$19.99/mo"], ["Team", "$49/mo"]], caption="")
    merged = merge_tables(page1, page2)
    assert merged.rows == [["Basic", "$9.99/mo"], ["Pro", "$19.99/mo"], ["Team", "$49/mo"]]
    assert merged.caption == "Plans"
    other = PageTable(rows=[["x", "y"]], columns=["Name", "Role"], caption="", numeric=False)
    assert len(merge_paginated([page1, other, page2])) == 2


def test_merging_different_headers_is_refused() -> None:
    other = PageTable(rows=[["x", "y"]], columns=["Name", "Role"], caption="", numeric=False)
    with pytest.raises(ValueError, match="different columns"):
        merge_tables(_page_table([["Basic", "$1"]]), other)


# --------------------------------------------------------------------------------------------
# Quantities
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Pro is $19.99 per month.", ["$19.99 per month"]),
        ("Only € 7,50/mo for students", ["€ 7,50/mo"]),
        ("Includes 2 TB and 1,024 GiB of cache", ["2 TB", "1,024 GiB"]),
        ("£99 per year, billed once", ["£99 per year"]),
        ("Save 30% today", ["30%"]),
        ("Entry tier is USD 12, or 12 USD", ["USD 12", "12 USD"]),
        ("Costs 7,50 € a month", ["7,50 € a month"]),
        ("$5 per user per month", ["$5 per user per month"]),
        ("Team: $12 /user/mo", ["$12 /user/mo"]),
        ("Funding of $1.2M and 10k requests/mo", ["$1.2M", "10k requests/mo"]),
        ("US$5 or A$20", ["US$5", "A$20"]),
        ("99.9% uptime, 2x faster", ["99.9%", "2x"]),
    ],
)
def test_quantities_keep_units(text: str, expected: list[str]) -> None:
    assert quantities(text) == expected


@pytest.mark.parametrize(
    "text",
    ["Call 555-0100", "© 2026", "Open 24/7", "Version 4.2 is out", "Room 101", "In 2025 we grew"],
)
def test_bare_numbers_are_not_quantities(text: str) -> None:
    assert quantities(text) == []


# --------------------------------------------------------------------------------------------
# Sentences, ranking, summary
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Basic is $9.99. Pro is $19.99.", ["Basic is $9.99.", "Pro is $19.99."]),
        (
            "Vendors, e.g. Acme, cut prices. Dr. Rivera agrees.",
            ["Vendors, e.g. Acme, cut prices.", "Dr. Rivera agrees."],
        ),
        (
            "- 100 GB storage\n• 2 TB storage\n1. Priority support",
            ["100 GB storage", "2 TB storage", "Priority support"],
        ),
        (
            "Plans\nThe plan costs 4.5 USD. Really? Yes!",
            ["Plans", "The plan costs 4.5 USD.", "Really?", "Yes!"],
        ),
        ("Written by J. Smith. Published today.", ["Written by J. Smith.", "Published today."]),
        ("", []),
    ],
)
def test_split_sentences(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_price_sentence_ranks_first(pricing_text: str) -> None:
    ranked = rank_sentences(pricing_text, GOAL, k=3)
    assert len(ranked) == 3
    best, score = ranked[0]
    assert "$19.99 per month" in best and "2 TB" in best
    assert score == max(s for _, s in ranked)
    assert all("founders" not in s for s, _ in ranked)


def test_ranking_drops_boilerplate_and_is_deterministic() -> None:
    text = (
        "We use cookies to give you 20% better service.\n"
        "Sign up for our newsletter and save $5 per month.\n"
        "© 2026 Acme. All rights reserved.\n"
        "The Pro plan costs $12 per month for 1 TB of storage.\n"
        "Our office has a nice view."
    )
    ranked = rank_sentences(text, GOAL)
    assert [s for s, _ in ranked] == ["The Pro plan costs $12 per month for 1 TB of storage."]
    assert rank_sentences(text, GOAL) == ranked


def test_stemming_matches_word_forms() -> None:
    text = "Pricing starts low. The weather is nice today. Prices are listed per plan."
    ranked = [s for s, _ in rank_sentences(text, "price of plans")]
    assert ranked == ["Prices are listed per plan.", "Pricing starts low."]


def test_summary_is_in_document_order_and_bounded(pricing_text: str) -> None:
    summary = summarise(pricing_text, GOAL, max_chars=200)
    assert len(summary) <= 200
    assert "$19.99 per month" in summary
    full = summarise(pricing_text, GOAL)
    assert full.index("$9.99/mo") < full.index("$19.99 per month") < full.index("£199 per year")
    assert "founders" not in full


@pytest.mark.parametrize(("text", "goal"), [("", GOAL), ("Nothing relevant here at all.", GOAL)])
def test_summary_of_nothing_relevant_is_empty(text: str, goal: str) -> None:
    assert summarise(text, goal) == ""


# --------------------------------------------------------------------------------------------
# Links
# --------------------------------------------------------------------------------------------

LINKS = [
    ("/careers", "Careers"),
    ("/pricing", "Plans & pricing"),
    ("https://other.example.net/pricing", "Pricing at a partner"),
    ("mailto:sales@vault.example.com", "Email sales about pricing"),
    ("javascript:void(0)", "Pricing calculator"),
    ("#pricing", "Jump to pricing"),
    ("/login?next=/pricing", "Log in to see your plan price"),
    ("/signup", "Sign up for a plan"),
    ("/legal/privacy", "Privacy and pricing data"),
    ("/docs/price-sheet.pdf", "Price sheet (PDF)"),
    ("http://vault.example.com/storage", "Storage plans over plain http"),
    ("https://vault.example.com:8443/storage", "Storage plans on another port"),
    ("storage-plans", "Storage plans"),
    ("/blog/", "Blog"),
]


def test_link_ranking_prefers_goal_pages() -> None:
    ranked = rank_links(LINKS, base_url=BASE, goal=GOAL, visited=set(), limit=5)
    by_url = {link.url: link for link in ranked}
    # off-site, other scheme/port, mailto, javascript, fragment, login, signup, legal, PDF and
    # unrelated pages are all refused
    assert set(by_url) == {
        "https://vault.example.com/pricing",
        "https://vault.example.com/storage-plans",
    }
    assert by_url["https://vault.example.com/pricing"].text == "Plans & pricing"
    assert [link.score for link in ranked] == sorted((link.score for link in ranked), reverse=True)


def test_pricing_beats_careers() -> None:
    links = [("/careers", "Careers"), ("/pricing", "Plans & pricing"), ("/about", "About us")]
    ranked = rank_links(links, base_url=BASE, goal=GOAL, visited=set(), limit=3)
    assert [link.url for link in ranked] == ["https://vault.example.com/pricing"]


@pytest.mark.parametrize(
    "visited",
    [
        {"https://vault.example.com/pricing"},
        {"https://vault.example.com/pricing/"},
        {"https://vault.example.com:443/pricing#plans"},
    ],
)
def test_visited_pages_are_not_offered_again(visited: set[str]) -> None:
    ranked = rank_links(LINKS, base_url=BASE, goal=GOAL, visited=visited, limit=5)
    assert "https://vault.example.com/pricing" not in [link.url for link in ranked]


def test_link_limit_and_duplicates() -> None:
    links = [("/pricing", "Pricing"), ("/pricing/#faq", "Pricing FAQ"), ("/plans", "Plans")]
    ranked = rank_links(links, base_url=BASE, goal=GOAL, visited=set(), limit=1)
    assert [link.url for link in ranked] == ["https://vault.example.com/pricing"]
    both = rank_links(links, base_url=BASE, goal=GOAL, visited=set(), limit=10)
    assert len(both) == 2


# --------------------------------------------------------------------------------------------
# Button patterns
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("Accept", True),
        ("Accept all", True),
        (" ACCEPT ALL COOKIES ", True),
        ("I agree", True),
        ("Agree", True),
        ("Allow all", True),
        ("Got it!", True),
        ("OK", True),
        ("Close", True),
        ("No thanks", True),
        ("×", True),
        ("Accept the terms of our enterprise plan", False),
        ("Close your account", False),
        ("Okta integration", False),
        ("", False),
    ],
)
def test_consent_accept(text: str, matches: bool) -> None:
    assert bool(CONSENT_ACCEPT.search(text)) is matches


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("Next", True),
        ("Next ›", True),
        ("›", True),
        ("»", True),
        ("next page", True),
        ("Load more", True),
        ("Show more", True),
        ("Next generation storage", False),
        ("Show more plans from our partners", False),
        ("Previous", False),
        ("", False),
    ],
)
def test_next_page(text: str, matches: bool) -> None:
    assert bool(NEXT_PAGE.search(text)) is matches
