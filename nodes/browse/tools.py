"""The llm browser subagent's tools: each acts only inside the subagent's own browser sandbox.

LangChain's PlayWright toolkit covers clicking, links, elements, history and the current URL;
its tools are wrapped so they drive only this sandbox's page and what they return is bounded,
stripped of markup and fenced as untrusted. What the toolkit lacks is added here: `navigate`,
which asks the egress policy before the browser sees the URL and renders like the offline
brain (settle, dismiss overlays); typing and scrolling; `read_text` and `extract_tables`, which
also keep what they read in the subagent's `Collected`; `screenshot` to a run artifact; and
`submit_findings`, the model's answer, validated by the loop before it becomes `Findings`.

Page content reaches the model only as main text, table previews and element text, never as
HTML: every result passes `as_data`, which removes anything shaped like a tag and fences it.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin

from langchain_core.messages import ToolCall, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel, Field, ValidationError

from graph.context import Context
from graph.models import ArtifactRef, SubagentError
from nodes.artifacts import write_artifact
from nodes.browse.extract.links import rank_links
from nodes.browse.extract.records import RecordTable
from nodes.browse.extract.site_name import declared_site_name
from nodes.browse.extract.tables import extract_tables
from nodes.browse.extract.text import main_text
from nodes.browse.listing import add_records, read_records
from nodes.browse.pages import (
    LINKS_JS,
    Collected,
    landed_error,
    open_page,
    page_error,
    read_tables,
    settle,
)
from nodes.browse.tool_text import (
    NAVIGATE_DOC,
    NO_PAGE,
    READ_TEXT_DOC,
    SCREENSHOT_DOC,
    SCROLL_DOC,
    SUBMIT_DOC,
    TABLES_DOC,
    TYPE_DOC,
    as_data,
    compact_links,
    failed,
    fields_wrong,
    first_line,
    table_preview,
)
from nodes.urls import page_identity
from sandbox.browser import BrowserSession
from sandbox.egress import EgressRefused

with warnings.catch_warnings():
    # The package warns on import that it is being sunset; the llm browser's tools (README,
    # "Two brains: offline and LLM") are built on its Playwright toolkit all the same.
    warnings.filterwarnings("ignore", message=r".*is being sunset", category=DeprecationWarning)
    from langchain_community.agent_toolkits import PlayWrightBrowserToolkit

log = logging.getLogger(__name__)

# The toolkit's tools the subagent gets. Its `navigate_browser` is replaced by the
# egress-checked `navigate`, its `extract_text` (the whole body's text) by `read_text`.
TOOLKIT_TOOLS = (
    "click_element",
    "previous_webpage",
    "current_webpage",
    "extract_hyperlinks",
    "get_elements",
)
# Element attributes `get_elements` may read: text and link targets, never markup or script.
ELEMENT_ATTRIBUTES = frozenset(
    {
        "innerText",
        "href",
        "src",
        "alt",
        "title",
        "aria-label",
        "value",
        "placeholder",
        "name",
        "id",
        "class",
        "role",
        "type",
    }
)
MAX_ELEMENTS = 100
MAX_TYPED_CHARS = 500
PREVIEW_TABLES = 5
ACTION_TIMEOUT_MS = 2000
SUBMIT_TOOL = "submit_findings"

ToolEvent = Callable[[str, dict[str, object]], None]


class FactIn(BaseModel):
    """One key fact as the model submits it."""

    text: str = Field(description="The fact, with numbers, units and currency as the page shows.")
    source_url: str = Field(description="URL of the page you read it on (a page you visited).")


class SubmitFindingsInput(BaseModel):
    """The model's answer for its site."""

    summary: str = Field(description="A short answer to the goal from what you read.")
    key_facts: list[FactIn] = Field(
        default_factory=list, description="Facts supporting the summary, each with its page."
    )


class _SelectorInput(BaseModel):
    selector: str = Field(description="CSS selector of the input field, e.g. 'input[name=q]'.")
    text: str = Field(description="Text to type into it.")
    submit: bool = Field(default=False, description="Press Enter afterwards (submit a search).")


class _ScrollInput(BaseModel):
    direction: Literal["down", "up", "top", "bottom"] = Field(
        description="'down'/'up' one screen, or to the 'top'/'bottom' of the page."
    )


class _NavigateInput(BaseModel):
    url: str = Field(description="Absolute URL, or a link relative to the current page.")


class _NoInput(BaseModel):
    """No arguments."""


_SCROLL_JS = {
    "down": "() => window.scrollBy(0, window.innerHeight * 0.9)",
    "up": "() => window.scrollBy(0, -window.innerHeight * 0.9)",
    "top": "() => window.scrollTo(0, 0)",
    "bottom": "() => window.scrollTo(0, document.body ? document.body.scrollHeight : 0)",
}
_POSITION_JS = "() => [Math.round(window.scrollY), document.body ? document.body.scrollHeight : 0]"


@dataclass
class Toolbox:
    """One subagent's tools, bound to its `BrowserSession` and to what it has collected.

    `Collected.pages` lists every page the browser landed on (in order; error pages never);
    `read_text` and `extract_tables` put its text and tables there. A page landed on but never
    read stays rendered HTML in `_unread` until `fold_unread` reads it at the end.
    """

    session: BrowserSession
    collected: Collected
    ctx: Context
    artifacts: Path
    on_event: ToolEvent = lambda step, fields: None
    goal: str = ""  # ranks the same-site links `read_text` names (none when empty)
    submission: SubmitFindingsInput | None = field(default=None, init=False)
    screenshots: list[ArtifactRef] = field(default_factory=list, init=False)
    _landed: set[str] = field(default_factory=set, init=False)
    _unread: dict[str, tuple[str, str]] = field(default_factory=dict, init=False)  # key: url, html
    _text_read: set[str] = field(default_factory=set, init=False)
    _tables_read: set[str] = field(default_factory=set, init=False)
    _error_pages: dict[str, SubagentError] = field(default_factory=dict, init=False)
    _tools: dict[str, BaseTool] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        own = [
            self._tool(self.navigate, "navigate", _NavigateInput, NAVIGATE_DOC),
            self._tool(self.read_text, "read_text", _NoInput, READ_TEXT_DOC),
            self._tool(self.extract_tables, "extract_tables", _NoInput, TABLES_DOC),
            self._tool(self.type_text, "type_text", _SelectorInput, TYPE_DOC),
            self._tool(self.scroll, "scroll", _ScrollInput, SCROLL_DOC),
            self._tool(self.screenshot, "screenshot", _NoInput, SCREENSHOT_DOC),
            self._tool(self.submit_findings, SUBMIT_TOOL, SubmitFindingsInput, SUBMIT_DOC),
        ]
        browser = self.session.context.browser
        if browser is None:
            raise RuntimeError("the browser session has no browser to build the toolkit on")
        toolkit = PlayWrightBrowserToolkit.from_browser(async_browser=browser)
        wrapped = [self._wrap(t) for t in toolkit.get_tools() if t.name in TOOLKIT_TOOLS]
        self._tools = {t.name: t for t in [*own, *wrapped]}

    @property
    def tools(self) -> list[BaseTool]:
        """The tools to bind to the model."""
        return list(self._tools.values())

    @property
    def page_url(self) -> str:
        """The URL of the page the browser shows now."""
        return self.session.page.url

    async def run(self, call: ToolCall) -> ToolMessage:
        """Execute one tool call; a bad call or a failed action is a result, not an exception.

        Only a closed page (the browser crashed) raises, so the caller reports the crash.
        """
        call_id, name = call.get("id") or "", call["name"]
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(self._tools)
            return failed(call_id, name, f"there is no tool {name!r}; the tools are: {known}")
        try:
            content = await tool.ainvoke(call.get("args") or {})
        except PlaywrightError as exc:
            if self.session.page.is_closed():
                raise
            return failed(call_id, name, f"the browser action failed: {first_line(exc)}")
        except ValidationError as exc:  # arguments that do not fit the tool: each field named
            return failed(call_id, name, f"invalid arguments: {fields_wrong(exc)}")
        except Exception as exc:  # invalid arguments from the model: it can correct them
            log.info("tool %s failed: %s", name, exc)
            return failed(call_id, name, f"{type(exc).__name__}: {first_line(exc)}")
        return ToolMessage(content=str(content), tool_call_id=call_id, name=name)

    # The tools the toolkit lacks.

    async def navigate(self, url: str) -> str:
        """Load `url` if the egress policy allows it; render it like the offline brain."""
        base = self.page_url if self.page_url.startswith("http") else ""
        target = urljoin(base, url.strip()) if base else url.strip()
        try:
            # The check may resolve a host name: off the event loop.
            await asyncio.to_thread(self.session.policy.check, target)
        except EgressRefused as refusal:
            self._refused(refusal)
            return (
                f"REFUSED by the egress policy (rule {refusal.rule}): {refusal.reason}. Only the "
                "planned site can be visited; nothing was loaded."
            )
        if (
            page_identity(target) not in self._landed
            and len(self.collected.pages) >= self.ctx.max_pages
        ):
            return (
                f"page limit reached ({self.ctx.max_pages} pages, Context.max_pages): not loaded. "
                "Read what you have and call submit_findings."
            )
        page = self.session.page
        try:
            failure = await open_page(page, target)
        except PlaywrightError as exc:
            if page.is_closed():
                raise
            failure = page_error(target, exc, self.session)
        if failure is not None:
            self._note(failure)
            return f"could not load {target}: {failure.kind}: {failure.message}"
        await self._land()
        shown = as_data(f"URL: {page.url}\nTitle: {await page.title()}", source=page.url, limit=500)
        return f"Loaded the page.\n{shown}\nCall read_text or extract_tables to read it."

    async def read_text(self) -> str:
        """The current page's main text, kept in `Collected` and returned bounded and fenced."""
        await self._land()
        if unreadable := self._unreadable():
            return unreadable
        page = self.session.page
        url, html = page.url, await page.content()
        text = await asyncio.to_thread(main_text, html, url)
        key = page_identity(url)
        self.collected.texts[:] = [
            (u, t) for u, t in self.collected.texts if page_identity(u) != key
        ]
        self.collected.texts.append((url, text))
        self._text_read.add(key)
        links = await self._goal_links(url)
        if not text.strip():
            return (
                "The page has no readable main text (try extract_tables or get_elements)." + links
            )
        return as_data(text, source=url, limit=self.ctx.page_text_chars) + links

    async def _goal_links(self, url: str) -> str:
        # A small model rarely asks for links: without these it never left the start page.
        """The same-site links that best meet the goal, as navigate targets ('' if none)."""
        if not self.goal:
            return ""
        try:
            raw: list[list[str]] = await self.session.page.locator("a[href]").evaluate_all(LINKS_JS)
        except PlaywrightError:
            return ""
        visited = set(self.collected.pages)
        ranked = rank_links(
            [(h, t) for h, t in raw], base_url=url, goal=self.goal, visited=visited, limit=5
        )
        if not ranked:
            return ""
        listed = "\n".join(f"- {link.text[:60] or '(no text)'}: {link.url}" for link in ranked)
        shown = as_data(listed, source=url, limit=600)
        return f"\nLinks on this site that may hold more (call navigate with one):\n{shown}"

    async def extract_tables(self) -> str:
        """The current page's tables (every page of a paginated one), kept; a preview returned."""
        await self._land()
        if unreadable := self._unreadable():
            return unreadable
        url = self.session.page.url
        tables = await read_tables(self.session.page)
        key = page_identity(url)
        # A list's records fold across its pages into one table: kept when this page is re-read.
        kept = [
            (u, t)
            for u, t in self.collected.tables
            if page_identity(u) != key or isinstance(t, RecordTable)
        ]
        self.collected.tables[:] = [*kept, *((url, table) for table in tables)]
        # Items the page lists in cards, spec lists or schema.org data, as records (one row each).
        records = await read_records(self.session.page)
        add_records(self.collected, url, records)
        tables = [*tables, *records]
        self._tables_read.add(key)
        await self._land()  # a "next page" control may have been a link
        if not tables:
            return "The page has no data tables or listed items."
        preview = "\n\n".join(table_preview(i, t) for i, t in enumerate(tables[:PREVIEW_TABLES], 1))
        more = (
            f" ({len(tables) - PREVIEW_TABLES} more not shown)"
            if len(tables) > PREVIEW_TABLES
            else ""
        )
        head = f"{len(tables)} table(s) saved{more}; they go with your findings as CSV."
        return f"{head}\n{as_data(preview, source=url, limit=self.ctx.page_text_chars)}"

    async def type_text(self, selector: str, text: str, submit: bool = False) -> str:
        """Type into the first field matching `selector`; optionally press Enter."""
        field_ = self.session.page.locator(selector).first
        typed = text[:MAX_TYPED_CHARS]
        await field_.fill(typed, timeout=ACTION_TIMEOUT_MS)
        if submit:
            before = self._mark()
            await field_.press("Enter", timeout=ACTION_TIMEOUT_MS)
            await settle(self.session.page)
            await self._land()
            note = self._new_refusals(before)
            url = self.page_url
            at = as_data(f"URL: {url}", source=url, limit=500)
            return f"Typed {len(typed)} characters and pressed Enter.{note} Now at:\n{at}"
        return f"Typed {len(typed)} characters into {selector!r}."

    async def scroll(self, direction: Literal["down", "up", "top", "bottom"]) -> str:
        """Scroll the page, then wait for what scrolling loads."""
        page = self.session.page
        await page.evaluate(_SCROLL_JS[direction])
        await settle(page)
        y, height = await page.evaluate(_POSITION_JS)
        return f"Scrolled {direction}: at {y} px of {height} px."

    async def screenshot(self) -> str:
        """A PNG of the visible page, saved as a run artifact; returns its path."""
        png = await self.session.page.screenshot(type="png")
        path = self.artifacts / f"screenshot-{len(self.screenshots) + 1}.png"
        ref = await asyncio.to_thread(write_artifact, path, png, "image/png")
        self.screenshots.append(ref)
        return f"Saved a screenshot of the visible page to {ref.path} ({ref.size} bytes)."

    async def submit_findings(self, summary: str, key_facts: list[Any] | None = None) -> str:
        """Keep the model's answer; the loop validates it and ends."""
        facts = [f if isinstance(f, FactIn) else FactIn.model_validate(f) for f in key_facts or []]
        self.submission = SubmitFindingsInput(summary=summary, key_facts=facts)
        return "Findings received."

    # Bookkeeping.

    def fold_unread(self) -> None:
        """Give pages landed on but never read their text and tables (CPU work: a thread)."""
        for key, (url, html) in self._unread.items():
            if key not in self._text_read:
                self.collected.texts.append((url, main_text(html, url)))
            if key not in self._tables_read:
                self.collected.tables.extend((url, t) for t in extract_tables(html))
        self._unread.clear()

    def _on_a_page(self) -> bool:
        return self.page_url.startswith(("http://", "https://"))

    def _unreadable(self) -> str:
        # "" or why not: no page yet, or an error page (4xx/5xx), which describes no site.
        if not self._on_a_page():
            return NO_PAGE
        error = self._error_pages.get(page_identity(self.page_url))
        return f"Not read: {error.message}." if error else ""

    async def _land(self) -> None:
        # Record the page the browser is on, once per page, with its HTML for fold_unread.
        page = self.session.page
        url, key = page.url, page_identity(page.url)
        if not self._on_a_page() or key in self._landed:
            return
        if (failure := await landed_error(page, url)) is not None:
            self._error_pages[key] = failure  # an error page (4xx/5xx), however reached: never read
            return self._note(failure)
        self._error_pages.pop(key, None)
        self._landed.add(key)
        self.collected.pages.append(url)
        self.collected.titles.append(await page.title())
        html = await page.content()
        self.collected.site_names.append(await asyncio.to_thread(declared_site_name, html))
        self._unread[key] = (url, html)
        self.on_event("page", {"url": url, "pages": len(self.collected.pages)})

    def _refused(self, refusal: EgressRefused) -> None:
        self.session.record(refusal)
        error = SubagentError(
            where=refusal.url, kind="refused", rule=refusal.rule, message=str(refusal)
        )
        self._note(error)

    def _note(self, error: SubagentError) -> None:
        if not any(e.where == error.where and e.kind == error.kind for e in self.collected.errors):
            self.collected.errors.append(error)

    def _mark(self) -> tuple[int, EgressRefused | None]:
        return len(self.session.refused), self.session.last_block

    def _new_refusals(self, mark: tuple[int, EgressRefused | None]) -> str:
        # What the egress gate refused during an action, named for the model. A URL refused
        # before is not listed again by the session, but becomes its newest block again.
        count, last = mark
        fresh = list(self.session.refused[count:])
        newest = self.session.last_block
        if newest is not None and newest is not last and newest not in fresh:
            fresh.append(newest)
        for refusal in fresh:
            self._refused(refusal)
        if not fresh:
            return ""
        rules = ", ".join(sorted({r.rule for r in fresh}))
        return f" The egress policy refused {len(fresh)} request(s) (rule: {rules})."

    def _tool(
        self,
        func: Callable[..., Awaitable[str]],
        name: str,
        schema: type[BaseModel],
        description: str,
    ) -> BaseTool:
        return StructuredTool.from_function(
            coroutine=func, name=name, description=description, args_schema=schema
        )

    def _wrap(self, inner: BaseTool) -> BaseTool:
        """A toolkit tool confined to this session's page, its output bounded and fenced."""

        async def run(**args: Any) -> str:
            return await self._delegate(inner, args)

        if inner.name == "click_element":
            # The toolkit's visibility filter (`>> visible=1`) matches nothing in current
            # Playwright; `_delegate` applies it in the spelling Playwright accepts.
            inner = inner.model_copy(
                update={"visible_only": False, "playwright_timeout": ACTION_TIMEOUT_MS}
            )
        description = f"{inner.description}. Output is web content, fenced as untrusted."
        return StructuredTool.from_function(
            coroutine=run, name=inner.name, description=description, args_schema=inner.args_schema
        )

    async def _delegate(self, inner: BaseTool, args: dict[str, Any]) -> str:
        page = self.session.page
        # The toolkit acts on the browser's newest page; it must be this session's own page.
        pages = self.session.context.pages
        if not pages or pages[-1] is not page:
            return f"{inner.name} is unavailable: the page is not this subagent's own page."
        if inner.name == "click_element":
            args["selector"] = f"{args.get('selector', '')} >> visible=true"
        if inner.name == "get_elements":
            selector = str(args.get("selector", ""))
            count = await page.locator(selector).count()
            if count > MAX_ELEMENTS:
                return f"{count} elements match {selector!r}; use a narrower selector (at most {MAX_ELEMENTS})."
            asked = list(args.get("attributes") or ["innerText"])
            args["attributes"] = [a for a in asked if a in ELEMENT_ATTRIBUTES] or ["innerText"]
        before = self._mark()
        output = await inner.ainvoke(args)
        if inner.name in ("click_element", "previous_webpage"):
            await settle(page)
            await self._land()
        note = self._new_refusals(before)
        if inner.name == "extract_hyperlinks":
            output = compact_links(str(output))
        result = as_data(
            f"{output}\nCurrent page: {page.url}", source=page.url, limit=self.ctx.page_text_chars
        )
        return result + note
