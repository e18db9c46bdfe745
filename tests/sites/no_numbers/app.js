// Renders a feature table whose cells hold only words (no figures at all).
fetch("data/features.json")
  .then((r) => r.json())
  .then((data) => {
    const app = document.getElementById("app");
    const h1 = document.createElement("h1");
    h1.textContent = data.title;
    const p = document.createElement("p");
    p.textContent = data.intro;
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const col of data.columns) {
      const th = document.createElement("th");
      th.textContent = col;
      head.append(th);
    }
    const body = table.createTBody();
    for (const row of data.rows) {
      const tr = body.insertRow();
      for (const cell of row) tr.insertCell().textContent = cell;
    }
    app.append(h1, p, table);
    app.dataset.ready = "true";
  });
