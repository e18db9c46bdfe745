// Client-rendered list: the first page of products on load, the next one on "Load more".
(function () {
  var next = 1;
  var list = document.getElementById("list");
  var more = document.getElementById("more");
  var slide = 0;
  document.querySelector(".hero-next").addEventListener("click", function () { slide += 1; });
  function load() {
    more.disabled = true;
    fetch("api/page-" + next + ".json")
      .then(function (r) { return r.json(); })
      .then(function (data) {
        data.items.forEach(function (item) {
          var card = document.createElement("div");
          card.className = "result";
          card.innerHTML =
            '<a href="' + item.url + '"><img src="' + item.image + '" alt=""></a>' +
            '<div class="result-name">' + item.name + "</div>" +
            '<div class="facts"><span>Capacity: ' + item.capacity + "</span><br>" +
            "<span>Bays: " + item.bays + "</span></div>" +
            '<div class="result-price">' + item.price + "</div>";
          list.appendChild(card);
        });
        next += 1;
        if (data.more) { more.disabled = false; } else { more.parentNode.remove(); }
      });
  }
  more.addEventListener("click", load);
  load();
})();
