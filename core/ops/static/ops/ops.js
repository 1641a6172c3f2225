// Ops pages, live: every few seconds, fresh figures (JSON) and the heal-run rows (HTML the
// server renders with the page's own template). Nothing with focus is replaced: figures are
// text, the runs table has no controls, and a repair button is only enabled or disabled.
(function () {
  "use strict";
  const status = document.getElementById("live-status");
  if (!status) return;
  const every = Number(status.dataset.refreshMs) || 3000;
  const runs = document.getElementById("heal-runs");
  let timer = null;

  function age(seconds) {
    const s = Math.max(Number(seconds) || 0, 0);
    if (s < 10) return s ? s.toFixed(1) + " s" : "0 s";
    if (s < 60) return Math.round(s) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function lookup(data, path) {
    return path.split(".").reduce((value, key) => (value == null ? undefined : value[key]), data);
  }

  function workers(element, data) {
    const alive = data.platform.workers;
    element.textContent = "";
    if (alive === null || alive === undefined) {
      const e = document.createElement("span");
      e.className = "error";
      e.textContent = data.platform.workers_error || "unknown";
      element.appendChild(e);
    } else if (!alive.length) {
      const e = document.createElement("span");
      e.className = "error";
      e.textContent = "no worker answered";
      element.appendChild(e);
    } else {
      for (const name of alive) {
        const b = document.createElement("span");
        b.className = "badge badge-good";
        b.dataset.status = "alive";
        b.textContent = name;
        element.append(b, " ");
      }
    }
  }

  function showFigures(data) {
    for (const element of document.querySelectorAll("[data-figure]")) {
      const path = element.dataset.figure;
      if (path.startsWith("platform.") && !data.platform) continue;
      if (element.dataset.format === "workers") { workers(element, data); continue; }
      const value = lookup(data, path);
      element.textContent = value === null || value === undefined ? "—"
        : element.dataset.format === "age" ? age(value) : String(value);
    }
    for (const element of document.querySelectorAll("[data-alert-when]")) {
      element.classList.toggle("alert", Number(lookup(data, element.dataset.alertWhen)) > 0);
    }
    const paused = document.getElementById("paused-changed");
    if (paused && data.platform && data.platform.paused_queues) {
      paused.hidden = paused.dataset.paused === data.platform.paused_queues.join(",");
    }
    const table = document.querySelector("#dead-letters table[data-rendered-count]");
    const changed = document.getElementById("dead-letters-changed");
    if (table && changed) changed.hidden = Number(table.dataset.renderedCount) === data.agency.dead_letters;
    for (const button of document.querySelectorAll("[data-repair]")) {
      const name = button.dataset.repair;
      const run = (data.dry_runs || {})[name];
      const hint = document.querySelector('[data-repair-hint="' + name + '"]');
      button.disabled = !run;
      if (hint) hint.textContent = run ? "Dry run #" + run.id + " would repair " + run.repaired + " of " + run.examined + " examined."
                                       : "Run a dry run first.";
    }
  }

  async function refresh() {
    const figuresUrl = status.dataset.figuresUrl;
    const rowsUrl = status.dataset.rowsUrl;
    const asked = [];
    if (figuresUrl) asked.push(fetch(figuresUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => { if (!r.ok) throw new Error("figures " + r.status); return r.json(); }).then(showFigures));
    if (rowsUrl && runs) asked.push(fetch(rowsUrl, { credentials: "same-origin" })
      .then((r) => { if (!r.ok) throw new Error("runs " + r.status); return r.text(); })
      .then((html) => { if (runs.innerHTML.trim() !== html.trim()) runs.innerHTML = html; }));
    try {
      await Promise.all(asked);
      status.textContent = "Live · updated " + new Date().toLocaleTimeString();
      status.classList.remove("error");
    } catch (error) {
      status.textContent = "Could not refresh (" + error.message + "); retrying…";
      status.classList.add("error");
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(async function () {
      if (!document.hidden) await refresh();
      schedule();
    }, every);
  }

  refresh().then(schedule);
})();

// The charts: redrawn from the server (the same template as the page's) every few tens of
// seconds while the page is open; a range link swaps them in place and keeps the URL in step.
(function () {
  "use strict";
  const panel = document.getElementById("chart-panel");
  if (!panel) return;
  const every = Number(panel.dataset.refreshMs) || 30000;

  function currentRange() {
    const charts = panel.querySelector(".charts");
    return charts ? charts.dataset.range : "1h";
  }

  async function draw(range) {
    try {
      const answer = await fetch(panel.dataset.chartsUrl + "?range=" + encodeURIComponent(range),
                                 { credentials: "same-origin" });
      if (answer.ok) panel.innerHTML = await answer.text();
    } catch (error) {
      // the server is away for a moment: the next tick tries again
    }
  }

  panel.addEventListener("click", function (event) {
    const link = event.target.closest("a[data-range]");
    if (!link) return;
    event.preventDefault();
    const url = new URL(window.location.href);
    url.searchParams.set("range", link.dataset.range);
    window.history.replaceState(null, "", url.pathname + url.search + "#charts");
    draw(link.dataset.range);
  });

  setInterval(function () { if (!document.hidden) draw(currentRange()); }, every);
})();
