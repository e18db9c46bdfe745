/* Cumulo Crate (fictional): the content panel is filled in late, after a short delay,
   from /api/<view>.json — the way a slow single-page app hydrates. */
(function () {
  var RENDER_DELAY_MS = 400;
  var box = document.getElementById("crate-content");
  var view = box.getAttribute("data-view");

  function escapeHtml(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;" }[c];
    });
  }

  function tableHtml(t) {
    var out = "<table class=\"packages\"><tbody><tr>";
    t.headers.forEach(function (h) { out += "<th>" + escapeHtml(h) + "</th>"; });
    out += "</tr>";
    t.rows.forEach(function (row) {
      out += "<tr>" + row.map(function (c) { return "<td>" + escapeHtml(c) + "</td>"; }).join("") + "</tr>";
    });
    return out + "</tbody></table>";
  }

  setTimeout(function () {
    fetch("/api/" + view + ".json")
      .then(function (r) { return r.json(); })
      .then(function (data) {
        var html = (data.html || []).join("\n");
        if (data.table) html += tableHtml(data.table);
        html += (data.after || []).join("\n");
        box.innerHTML = html;
        box.setAttribute("data-ready", "true");
      })
      .catch(function () {
        box.innerHTML = "<p class=\"error\">Sorry, this page could not be loaded.</p>";
      });
  }, RENDER_DELAY_MS);
})();
