// The exports page: the progress of exports being made, from GET /api/audit/exports/{id}
// every two seconds; the page reloads when one finishes, to show its file.
(function () {
  "use strict";
  const rows = () => Array.from(document.querySelectorAll("tr[data-export]"))
    .filter((row) => row.dataset.status === "queued" || row.dataset.status === "running");

  async function refresh() {
    const waiting = rows();
    if (waiting.length === 0) return;
    for (const row of waiting) {
      let answer;
      try {
        answer = await fetch(`/api/audit/exports/${row.dataset.export}`, { credentials: "same-origin" });
      } catch (error) {
        continue; // the server is away for a moment: try again at the next tick
      }
      if (!answer.ok) continue;
      const made = await answer.json();
      if (made.status !== row.dataset.status && made.status !== "running") {
        window.location.reload();
        return;
      }
      row.dataset.status = made.status;
      const estimate = made.rows_estimate ? ` of about ${made.rows_estimate.toLocaleString()}` : "";
      row.querySelector('[data-field="rows"]').textContent = `${made.rows_done.toLocaleString()}${estimate}`;
      row.querySelector('[data-field="status"]').textContent = made.status;
    }
    window.setTimeout(refresh, 2000);
  }
  window.setTimeout(refresh, 2000);
})();
