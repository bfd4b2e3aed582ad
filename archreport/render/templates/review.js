// archreport's visual diff: the baseline's and this report's blocks side by side, zoomed and
// panned together (buttons, Ctrl+wheel, drag), and a block's counterpart outlined on the other
// side while the pointer is on it. Without JavaScript each side scrolls on its own.
(function () {
  "use strict";
  var MIN = 0.05, MAX = 8, STEP = 1.25;

  function setup(fig) {
    var panes = Array.prototype.slice.call(fig.querySelectorAll(".diff-pane .viewport"));
    var svgs = panes.map(function (p) { return p.querySelector("svg"); });
    if (panes.length !== 2 || !svgs[0] || !svgs[1]) { return; }
    var sizes = svgs.map(function (s) { return [s.width.baseVal.value, s.height.baseVal.value]; });
    var label = fig.querySelector(".zoom-level");
    var scale = 1, following = false;

    // Where each pane looks, as a fraction of what it can scroll: the two drawings differ in
    // size only where the model changed, so the same fraction shows the same blocks.
    function fraction(p) {
      var w = p.scrollWidth - p.clientWidth, h = p.scrollHeight - p.clientHeight;
      return [w > 0 ? p.scrollLeft / w : 0, h > 0 ? p.scrollTop / h : 0];
    }
    function goTo(p, f) {
      p.scrollLeft = f[0] * (p.scrollWidth - p.clientWidth);
      p.scrollTop = f[1] * (p.scrollHeight - p.clientHeight);
    }
    function follow(from) {
      if (following) { return; }
      following = true;
      var f = fraction(from);
      panes.forEach(function (p) { if (p !== from) { goTo(p, f); } });
      requestAnimationFrame(function () { following = false; });
    }
    function apply(newScale) {
      var f = fraction(panes[0]);
      scale = Math.min(MAX, Math.max(MIN, newScale));
      svgs.forEach(function (svg, i) {
        var w = sizes[i][0] * scale, h = sizes[i][1] * scale;
        svg.setAttribute("width", w.toFixed(1));
        svg.setAttribute("height", h.toFixed(1));
        svg.style.width = w + "px";
        svg.style.height = h + "px";
      });
      following = true;
      panes.forEach(function (p) { goTo(p, f); });
      requestAnimationFrame(function () { following = false; });
      fig.dataset.scale = scale.toFixed(4);
      if (label) { label.textContent = Math.round(scale * 100) + " %"; }
    }
    // The scale at which both drawings fit their panes' width (and height, when asked).
    function fitting(height) {
      var best = MAX, tall = Math.max(200, window.innerHeight * 0.7);  // the panes' max-height
      panes.forEach(function (p, i) {
        best = Math.min(best, (p.clientWidth || sizes[i][0]) / sizes[i][0]);
        if (height) { best = Math.min(best, tall / sizes[i][1]); }
      });
      return Math.min(1, best);
    }
    function fit() { apply(fitting(true)); }

    var controls = fig.querySelector(".zoom-controls");
    if (controls) {
      controls.hidden = false;
      controls.addEventListener("click", function (ev) {
        var what = ev.target.getAttribute("data-zoom");
        if (what === "in") { apply(scale * STEP); }
        else if (what === "out") { apply(scale / STEP); }
        else if (what === "fit") { fit(); }
        else if (what === "reset") { apply(1); }
      });
    }
    panes.forEach(function (p) {
      p.addEventListener("scroll", function () { follow(p); });
      p.addEventListener("wheel", function (ev) {
        if (!ev.ctrlKey && !ev.metaKey) { return; }  // a plain wheel scrolls the page
        ev.preventDefault();
        apply(scale * (ev.deltaY < 0 ? STEP : 1 / STEP));
      }, { passive: false });
      var drag = null;
      p.addEventListener("mousedown", function (ev) {
        if (ev.button !== 0 || ev.target.closest("a")) { return; }
        drag = { x: ev.clientX, y: ev.clientY, left: p.scrollLeft, top: p.scrollTop };
        p.classList.add("dragging");
        ev.preventDefault();
      });
      window.addEventListener("mousemove", function (ev) {
        if (!drag) { return; }
        p.scrollLeft = drag.left - (ev.clientX - drag.x);
        p.scrollTop = drag.top - (ev.clientY - drag.y);
      });
      window.addEventListener("mouseup", function () { drag = null; p.classList.remove("dragging"); });
    });

    // "<slug>-diff-b-m3" on one side is "<slug>-diff-c-m3" on the other (diagram/diff.py).
    function counterpart(node) {
      var m = /^(.*-diff-)([bc])-(m\d+)$/.exec(node.id || "");
      if (!m) { return null; }
      var other = fig.querySelector('[id="' + CSS.escape(m[1] + (m[2] === "b" ? "c" : "b") + "-" + m[3]) + '"]');
      return other;
    }
    fig.addEventListener("mouseover", function (ev) {
      var node = ev.target.closest && ev.target.closest("g.node");
      fig.querySelectorAll("g.node.counterpart").forEach(function (n) { n.classList.remove("counterpart"); });
      var other = node && counterpart(node);
      if (other) { node.classList.add("counterpart"); other.classList.add("counterpart"); }
    });
    apply(fitting(false));  // readable at once: as wide as the panes, scrolled together
  }

  document.querySelectorAll("figure.diff-pair").forEach(setup);
})();
