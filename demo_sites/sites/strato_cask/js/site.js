// Strato Cask (fictional): every view is built from data/<view>.json.
// The tiers table is paginated in the browser, a few rows at a time.
document.addEventListener("DOMContentLoaded", async () => {
  const root = document.getElementById("root");
  const view = root.dataset.view || "index";
  const response = await fetch(`data/${view}.json`);
  const data = await response.json();

  const h = (tag, text, cls) => {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  };

  const section = h("section", undefined, "view");
  section.append(h("h1", data.title));
  for (const text of data.paragraphs || []) section.append(h("p", text));
  if (data.list) {
    const ul = h("ul");
    for (const item of data.list) ul.append(h("li", item));
    section.append(ul);
  }
  if (data.table) section.append(pagedTable(data.table, h));
  for (const block of data.sections || []) section.append(contentBlock(block, h));
  for (const link of data.links || []) {
    const a = h("a", link.text, "button-link");
    a.href = link.href;
    section.append(h("p")).append(a);
  }
  root.append(section);
  root.dataset.ready = "true";
});

function pagedTable(spec, h) {
  const wrapper = h("div", undefined, "table-block");
  const table = h("table", undefined, "tiers");
  table.append(h("caption", spec.caption));
  const head = h("thead");
  const headRow = h("tr");
  for (const col of spec.columns) headRow.append(h("th", col));
  head.append(headRow);
  const body = h("tbody");
  table.append(head, body);

  const pages = Math.max(1, Math.ceil(spec.rows.length / spec.pageSize));
  const pager = h("div", undefined, "pager");
  const prev = h("button", "‹ Previous", "pager-prev");
  const status = h("span", "", "pager-status");
  const next = h("button", "Next ›", "pager-next");
  prev.type = next.type = "button";
  pager.append(prev, status, next);

  let current = 1;
  const show = (n) => {
    current = Math.min(Math.max(1, n), pages);
    body.replaceChildren();
    for (const row of spec.rows.slice((current - 1) * spec.pageSize, current * spec.pageSize)) {
      const tr = h("tr");
      for (const col of spec.columns) tr.append(h("td", row[col]));
      body.append(tr);
    }
    status.textContent = `Page ${current} of ${pages}`;
    prev.disabled = current === 1;
    next.disabled = current === pages;
  };
  prev.addEventListener("click", () => show(current - 1));
  next.addEventListener("click", () => show(current + 1));
  show(1);
  wrapper.append(table, pager);
  return wrapper;
}

function contentBlock(spec, h) {
  const block = h("div", undefined, "content-block");
  block.append(h("h2", spec.heading));
  for (const text of spec.paragraphs || []) block.append(h("p", text));
  if (spec.items) {
    const grid = h("div", undefined, "feature-grid");
    for (const item of spec.items) {
      const card = h("div", undefined, "feature-card");
      card.append(h("h3", item.title), h("p", item.text));
      grid.append(card);
    }
    block.append(grid);
  }
  for (const quote of spec.quotes || []) {
    const figure = h("figure", undefined, "referenz");
    const text = h("blockquote");
    text.append(h("p", `„${quote.text}“`));
    figure.append(text, h("figcaption", `${quote.name}, ${quote.role}`));
    block.append(figure);
  }
  for (const entry of spec.faq || []) block.append(h("h3", entry.q), h("p", entry.a));
  return block;
}
