// Problem page: submit code to the API (202 + id), then show the grade as it arrives on the
// live stream (/live/stream, submission.* events on the learner's channel). A slow poll of
// the submission is the fallback when the stream is not connected: the grade lives in Postgres.
// The stream replays from the page's render-time position, and news of any submission of this
// problem (from another tab too) is passed on to the submissions table (submissions.js).
(function () {
  "use strict";
  const form = document.getElementById("submit-form");
  if (!form) return;
  const grade = document.getElementById("grade");
  const problemId = Number(form.dataset.problemId);
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let current = null;
  let pollTimer = null;

  function show(text, cls) {
    grade.textContent = "";
    const p = document.createElement("p");
    p.textContent = text;
    if (cls) p.className = cls;
    grade.appendChild(p);
  }

  function renderResult(sub) {
    show("Submission " + sub.id + ": " + sub.status +
         (sub.summary && sub.summary.total ? " (" + sub.summary.passed + " of " + sub.summary.total + " tests passed)" : ""),
         sub.status === "passed" ? "ok" : (sub.status === "queued" || sub.status === "running" ? "" : "error"));
    if (sub.error) { const e = document.createElement("p"); e.className = "error"; e.textContent = sub.error; grade.appendChild(e); }
    const last = sub.attempts && sub.attempts[sub.attempts.length - 1];
    if (last && last.tests && last.tests.length) {
      const list = document.createElement("ul");
      for (const t of last.tests) {
        const li = document.createElement("li");
        li.textContent = t.name + ": " + t.status + (t.duration_ms ? " (" + t.duration_ms + " ms)" : "");
        if (t.output) { const pre = document.createElement("pre"); pre.textContent = t.output; li.appendChild(pre); }
        list.appendChild(li);
      }
      grade.appendChild(list);
    }
  }

  async function refresh(id) {
    const response = await fetch(form.dataset.resultUrl + id, { headers: { Accept: "application/json" } });
    if (!response.ok) return null;
    const sub = await response.json();
    if (current === id) renderResult(sub);
    return sub;
  }

  function poll(id) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async function () {
      const sub = await refresh(id);
      if (sub && (sub.status === "queued" || sub.status === "running")) poll(id);
    }, 3000);
  }

  if (window.EventSource) {
    const stream = new EventSource(form.dataset.streamUrl || "/live/stream");
    stream.addEventListener("signed-out", function () { stream.close(); });  // deactivated
    stream.onmessage = function (message) {
      let event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (!event.payload || event.payload.problem_id !== problemId) return;
      grade.dispatchEvent(new CustomEvent("submission-news", { detail: event.payload }));
      if (event.payload.submission_id !== current) return;
      if (event.type === "submission.grading_started") show("Submission " + current + ": running…");
      if (event.type === "submission.graded") { clearTimeout(pollTimer); refresh(current); }
    };
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    show("Submitting…");
    const response = await fetch(form.dataset.url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: JSON.stringify({ source: form.elements.source.value }),
    });
    const body = await response.json().catch(function () { return {}; });
    if (response.status === 202) {
      current = body.id;
      show("Submission " + body.id + ": queued for grading…");
      poll(body.id);
    } else if (response.status === 429) {
      show((body.message || "Too many submissions.") + " Try again in " + response.headers.get("Retry-After") + " s.", "error");
    } else {
      show(body.message || ("Error " + response.status), "error");
    }
  });
})();
