// aspflow console: progressive enhancement only. Every page works without this script; with
// it, a case page follows the case live: on each event the server announces (server-sent
// events from /cases/{id}/live), the page is fetched again and its live parts replaced.
(function () {
  "use strict";
  var live = document.querySelector("[data-live]");
  if (!live || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var busy = false;
  var again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.pathname, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var before = {};
        document.querySelectorAll("#timeline > li").forEach(function (li) { before[li.id] = true; });
        document.querySelectorAll("[data-refresh]").forEach(function (el) {
          var fresh = el.id && doc.getElementById(el.id);
          if (fresh) { el.innerHTML = fresh.innerHTML; }
        });
        document.querySelectorAll("#timeline > li").forEach(function (li) {
          if (!before[li.id]) { li.classList.add("new"); }
        });
      })
      .catch(function () { /* the next event or a reload will bring the page up to date */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }
  var source = new EventSource(live.getAttribute("data-live"));
  source.addEventListener("recorded", refresh);
})();
