// Export bundles' progress, live: export.progress / .ready / .failed / .expired arrive on the
// requester's own channel and update that bundle's row; a ready bundle gets its download link.
(function () {
  "use strict";
  const panel = document.getElementById("export-bundles");
  if (!panel || !window.EventSource) return;
  const TYPES = new Set(["export.requested", "export.progress", "export.ready", "export.failed", "export.expired"]);

  function update(p) {
    const row = panel.querySelector('tr[data-bundle-id="' + p.bundle_id + '"]');
    if (!row) { if (p.status === "ready") window.location.reload(); return; }  // another tab's new bundle
    row.dataset.status = p.status;
    const bar = row.querySelector("progress");
    bar.max = p.items_total;
    bar.value = p.items_done;
    bar.textContent = p.items_done + "/" + p.items_total;
    row.querySelector(".bundle-count").textContent = p.items_done + "/" + p.items_total;
    const badge = row.querySelector(".bundle-status .badge");
    if (badge) { badge.textContent = p.status; badge.dataset.status = p.status; }
    if (p.status === "ready") {
      const cell = row.querySelector(".bundle-file");
      cell.textContent = "";
      const link = document.createElement("a");
      link.href = "/learning/review/exports/" + p.bundle_id + "/file";
      link.textContent = "Download";
      cell.appendChild(link);
    }
    if (p.error) {
      const note = document.createElement("span");
      note.className = "small error";
      note.textContent = " " + p.error;
      row.cells[1].appendChild(note);
    }
  }

  const stream = new EventSource(panel.dataset.streamUrl);
  stream.addEventListener("signed-out", function () { stream.close(); });
  stream.onmessage = function (message) {
    let event;
    try { event = JSON.parse(message.data); } catch (e) { return; }
    if (TYPES.has(event.type) && event.payload) update(event.payload);
  };
})();
