// A reviewer's notifications: the latest from the API, then new ones as they arrive on the
// live stream (notification.created on the user's own channel). The stream is opened first
// and the list fetched second, so a notice that lands in between is not missed; ids dedupe.
(function () {
  "use strict";
  const panel = document.getElementById("notifications");
  if (!panel) return;
  const list = document.getElementById("notification-list");
  const status = document.getElementById("notifications-status");
  const seen = new Set();

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function item(n, fresh) {
    if (seen.has(n.id)) return;
    seen.add(n.id);
    const li = document.createElement("li");
    li.dataset.id = n.id;
    if (!n.read) li.className = "unread";
    const link = document.createElement("a");
    link.href = "/learning/review/versions/" + n.version_id + "/";
    link.textContent = n.message;
    li.appendChild(link);
    if (n.created_at) {
      const when = document.createElement("span");
      when.className = "muted small";
      when.textContent = " · " + new Date(n.created_at).toLocaleString();
      li.appendChild(when);
    }
    if (!n.read) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link small";
      button.textContent = "mark read";
      button.setAttribute("aria-label", "Mark read: " + n.message);
      button.style.marginLeft = ".5rem";
      button.addEventListener("click", async function () {
        const response = await fetch("/api/notifications/" + n.id + "/read", {
          method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrfToken() },
        });
        if (response.ok) { li.classList.remove("unread"); button.remove(); }
      });
      li.appendChild(button);
    }
    if (fresh) list.prepend(li); else list.appendChild(li);
  }

  async function load() {
    const response = await fetch(panel.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) { status.textContent = "Could not load notifications (" + response.status + ")."; return; }
    const notices = await response.json();
    for (const n of notices) item(n, false);
    status.textContent = notices.length ? "" : "No notifications yet.";
  }

  if (window.EventSource) {
    const stream = new EventSource(panel.dataset.streamUrl);
    stream.addEventListener("signed-out", function () { stream.close(); });  // deactivated
    stream.onmessage = function (message) {
      let event;
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if (event.type !== "notification.created") return;
      const p = event.payload || {};
      status.textContent = "";
      item({ id: p.notification_id, message: p.message, version_id: p.version_id, read: false,
             created_at: event.created_at }, true);
    };
  }
  load();
})();
