/* Nimbus Vault (fictional) — renders each page's content from data/<page>.json,
   but only after the visitor has answered the cookie banner. */
(function () {
  "use strict";

  var CONSENT_KEY = "nv_cookie_consent";

  function readConsent() {
    try {
      var stored = window.localStorage.getItem(CONSENT_KEY);
      if (stored) return stored;
    } catch (e) { /* storage may be disabled */ }
    var match = document.cookie.match(/(?:^|; )nv_cookie_consent=([^;]*)/);
    return match ? match[1] : null;
  }

  function storeConsent(value) {
    try { window.localStorage.setItem(CONSENT_KEY, value); } catch (e) { /* ignore */ }
    document.cookie = CONSENT_KEY + "=" + value + "; path=/; max-age=31536000; SameSite=Lax";
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function renderTable(block) {
    var table = el("table", { "class": "data-table" });
    if (block.caption) table.appendChild(el("caption", {}, block.caption));
    var thead = el("thead");
    var headRow = el("tr");
    block.columns.forEach(function (c) { headRow.appendChild(el("th", { scope: "col" }, c)); });
    thead.appendChild(headRow);
    table.appendChild(thead);
    var tbody = el("tbody");
    block.rows.forEach(function (row) {
      var tr = el("tr");
      row.forEach(function (cell, i) { tr.appendChild(el(i === 0 ? "th" : "td", i === 0 ? { scope: "row" } : {}, cell)); });
      tbody.appendChild(tr);
    });
    table.appendChild(tbody);
    return table;
  }

  function renderBlock(block) {
    switch (block.type) {
      case "h1": case "h2": case "p": return el(block.type, {}, block.text);
      case "link":
        var p = el("p", { "class": "more" });
        p.appendChild(el("a", { href: block.href }, block.text));
        return p;
      case "ul":
        var ul = el("ul");
        block.items.forEach(function (item) { ul.appendChild(el("li", {}, item)); });
        return ul;
      case "table": return renderTable(block);
      case "grid":
        var grid = el("div", { "class": "feature-grid" });
        block.items.forEach(function (item) {
          var card = el("div", { "class": "feature" });
          card.appendChild(el("h3", {}, item.title));
          card.appendChild(el("p", {}, item.text));
          grid.appendChild(card);
        });
        return grid;
      case "quote":
        var figure = el("figure", { "class": "customer-quote" });
        var quote = el("blockquote");
        quote.appendChild(el("p", {}, "\u201c" + block.text + "\u201d"));
        figure.appendChild(quote);
        figure.appendChild(el("figcaption", {}, block.name + ", " + block.role));
        return figure;
      case "faq":
        var faq = el("div", { "class": "faq" });
        block.items.forEach(function (item) {
          faq.appendChild(el("h3", { "class": "faq-q" }, item.q));
          faq.appendChild(el("p", { "class": "faq-a" }, item.a));
        });
        return faq;
      default: return el("div");
    }
  }

  function renderContent() {
    document.body.classList.remove("consent-pending");
    var page = document.body.getAttribute("data-page") || "index";
    var app = document.getElementById("app");
    fetch("data/" + page + ".json")
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var article = el("article", { "class": "content" });
        data.blocks.forEach(function (b) { article.appendChild(renderBlock(b)); });
        app.appendChild(article);
        app.setAttribute("data-ready", "true");
      });
  }

  function showBanner() {
    document.body.classList.add("consent-pending");
    var overlay = el("div", { id: "cookie-consent", "class": "consent-overlay", role: "dialog",
                              "aria-modal": "true", "aria-labelledby": "consent-title" });
    var box = el("div", { "class": "consent-box" });
    box.appendChild(el("h2", { id: "consent-title" }, "We value your privacy"));
    box.appendChild(el("p", {}, "We use cookies to run this site, measure traffic and show you relevant offers. Choose whether to allow optional cookies to continue."));
    var actions = el("div", { "class": "consent-actions" });
    var accept = el("button", { type: "button", "class": "btn-accept" }, "Accept all");
    var reject = el("button", { type: "button", "class": "btn-reject" }, "Reject");
    actions.appendChild(reject);
    actions.appendChild(accept);
    box.appendChild(actions);
    overlay.appendChild(box);
    document.body.appendChild(overlay);
    function choose(value) {
      storeConsent(value);
      overlay.parentNode.removeChild(overlay);
      renderContent();
    }
    accept.addEventListener("click", function () { choose("all"); });
    reject.addEventListener("click", function () { choose("essential"); });
  }

  if (readConsent()) {
    renderContent();
  } else {
    showBanner();
  }
})();
