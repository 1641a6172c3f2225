// The learner's streak and reputation on the Learn page, kept current by the live stream:
// streak.extended when a graded submission counts a new day, streak.lapsed when the rollover
// ends a run, reputation.changed / reputation.repaired when their points move.
(function () {
  "use strict";
  const box = document.getElementById("streak");
  if (!box || !window.EventSource) return;
  const current = document.getElementById("streak-current");
  const longest = document.getElementById("streak-longest");
  const points = document.getElementById("reputation-points");
  const stream = new EventSource(box.dataset.streamUrl);
  stream.addEventListener("signed-out", function () { stream.close(); });
  stream.onmessage = function (message) {
    let event;
    try { event = JSON.parse(message.data); } catch (e) { return; }
    if (event.type === "reputation.changed" || event.type === "reputation.repaired") {
      points.textContent = String(event.payload.points);
      return;
    }
    if (event.type !== "streak.extended" && event.type !== "streak.lapsed") return;
    current.textContent = String(event.payload.current);
    longest.textContent = String(event.payload.longest);
  };
})();
