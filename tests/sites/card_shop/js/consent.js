// A cookie overlay that covers the page until the visitor answers it.
(function () {
  if (document.cookie.indexOf("consent=1") >= 0) return;
  var shade = document.createElement("div");
  shade.className = "consent-shade";
  shade.setAttribute("role", "dialog");
  shade.setAttribute("aria-modal", "true");
  shade.style.cssText =
    "position:fixed;inset:0;background:rgba(0,0,0,.6);z-index:1000;display:flex;" +
    "align-items:center;justify-content:center";
  shade.innerHTML =
    '<div class="consent-box" style="background:#fff;padding:24px;max-width:420px">' +
    "<h2>We value your privacy</h2>" +
    "<p>We use 3 kinds of cookies (necessary, statistics: 13 months, marketing: 24 months).</p>" +
    '<button type="button" class="btn-settings">Settings</button> ' +
    '<button type="button" class="btn-accept">Accept all</button></div>';
  document.body.appendChild(shade);
  document.body.style.overflow = "hidden";
  shade.querySelector(".btn-accept").addEventListener("click", function () {
    document.cookie = "consent=1; path=/";
    shade.remove();
    document.body.style.overflow = "";
  });
})();
