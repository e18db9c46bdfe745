"""Screenshot a run's self-contained report.html in headless Chromium (the README's picture).

    python scripts/screenshot_report.py RUN_DIR OUT.png [--width 1280] [--max-height 3000]

RUN_DIR is `runs/<thread>` (or the report.html itself). Every request the page makes other than
the file itself is refused and listed; the script exits 1 if there was any, so the picture is
of a report that needs nothing from anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Page, Route, async_playwright

from sandbox.browser import CHROMIUM_ARGS, chromium_executable


@asynccontextmanager
async def report_page(document: str, *, width: int = 1280) -> AsyncIterator[tuple[Page, list[str]]]:
    """The report at URL `document` loaded in headless Chromium, and the requests it made.

    Every request but the document's own is refused and listed: a self-contained report
    leaves the list empty.
    """
    refused: list[str] = []

    async def gate(route: Route) -> None:
        if route.request.url == document:
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium_executable(), args=list(CHROMIUM_ARGS)
        )
        try:
            page = await browser.new_page(viewport={"width": width, "height": 900})
            await page.route("**/*", gate)
            await page.goto(document, wait_until="load")
            await page.wait_for_function("Array.from(document.images).every(i => i.complete)")
            yield page, refused
        finally:
            await browser.close()


async def screenshot(document: str, out: Path, *, width: int, max_height: int) -> list[str]:
    """Write `out` from the report at URL `document`; return the requests it made (refused)."""
    async with report_page(document, width=width) as (page, refused):
        height = await page.evaluate("document.documentElement.scrollHeight")
        clip = {"x": 0, "y": 0, "width": width, "height": min(height, max_height)}
        await page.screenshot(path=str(out), clip=clip, full_page=True)
    return refused


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="runs/<thread> or its report.html")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--max-height", type=int, default=3000)
    args = parser.parse_args(argv)
    html = args.run_dir if args.run_dir.suffix == ".html" else args.run_dir / "report.html"
    if not html.is_file():
        print(f"screenshot_report: no report at {html}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = html.resolve().as_uri()
    refused = asyncio.run(
        screenshot(document, args.out, width=args.width, max_height=args.max_height)
    )
    for url in refused:
        print(f"screenshot_report: the report asked for {url} (refused)", file=sys.stderr)
    print(args.out)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
