// The learner's panels on the Learn page (and "Due today" on the review page), kept current by
// one live stream: the streak (streak.extended when a day counts, streak.lapsed when the
// rollover ends a run), the reputation (reputation.changed / reputation.repaired) and "Due
// today" (review.answered, review.queue_built, lesson.finished carry the new count). One
// EventSource for all three:
// each open stream counts against the per-user limit (LIVE_STREAMS_PER_USER).
(function () {
  "use strict";
  const streak = document.getElementById("streak");
  const due = document.getElementById("due-today");
  const source = streak || due;
  if (!source || !window.EventSource) return;
  function show(id, value) {
    const element = document.getElementById(id);
    if (element && typeof value === "number") element.textContent = String(value);
  }
  const dueTypes = ["review.answered", "review.queue_built", "lesson.finished"];
  const stream = new EventSource(source.dataset.streamUrl);
  stream.addEventListener("signed-out", function () { stream.close(); });
  stream.onmessage = function (message) {
    let event;
    try { event = JSON.parse(message.data); } catch (e) { return; }
    const p = event.payload || {};
    if (event.type === "streak.extended" || event.type === "streak.lapsed") {
      show("streak-current", p.current);
      show("streak-longest", p.longest);
    } else if (event.type === "reputation.changed" || event.type === "reputation.repaired") {
      show("reputation-points", p.points);
    } else if (dueTypes.indexOf(event.type) >= 0) {
      show("due-count", p.due);
    }
  };
})();
