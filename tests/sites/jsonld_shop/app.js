// Renders the catalogue from the shop's API once the page has loaded: names, photos, links.
(function () {
  fetch("api/catalogue.json")
    .then(function (r) { return r.json(); })
    .then(function (data) {
      var box = document.getElementById("catalogue");
      box.innerHTML = "";
      data.items.forEach(function (item) {
        var card = document.createElement("article");
        card.className = "tile";
        card.innerHTML =
          '<img src="' + item.image + '" alt="">' +
          '<h2><a href="' + item.url + '">' + item.name + "</a></h2>" +
          '<p class="tagline">' + item.tagline + "</p>" +
          '<a class="cta" href="' + item.url + '">See details</a>';
        box.appendChild(card);
      });
      box.removeAttribute("aria-busy");
    });
})();
