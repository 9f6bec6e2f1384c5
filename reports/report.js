"use strict";
// Draws the report's figures from their JSON blocks and makes the front table sortable and
// downloadable as CSV. Hover details are stored once ("hover-data") and attached to every
// trace whose `meta` is "hover:<group>".
(function () {
  const json = (id) => JSON.parse(document.getElementById(id).textContent);
  const hover = json("hover-data");
  for (const div of document.querySelectorAll(".plotly-graph-div[data-figure]")) {
    const fig = json(div.dataset.figure);
    for (const trace of fig.data) {
      if (typeof trace.meta === "string" && trace.meta.startsWith("hover:")) {
        trace.customdata = hover[trace.meta.slice(6)];
      }
    }
    Plotly.newPlot(div, fig.data, fig.layout, { responsive: true, displaylogo: false });
  }

  const table = document.getElementById("front-table");
  if (!table) return;
  const data = json("front-data");
  const compare = (a, b) => {
    if (a === null || b === null) return (a === null) - (b === null);
    return typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(b);
  };
  let sortCol = -1, sortDir = 1;
  table.tHead.addEventListener("click", (event) => {
    const th = event.target.closest("th");
    if (!th) return;
    const col = Number(th.dataset.col);
    sortDir = col === sortCol ? -sortDir : 1;
    sortCol = col;
    const value = (tr) => data.rows[tr.dataset.row][col];
    const body = table.tBodies[0];
    body.append(...Array.from(body.rows).sort((a, b) => sortDir * compare(value(a), value(b))));
    for (const cell of th.parentNode.cells) cell.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
  });
  document.getElementById("front-csv").addEventListener("click", () => {
    const cell = (v) => {
      const s = v === null ? "" : String(v);
      return /[",\n]/.test(s) ? '"' + s.replaceAll('"', '""') + '"' : s;
    };
    const csv = [data.columns, ...data.rows].map((row) => row.map(cell).join(",")).join("\n");
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([csv + "\n"], { type: "text/csv" }));
    link.download = data.filename;
    link.click();
  });
})();
