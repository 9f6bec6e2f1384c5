"use strict";
// Draws the report's figures from their JSON blocks and makes the front table sortable and
// downloadable as CSV. Hover details are stored once ("hover-data") and attached to every
// trace whose `meta` is "hover:<group>" (all the group's rows) or "hover:<group>:<start>:<stop>"
// (a slice of them). A legend entry whose `meta` is "toggle:symbol:<code>" hides and shows the
// traces whose `meta` ends in "|symbol:<code>" (an activation format's points).
(function () {
  const json = (id) => JSON.parse(document.getElementById(id).textContent);
  const hover = json("hover-data");
  const fields = (meta) => (typeof meta === "string" ? meta.split("|") : []);
  const symbolOf = (trace) => {
    const field = fields(trace.meta).find((f) => f.startsWith("symbol:"));
    return field === undefined ? null : field.slice(7);
  };
  const toggleSymbol = (div, event) => {
    const meta = event.data[event.curveNumber].meta;
    if (typeof meta !== "string" || !meta.startsWith("toggle:symbol:")) return true;
    const code = meta.slice(14);
    const hide = event.data[event.curveNumber].visible !== "legendonly";
    const points = [];
    event.data.forEach((t, i) => { if (symbolOf(t) === code) points.push(i); });
    // a weight format hidden in the legend stays hidden when its activation symbol returns
    const lead = (t) => event.data.find((u) => u.legendgroup === t.legendgroup
                                             && u.showlegend !== false);
    const shown = points.map((i) => {
      const l = lead(event.data[i]);
      return hide ? false : (l && l.visible === "legendonly" ? "legendonly" : true);
    });
    Plotly.restyle(div, { visible: shown }, points);
    Plotly.restyle(div, { visible: hide ? "legendonly" : true }, [event.curveNumber]);
    return false;
  };
  for (const div of document.querySelectorAll(".plotly-graph-div[data-figure]")) {
    const fig = json(div.dataset.figure);
    for (const trace of fig.data) {
      const field = fields(trace.meta)[0];
      if (field && field.startsWith("hover:")) {
        const [group, start, stop] = field.slice(6).split(":");
        const rows = hover[group];
        trace.customdata = start === undefined ? rows : rows.slice(Number(start), Number(stop));
      }
    }
    Plotly.newPlot(div, fig.data, fig.layout, { responsive: true, displaylogo: false });
    div.on("plotly_legendclick", (event) => toggleSymbol(div, event));
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
