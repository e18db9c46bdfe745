// Shared chrome of every page: a consent banner that covers the page until accepted, and
// content rendered from the page's JSON island a moment after load (as storefronts do).
(function () {
  var banner = document.createElement('div');
  banner.className = 'consent-layer';
  banner.setAttribute('role', 'dialog');
  banner.innerHTML = '<p>Skyline Locker and 14 partners use cookies for analytics.</p>' +
    '<button type="button" class="btn-primary">Accept all</button>' +
    '<button type="button" class="btn-link">Manage choices</button>';
  document.body.appendChild(banner);
  banner.querySelector('.btn-primary').addEventListener('click', function () {
    banner.remove();
  });
  var island = document.getElementById('page-data');
  if (!island) { return; }
  var data = JSON.parse(island.textContent);
  setTimeout(function () {
    var root = document.getElementById('content');
    root.innerHTML = '';
    var grid = document.createElement('div');
    grid.className = 'plan-grid';
    data.plans.forEach(function (plan) {
      var card = document.createElement('article');
      card.className = 'plan-card';
      card.innerHTML = '<h3></h3><p class="amount"></p><p class="quota"></p>' +
        '<a class="btn" href="#signup">Choose plan</a>';
      card.querySelector('h3').textContent = plan.name;
      card.querySelector('.amount').textContent = plan.price;
      card.querySelector('.quota').textContent = plan.storage;
      grid.appendChild(card);
    });
    root.appendChild(grid);
    data.notes.forEach(function (text) {
      var p = document.createElement('p');
      p.textContent = text;
      root.appendChild(p);
    });
  }, 40);
})();
