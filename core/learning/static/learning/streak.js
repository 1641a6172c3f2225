// The learner's streak on the Learn page, kept current by the live stream: streak.extended
// when a graded submission counts a new day, streak.lapsed when the rollover ends a run.
(function () {
  "use strict";
  const box = document.getElementById("streak");
  if (!box || !window.EventSource) return;
  const current = document.getElementById("streak-current");
  const longest = document.getElementById("streak-longest");
  const stream = new EventSource(box.dataset.streamUrl);
  stream.addEventListener("signed-out", function () { stream.close(); });
  stream.onmessage = function (message) {
    let event;
    try { event = JSON.parse(message.data); } catch (e) { return; }
    if (event.type !== "streak.extended" && event.type !== "streak.lapsed") return;
    current.textContent = String(event.payload.current);
    longest.textContent = String(event.payload.longest);
  };
})();
