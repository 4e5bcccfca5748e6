// Countersign's pages work without this script. With it: times read in
// the viewer's own time zone, and the inbox refreshes by itself.
"use strict";
(function () {
  function localTimes(root) {
    var format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
    root.querySelectorAll("time[datetime]").forEach(function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (!isNaN(when)) { node.title = node.textContent; node.textContent = format.format(when); }
    });
  }

  function refresh(list) {
    var url = list.getAttribute("data-refresh");
    var every = parseInt(list.getAttribute("data-interval"), 10) || 1500;
    var last = null;
    function tick() {
      if (document.hidden) { return; }
      fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
        // A session that ended sends the sign-in page: show it.
        if (response.redirected || response.status === 401) { window.location.reload(); return null; }
        return response.ok ? response.text() : null;
      }).then(function (html) {
        if (html !== null && html !== last) {
          last = html;
          list.innerHTML = html;
          localTimes(list);
        }
      }).catch(function () { /* offline for a moment: try again at the next tick */ });
    }
    setInterval(tick, every);
    document.addEventListener("visibilitychange", tick);
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    var zone = document.getElementById("tz");
    if (zone) { zone.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone; }
    document.querySelectorAll("[data-refresh]").forEach(refresh);
  });
})();
