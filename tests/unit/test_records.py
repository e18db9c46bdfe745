"""Records from repeated structure and schema.org data (no browser, no network)."""

from __future__ import annotations

import time
from pathlib import Path

from nodes.browse.extract.records import (
    RecordTable,
    covered_by,
    extract_records,
    fold_records,
    merge_record_tables,
)
from nodes.browse.extract.structured_data import structured_records
from nodes.browse.extract.tables import PageTable

SITES = Path(__file__).resolve().parents[1] / "sites"


def site_page(path: str) -> str:
    return (SITES / path).read_text(encoding="utf-8")


def only(tables: list[RecordTable]) -> RecordTable:
    assert len(tables) == 1, [(t.caption, t.columns) for t in tables]
    return tables[0]


def doc(body: str) -> str:
    return f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>"


# --------------------------------------------------------------------------- repeated blocks


def test_product_cards_become_one_row_each_with_columns_from_their_labels():
    table = only(extract_records(site_page("card_shop/e-bikes/index.html")))
    assert table.columns == ["Name", "Battery", "Range", "Weight", "Price"]
    assert table.rows == [
        ["Voltaro City 7", "625 Wh", "up to 120 km", "24.8 kg", "€3,499"],
        # label and value in sibling spans; the price unlabelled, its struck-through old one
        # ("€4,599") left out
        ["Voltaro Trail 9", "750 Wh", "up to 140 km", "26.1 kg", "€4,199"],
        ["Kestrel Fold", "400 Wh", "up to 70 km", "19.5 kg", "€2,299"],
    ]
    assert table.caption == "Electric bikes" and table.numeric and table.origin == "blocks"


def test_a_recommendation_rail_never_becomes_products_even_with_labelled_values():
    html = site_page("card_shop/e-bikes/index.html")
    names = {row[0] for table in extract_records(html) for row in table.rows}
    assert not names & {"Urban Pro helmet", "Lock XL 120", "Pannier 25"}
    # Named a rail by its heading alone, it is still left out...
    by_heading = html.replace('class="cross-sell"', 'class="accessories"')
    names = {row[0] for table in extract_records(by_heading) for row in table.rows}
    assert not names & {"Urban Pro helmet", "Lock XL 120", "Pannier 25"}
    # ...and the same cards under a plain heading are a list of products.
    plain = by_heading.replace("Customers also bought", "Accessories")
    names = {row[0] for table in extract_records(plain) for row in table.rows}
    assert {"Urban Pro helmet", "Lock XL 120", "Pannier 25"} <= names


def test_definition_lists_under_a_heading_each_are_records():
    table = only(extract_records(site_page("spec_list/index.html")))
    assert table.rows == [
        ["Tessera Mini", "8.3-inch", "128 GB", "10 hours", "$499"],
        ["Tessera Air", "11-inch", "256 GB", "12 hours", "$699"],  # unclosed <dt>/<dd>
        ["Tessera Pro", "13-inch", "1 TB", "11 hours", "$1,299"],
    ]


def test_chrome_lists_and_names_with_prices_only_are_not_records():
    html = doc(
        "<nav><ul><li><a href='/a'>Bikes</a></li><li><a href='/b'>Parts</a></li></ul></nav>"
        "<main><h1>Deals</h1><ul>"
        "<li><h3>Bell</h3><p>€19</p></li><li><h3>Light set</h3><p>€35</p></li></ul></main>"
        "<footer><ul><li><b>Shop</b> Hours: 9–18</li><li><b>Hotline</b> Phone: 555-0100</li>"
        "</ul></footer>"
    )
    assert extract_records(html) == []


def test_sections_of_one_product_are_not_a_list_of_products():
    html = doc(
        "<main><h1>Voltaro City 7</h1>"
        "<section><h2>Specs</h2><ul><li>Battery: 625 Wh</li><li>Range: 120 km</li></ul></section>"
        "<section><h2>Specs</h2><ul><li>Battery: 500 Wh</li><li>Range: 90 km</li></ul></section>"
        "</main>"
    )
    assert extract_records(html) == []


def test_category_grids_with_the_same_labels_make_one_table():
    def grid(models: list[tuple[str, str, str]]) -> str:
        cards = "".join(
            f"<div class='tile'><h3>{n}</h3><p>Storage: {s}</p><p>Price: {p}</p></div>"
            for n, s, p in models
        )
        return f"<div class='grid'>{cards}</div>"

    html = doc(
        "<main><section><h2>Phones</h2>"
        + grid([("Fone 1", "128 GB", "$399"), ("Fone 2", "256 GB", "$599")])
        + "</section><section><h2>Tablets</h2>"
        + grid([("Tab 1", "64 GB", "$299"), ("Tab 2", "512 GB", "$899")])
        + "</section></main>"
    )
    table = only(extract_records(html))
    assert [row[0] for row in table.rows] == ["Fone 1", "Fone 2", "Tab 1", "Tab 2"]
    assert table.columns == ["Name", "Storage", "Price"]


def test_two_cell_spec_rows_inside_cards_are_labelled_values():
    card = (
        "<article><h2>{0}</h2><table><tr><th>Battery</th><td>{1}</td></tr>"
        "<tr><th>Price</th><td>{2}</td></tr></table></article>"
    )
    html = doc(
        "<main>"
        + card.format("Kite", "500 Wh", "$1,999")
        + card.format("Hawk", "700 Wh", "$2,499")
        + "</main>"
    )
    assert only(extract_records(html)).rows == [
        ["Kite", "500 Wh", "$1,999"],
        ["Hawk", "700 Wh", "$2,499"],
    ]


def test_a_large_listing_is_read_quickly():
    card = (
        "<li class='card'><a href='/p/{0}'><img src='/i/{0}.jpg' alt=''></a><h3>Model {0}</h3>"
        "<ul><li>Battery: {0}0 Wh</li><li>Range: {0} km</li></ul><p>€{0}99</p></li>"
    )
    html = doc("<main><ul>" + "".join(card.format(i) for i in range(1, 401)) + "</ul></main>")
    started = time.perf_counter()
    table = only(extract_records(html))
    assert len(table.rows) == 400 and table.rows[9] == ["Model 10", "100 Wh", "10 km", "€1099"]
    assert time.perf_counter() - started < 10


# --------------------------------------------------------------------------- structured data


def test_json_ld_products_in_an_item_list_become_records_and_a_broken_block_is_skipped():
    html = site_page("jsonld_shop/index.html")
    assert "FAQPage" in html  # the page's third block is cut off mid-object
    table = only(structured_records(html, "http://shop.test/"))
    assert table.origin == "json-ld"
    assert table.columns[:3] == ["Name", "Brand", "Price"]
    rows = {row[0]: dict(zip(table.columns, row, strict=True)) for row in table.rows}
    assert set(rows) == {"Northwind Air 13", "Northwind Pro 15", "Northwind Studio 16"}
    air = rows["Northwind Air 13"]
    assert (air["Brand"], air["Price"], air["Storage"]) == ("Northwind", "1299.00 USD", "512 GB")
    assert air["Weight"] == "1.19 kg"  # unitCode KGM
    assert air["Battery life"] == "18 hours"
    assert rows["Northwind Pro 15"]["Price"] == "2199 USD"  # offers given as a list
    studio = rows["Northwind Studio 16"]  # an AggregateOffer: its range, as shops show it
    assert (studio["Price"], studio["Highest price"]) == ("from 2899 USD", "3499 USD")
    # WebSite, Organization and BreadcrumbList are not products.
    assert "Northwind Notebooks Ltd (fictional)" not in rows


def test_microdata_and_rdfa_products_become_records():
    html = doc(
        "<div itemscope itemtype='https://schema.org/Product'><h3 itemprop='name'>Kite</h3>"
        "<div itemprop='offers' itemscope itemtype='https://schema.org/Offer'>"
        "<meta itemprop='priceCurrency' content='EUR'>"
        "<span itemprop='price' content='1999.00'>1.999 €</span></div>"
        "<div itemprop='additionalProperty' itemscope "
        "itemtype='https://schema.org/PropertyValue'><span itemprop='name'>Battery</span>"
        "<span itemprop='value'>500</span><span itemprop='unitText'>Wh</span></div></div>"
        "<div vocab='https://schema.org/' typeof='Product'><h3 property='name'>Hawk</h3>"
        "<div property='offers' typeof='Offer'><meta property='priceCurrency' content='EUR'>"
        "<span property='price' content='2499'>2.499 €</span></div></div>"
    )
    by_origin = {t.origin: t for t in structured_records(html, "http://shop.test/")}
    assert by_origin["microdata"].rows == [["Kite", "1999.00 EUR", "500 Wh"]]
    assert by_origin["microdata"].columns == ["Name", "Price", "Battery"]
    assert by_origin["rdfa"].rows == [["Hawk", "2499 EUR"]]


def test_a_page_without_structured_data_has_no_structured_records():
    assert structured_records(site_page("spec_list/index.html"), "http://x.test/") == []
    assert structured_records("", "http://x.test/") == []


# --------------------------------------------------------------------------- merging


def _records(rows: list[list[str]], columns: list[str], origin: str = "blocks") -> RecordTable:
    return RecordTable(
        rows=rows,
        columns=columns,
        caption="",
        numeric=True,
        origin=origin,
        names=[r[0] for r in rows],
    )


def test_pages_of_a_list_merge_without_duplicates():
    first = only(extract_records(site_page("card_shop/e-bikes/index.html")))
    second = only(extract_records(site_page("card_shop/e-bikes/page-2.html")))
    merged = only(merge_record_tables([first], [second, first]))
    assert [r[0] for r in merged.rows] == [
        "Voltaro City 7",
        "Voltaro Trail 9",
        "Kestrel Fold",
        "Hornet Cargo",
        "Sprite Kids E",
    ]


def test_cards_and_structured_data_of_the_same_items_make_one_row_each():
    cards = _records([["Kite", "$1,999"], ["Hawk", "$2,499"]], ["Name", "Price"])
    data = _records(
        [["Hawk", "2499 USD", "700 Wh"], ["Kite", "1999 USD", "500 Wh"]],
        ["Name", "Price", "Battery"],
        origin="json-ld",
    )
    known = [cards]
    assert fold_records(known, data) == 0
    assert known[0].columns == ["Name", "Price", "Battery"]
    assert known[0].rows == [["Kite", "$1,999", "500 Wh"], ["Hawk", "$2,499", "700 Wh"]]
    assert known[0].origin == "blocks+json-ld"


def test_unrelated_lists_stay_apart_and_a_table_of_the_same_items_wins():
    bikes = _records([["Kite", "500 Wh"], ["Hawk", "700 Wh"]], ["Name", "Battery"])
    helmets = _records([["Dome", "S–L"], ["Shell", "M"]], ["Name", "Sizes"])
    assert len(merge_record_tables([bikes], [helmets])) == 2
    page_table = PageTable(
        rows=[["Kite", "500 Wh"], ["Hawk", "700 Wh"]],
        columns=["Model", "Battery"],
        caption="",
        numeric=True,
    )
    assert covered_by(bikes, [page_table]) and not covered_by(helmets, [page_table])


def test_a_rail_named_by_its_class_or_label_is_left_out_without_a_heading():
    card = "<li><h3>{0}</h3><p>Weight: {1}</p><p>Size: {2}</p></li>"
    rail = "".join(card.format(*c) for c in (("Dome", "340 g", "M"), ("Shell", "300 g", "L")))
    for wrapper in (
        "<div class='upsell-strip'>{}</div>",
        "<div aria-label='Recommended for you'>{}</div>",
    ):
        html = doc("<main><h1>Helmets</h1>" + wrapper.format(f"<ul>{rail}</ul>") + "</main>")
        assert extract_records(html) == [], wrapper
    html = doc(f"<main><h1>Helmets</h1><div class='grid'><ul>{rail}</ul></div></main>")
    assert [r[0] for r in only(extract_records(html)).rows] == ["Dome", "Shell"]


def test_a_list_of_posts_with_labelled_text_is_not_a_list_of_products():
    post = "<article><h2>{0}</h2><p>Author: {1}</p><p>Category: {2}</p><p>{3}</p></article>"
    html = doc(
        "<main><h1>Journal</h1>"
        + post.format("Winter riding", "Ana Ruiz", "Guides", "Keep the battery warm.")
        + post.format("Our new workshop", "Tom Berg", "News", "We moved across town.")
        + "</main>"
    )
    assert extract_records(html) == []
