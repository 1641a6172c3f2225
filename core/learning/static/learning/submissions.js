// Problem page: the learner's submissions table follows the grade box and the stream. Whenever
// problem.js shows news of a submission (queued, running, graded), or passes on a live event
// of any submission of this problem, the table is read again from the API.
(function () {
  "use strict";
  const body = document.getElementById("submissions");
  const grade = document.getElementById("grade");
  if (!body || !grade || !body.dataset.url) return;
  const TONES = { passed: "good", failed: "bad", error: "bad", timed_out: "bad", running: "busy", queued: "waiting" };
  let timer = null;

  function cell(row, text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (text instanceof Node) td.appendChild(text); else td.textContent = text;
    row.appendChild(td);
  }

  function badge(status) {
    const span = document.createElement("span");
    span.className = "badge badge-" + (TONES[status] || "neutral");
    span.dataset.status = status;
    span.textContent = status.replace("_", " ");
    return span;
  }

  async function refresh() {
    const response = await fetch(body.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const rows = (await response.json()).slice(0, 10).map(function (s) {
      const tr = document.createElement("tr");
      tr.dataset.id = s.id;
      cell(tr, String(s.id));
      cell(tr, new Date(s.created_at).toLocaleString(), "nowrap");
      const status = document.createElement("span");
      status.appendChild(badge(s.status));
      if (body.dataset.traceUrl) {  // for users who may read traces: the submission's whole path
        const link = document.createElement("a");
        link.className = "trace-link small";
        link.href = body.dataset.traceUrl + "?aggregate_type=submission&aggregate_id=" + encodeURIComponent(s.id);
        link.textContent = "Trace";
        status.append(" ", link);
      }
      cell(tr, status);
      cell(tr, s.summary && s.summary.total ? s.summary.passed + " / " + s.summary.total : "", "num");
      return tr;
    });
    if (rows.length) body.replaceChildren.apply(body, rows);
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }

  new MutationObserver(later).observe(grade, { childList: true, subtree: true, characterData: true });
  grade.addEventListener("submission-news", later);
})();
