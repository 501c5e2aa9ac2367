/* Omni CRM: show <time class="omni-time" datetime="...Z"> in the reader's local time.
   Without script the server's readable UTC text stays. */
(function () {
  function localise(root) {
    var nodes = (root || document).querySelectorAll("time.omni-time[datetime]");
    for (var i = 0; i < nodes.length; i++) {
      var t = nodes[i];
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) { continue; }
      t.title = t.textContent;
      t.textContent = d.toLocaleString(undefined, {year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"});
    }
  }
  window.omniLocalise = localise;
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", function () { localise(); }); }
  else { localise(); }
})();
