// Live updates: the stream replays from the page's render-time position, so nothing that
// changed after rendering is missed; any event about this day re-fetches the board.
(function () {
  "use strict";
  const root = document.getElementById("dispatch-day");
  const day = root.dataset.day;
  const status = document.getElementById("live-status");
  const board = document.getElementById("board");
  let pending = null;

  function refresh() {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      const response = await fetch(root.dataset.boardUrl, {credentials: "same-origin"});
      if (response.ok) board.innerHTML = await response.text();
    }, 100);  // one fetch for a burst of events
  }

  function aboutThisDay(message) {
    const payload = message.payload || {};
    return payload.date === day || (payload.dates || []).includes(day) || message.type.startsWith("clinician.");
  }

  function describe(message) {
    const p = message.payload;
    switch (message.type) {
      case "optimize.queued": return `Optimize Day queued (job ${p.job_id})…`;
      case "optimize.started": return `Optimizing (job ${p.job_id})…`;
      case "optimize.retrying": return `Optimize Day failed, retrying: ${p.error}`;
      case "optimize.failed": return `Optimize Day failed: ${p.error}`;
      case "schedule.optimized":
        return `New plan v${p.version}: ${p.visits_assigned} visits routed, ${p.visits_unassigned} left out, ` +
               `${p.changed_visit_ids.length} changed; solved in ${p.solve_seconds.toFixed(1)} s.`;
      default: return null;
    }
  }

  const source = new EventSource(root.dataset.streamUrl);
  source.onopen = () => { status.textContent = "Live."; };
  source.onerror = () => {
    // CLOSED: the stream refused to reconnect (signed out, or the account was switched off).
    status.textContent = source.readyState === EventSource.CLOSED
      ? "Live updates stopped: you are signed out. Reload the page to sign in again."
      : "Live updates interrupted; reconnecting…";
  };
  source.addEventListener("signed-out", () => {  // deactivated, or signed out everywhere
    source.close();
    status.textContent = "Live updates stopped: you are signed out. Reload the page to sign in again.";
  });
  source.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (!aboutThisDay(message)) return;
    const text = describe(message);
    if (text) status.textContent = text;
    refresh();
  };

  document.getElementById("go-day").addEventListener("change", (event) => {
    if (event.target.value) window.location = root.dataset.dayUrl.replace("0000-00-00", event.target.value);
  });

  const form = document.getElementById("optimize-form");
  if (form) form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const response = await fetch(root.dataset.optimizeApi, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": form.csrfmiddlewaretoken.value},
      body: JSON.stringify({date: day}),
    });
    const body = await response.json();
    status.textContent = response.status === 202 ? `Optimize Day ${body.status} (job ${body.job_id})…`
                                                 : `Could not optimize: ${body.message}`;
  });
})();
