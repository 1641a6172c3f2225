// "Due today" on the review page (learn.js keeps the Learn page's), kept current by the live stream: the learner's
// answers (from any tab), a lesson marked done, and the nightly build of their queue each
// carry the new count (core/learning/review.py).
(function () {
  "use strict";
  const box = document.getElementById("due-today");
  if (!box || !window.EventSource) return;
  const count = document.getElementById("due-count");
  const types = ["review.answered", "review.queue_built", "lesson.finished"];
  const stream = new EventSource(box.dataset.streamUrl);
  stream.addEventListener("signed-out", function () { stream.close(); });
  stream.onmessage = function (message) {
    let event;
    try { event = JSON.parse(message.data); } catch (e) { return; }
    if (types.indexOf(event.type) < 0 || !event.payload || typeof event.payload.due !== "number") return;
    count.textContent = String(event.payload.due);
  };
})();
