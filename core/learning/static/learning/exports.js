// Export bundles' progress, live: export.requested / .progress / .ready / .failed / .expired
// arrive on the requester's own channel and update that bundle's row (a bundle asked for
// elsewhere, in another tab or through the API, gets a row of its own); a ready bundle gets its
// download link.
(function () {
  "use strict";
  const panel = document.getElementById("export-bundles");
  if (!panel || !window.EventSource) return;
  const body = panel.querySelector("#bundle-list tbody");
  const TYPES = new Set(["export.requested", "export.progress", "export.ready", "export.failed", "export.expired"]);
  const TONE = { building: "busy", running: "busy", queued: "waiting", ready: "good", failed: "bad" };

  function stamp(when) {  // as the page writes it: 2026-03-09 14:05
    const two = function (n) { return String(n).padStart(2, "0"); };
    return when.getFullYear() + "-" + two(when.getMonth() + 1) + "-" + two(when.getDate()) + " " +
      two(when.getHours()) + ":" + two(when.getMinutes());
  }

  function cell(row, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function newRow(p) {
    const empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    const row = document.createElement("tr");
    row.dataset.bundleId = p.bundle_id;
    cell(row).textContent = p.title || "Bundle " + p.bundle_id;
    const progress = cell(row, "nowrap");
    const bar = document.createElement("progress");
    bar.setAttribute("aria-label", "Items made");
    const status = document.createElement("span");
    status.className = "bundle-status";
    const badge = document.createElement("span");
    badge.className = "badge";
    status.appendChild(badge);
    const count = document.createElement("span");
    count.className = "bundle-count small";
    progress.append(bar, " ", status, " ", count);
    cell(row, "nowrap").textContent = stamp(new Date());
    cell(row, "bundle-file");
    body.prepend(row);
    return row;
  }

  function update(p) {
    const row = panel.querySelector('tr[data-bundle-id="' + p.bundle_id + '"]') || newRow(p);
    row.dataset.status = p.status;
    const bar = row.querySelector("progress");
    bar.max = p.items_total;
    bar.value = p.items_done;
    bar.textContent = p.items_done + "/" + p.items_total;
    row.querySelector(".bundle-count").textContent = p.items_done + "/" + p.items_total;
    const badge = row.querySelector(".bundle-status .badge");
    badge.textContent = p.status;
    badge.dataset.status = p.status;
    badge.className = "badge badge-" + (TONE[p.status] || "neutral");
    const file = row.querySelector(".bundle-file");
    file.textContent = "";
    if (p.status === "ready") {
      const link = document.createElement("a");
      link.href = "/learning/review/exports/" + p.bundle_id + "/file";
      link.textContent = "Download";
      file.appendChild(link);
    }
    if (p.error) {
      const note = document.createElement("span");
      note.className = "small error";
      note.textContent = p.error;
      file.appendChild(note);
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
