// aspflow console: progressive enhancement only. Every page works without this script; with
// it, a case page follows the case live: on each event the server announces (server-sent
// events from /cases/{id}/live), the page is fetched again, the parts that changed are
// replaced (keeping open sections open and the focus where it was), new acts are appended to
// the timeline, and a status region tells screen readers what was recorded.
(function () {
  "use strict";
  // A refused form: take the reader to the refusal first.
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
  var live = document.querySelector("[data-live]");
  if (!live || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var busy = false;
  var again = false;

  function replace(el, fresh) {
    if (fresh.innerHTML === el.innerHTML) { return; }
    var open = [];
    el.querySelectorAll("details").forEach(function (d, i) { open[i] = d.open; });
    var active = document.activeElement;
    var href = active && el.contains(active) ? active.getAttribute("href") : null;
    el.innerHTML = fresh.innerHTML;
    el.querySelectorAll("details").forEach(function (d, i) { if (open[i]) { d.open = true; } });
    if (href) {
      var again = el.querySelector('[href="' + href + '"]');
      if (again) { again.focus(); }
    }
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(window.location.pathname, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-refresh]").forEach(function (el) {
          var fresh = el.id && doc.getElementById(el.id);
          if (fresh) { replace(el, fresh); }
        });
        var list = document.getElementById("timeline");
        var freshList = doc.getElementById("timeline");
        var added = [];
        if (list && freshList) {
          Array.prototype.forEach.call(freshList.children, function (li) {
            if (li.id && !document.getElementById(li.id)) {
              var item = document.importNode(li, true);
              item.classList.add("new");
              list.appendChild(item);
              var title = item.querySelector("h3");
              added.push(title ? title.textContent.trim() : li.id);
            }
          });
        }
        var news = document.getElementById("live-news");
        if (news && added.length) {
          news.textContent = news.getAttribute("data-news") + " " + added.join("; ");
        }
      })
      .catch(function () { /* the next event or a reload brings the page up to date */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var source = new EventSource(live.getAttribute("data-live"));
  source.addEventListener("recorded", refresh);
})();
