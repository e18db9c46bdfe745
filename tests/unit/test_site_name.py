"""The site's name: what its pages declare, the title segment they share, a brand, the host."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodes.browse.extract.site_name import declared_site_name, site_name

PAGES = Path(__file__).parent.parent / "fixtures" / "soft404"


def _head(inside: str) -> str:
    return f"<!DOCTYPE html><html><head>{inside}</head><body><h1>Hi</h1></body></html>"


@pytest.mark.parametrize(
    ("html", "name"),
    [
        (_head('<meta property="og:site_name" content=" VoltWay  Blog ">'), "VoltWay Blog"),
        (_head('<meta name="application-name" content="Quarry">'), "Quarry"),
        (
            _head(
                '<script type="application/ld+json">{"@context": "https://schema.org", "@graph": '
                '[{"@type": "Organization", "name": "Pedalia Bikes GmbH"}, '
                '{"@type": "WebSite", "name": "Pedalia", "url": "/"}]}</script>'
            ),
            "Pedalia",  # the WebSite's name before the Organization's
        ),
        (
            _head(
                '<script type="application/ld+json">{"@type": "Organization", "name": "Acme"}'
                '</script><script type="application/ld+json">{broken</script>'
            ),
            "Acme",
        ),
        # A product's brand is not the site's name; nor is an article's headline.
        ((PAGES / "real-product-mentions-not-found.html").read_text(), "Pedalia Bikes"),
        (
            _head(
                '<script type="application/ld+json">{"@type": "Product", "name": "Roamer", '
                '"brand": {"@type": "Organization", "name": "Pedalia"}}</script>'
            ),
            "",
        ),
        (_head("<title>Pricing | Acme</title>"), ""),
        (_head('<meta property="og:site_name" content="' + "x" * 80 + '">'), ""),
    ],
)
def test_declared_site_name(html: str, name: str) -> None:
    assert declared_site_name(html) == name


@pytest.mark.parametrize(
    ("titles", "url", "declared", "name"),
    [
        # What the pages declare wins over their titles.
        (["Battery Guide 2026 | VoltWay Blog"], "https://volt.example/", ["VoltWay"], "VoltWay"),
        # The segment the site's pages share.
        (
            ["Plans & pricing — Acme Cloud", "Acme Cloud — home", "Blog | Acme Cloud"],
            "https://acme.example/",
            [],
            "Acme Cloud",
        ),
        # One page: the segment after the last separator, when it reads like a brand.
        (
            ["Battery Guide 2026 — Best E-bike Batteries Compared | VoltWay Blog"],
            "http://127.0.0.1:8000/blog/battery-guide",
            ["", ""],
            "VoltWay Blog",
        ),
        (["Roamer e-bike – 720 Wh - Pedalia"], "http://127.0.0.1:9000/", [], "Pedalia"),
        # The segment that spells the host's name, wherever it is.
        (["Nimbus Vault – Pricing"], "https://nimbusvault.example/pricing", [], "Nimbus Vault"),
        (["Quarry"], "https://www.quarry.example/", [], "Quarry"),
        # A last segment that names a page or section, not a brand: the host.
        (["Best e-bikes of 2026 | Page 2"], "https://reviews.example/p/2", [], "reviews.example"),
        (["Winter riding tips - Blog"], "http://127.0.0.1:8000/", [], "127.0.0.1:8000"),
        # A home page: the brand first, a tagline after it.
        (["Quarry Storage — files for teams"], "http://127.0.0.1:8000/", [], "Quarry Storage"),
        # A whole title is never the site's name.
        (["Only one page title"], "https://x.example/", [], "x.example"),
        (["Battery Guide 2026"], "http://127.0.0.1:8000/", [], "127.0.0.1:8000"),
        ([], "https://x.example:8443/path", [], "x.example:8443"),
        (["", ""], "http://127.0.0.1:8000/", [], "127.0.0.1:8000"),
    ],
)
def test_site_name(titles: list[str], url: str, declared: list[str], name: str) -> None:
    assert site_name(titles, url, declared) == name
