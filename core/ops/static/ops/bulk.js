// A bulk action's page: its progress from GET /api/ops/bulk-actions/{id} every second until
// it has finished.
(function () {
  "use strict";
  const card = document.getElementById("bulk-action");
  if (!card) return;
  const field = (name) => card.querySelector('[data-field="' + name + '"]');

  function show(job) {
    card.dataset.status = job.status;
    field("status").textContent = job.status;
    field("progress").value = job.percent;
    field("progress").textContent = job.percent + "%";
    field("examined").textContent = job.examined;
    field("matched").textContent = job.matched;
    field("acted").textContent = job.acted;
    field("error").textContent = job.error;
  }

  async function refresh() {
    if (card.dataset.status === "succeeded" || card.dataset.status === "failed") return;
    try {
      const answer = await fetch("/api/ops/bulk-actions/" + card.dataset.bulkId,
                                 { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (answer.ok) show(await answer.json());
    } catch (error) {
      // the server is away for a moment: try again at the next tick
    }
    window.setTimeout(refresh, 1000);
  }
  window.setTimeout(refresh, 1000);
})();
