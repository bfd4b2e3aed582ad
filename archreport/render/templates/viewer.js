// archreport's diagram viewer: zoom, pan and fit for the inline SVG diagrams,
// links between diagram nodes and table rows, and collapsible nested rows.
// Self-contained: a notebook output shown without JavaScript keeps its diagram
// at its natural size in a scrollable box, and every link still works.
//
// It works on a root: the document (report.html), or one notebook output's
// element (notebook.py runs this file inside a strict function whose `this` is
// that element, or null when it is not in the page: then nothing runs). Under an element root it touches nothing outside it, and leaves the
// page's URL alone, so two outputs in one notebook never act on each other.
// sections.js, which runs after it, unpacks packed sections and calls
// root.archreportViewer.setup() on what it unpacks.
(function (root) {
  "use strict";
  var MIN = 0.05, MAX = 8, STEP = 1.25;
  if (!root || root.archreportViewer) { return; }  // one viewer per root, however often the script runs
  var api = root.archreportViewer = {};
  var scoped = root !== document;

  // By attribute, not "#id": an id may start with a digit (a model named "3d-unet").
  function byId(id) {
    return root.querySelector('[id="' + CSS.escape(id) + '"]');
  }

  // `width`: the viewport's width when the caller knows it, so that setting up a diagram lays out
  // nothing (a NASNetLarge diagram takes Chromium a quarter of a second each time).
  function setupDiagram(fig, width) {
    var viewport = fig.querySelector(".viewport");
    var svg = viewport && viewport.querySelector("svg");
    if (!svg) { return; }
    var controls = fig.querySelector(".zoom-controls");
    var label = fig.querySelector(".zoom-level");
    var baseW = svg.width.baseVal.value, baseH = svg.height.baseVal.value;
    var scale = 1;

    function apply(newScale, cx, cy) {
      newScale = Math.min(MAX, Math.max(MIN, newScale));
      // Keep the diagram point under (cx, cy) (relative to the viewport) in
      // place while zooming. Measured on screen, so it also holds while the
      // diagram is narrower than the viewport and centred in it.
      var vr = viewport.getBoundingClientRect(), sr = svg.getBoundingClientRect();
      var px = (vr.left + cx - sr.left) / scale, py = (vr.top + cy - sr.top) / scale;
      resize(newScale);
      sr = svg.getBoundingClientRect();
      viewport.scrollLeft += sr.left + px * scale - (vr.left + cx);
      viewport.scrollTop += sr.top + py * scale - (vr.top + cy);
    }
    function resize(newScale) {
      scale = newScale;
      // baseW/baseH are CSS px (baseVal.value converts Graphviz's pt): unitless = px.
      svg.setAttribute("width", (baseW * scale).toFixed(1));
      svg.setAttribute("height", (baseH * scale).toFixed(1));
      svg.style.width = (baseW * scale) + "px";
      svg.style.height = (baseH * scale) + "px";
      fig.dataset.scale = scale.toFixed(4);
      if (label) { label.textContent = Math.round(scale * 100) + " %"; }
    }
    function fitted(w) {
      var h = Math.max(200, window.innerHeight * 0.8);
      return Math.min(1, (w || baseW) / baseW, h / baseH);
    }
    function fit() { apply(fitted(viewport.clientWidth), 0, 0); }
    if (controls) {
      controls.hidden = false;
      controls.addEventListener("click", function (ev) {
        var what = ev.target.getAttribute("data-zoom");
        var cx = viewport.clientWidth / 2, cy = viewport.clientHeight / 2;
        if (what === "in") { apply(scale * STEP, cx, cy); }
        else if (what === "out") { apply(scale / STEP, cx, cy); }
        else if (what === "fit") { fit(); }
        else if (what === "reset") { apply(1, cx, cy); }
      });
    }
    viewport.addEventListener("wheel", function (ev) {
      if (!ev.ctrlKey && !ev.metaKey) { return; }  // plain wheel scrolls the page
      ev.preventDefault();
      var r = viewport.getBoundingClientRect();
      apply(scale * (ev.deltaY < 0 ? STEP : 1 / STEP), ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
    viewport.addEventListener("mousedown", function (ev) {
      if (ev.button !== 0 || ev.target.closest("a")) { return; }
      drag = { viewport: viewport, x: ev.clientX, y: ev.clientY, left: viewport.scrollLeft, top: viewport.scrollTop };
      viewport.classList.add("dragging");
      ev.preventDefault();
    });
    width = width || viewport.clientWidth;
    resize(baseW > width ? fitted(width) : 1);
    fig.archreportZoom = { apply: apply, fit: fit, scale: function () { return scale; } };
  }

  // The diagram being dragged, if any: one pair of window listeners for every diagram, so a section
  // that sections.js packs away again leaves nothing behind.
  var drag = null;
  window.addEventListener("mousemove", function (ev) {
    if (!drag) { return; }
    drag.viewport.scrollLeft = drag.left - (ev.clientX - drag.x);
    drag.viewport.scrollTop = drag.top - (ev.clientY - drag.y);
  });
  window.addEventListener("mouseup", function () {
    if (drag) { drag.viewport.classList.remove("dragging"); }
    drag = null;
  });

  function flash(el) {
    el.classList.add("flash");
    setTimeout(function () { el.classList.remove("flash"); }, 1600);
  }

  // The node that links to row `anchor` in diagram `fig`, centred in the diagram's box and flashed; or null.
  function centreNode(fig, anchor) {
    var target = null;
    fig.querySelectorAll("svg a").forEach(function (a) {
      var href = a.getAttribute("href") || a.getAttribute("xlink:href");
      if (href === "#" + anchor) { target = a.closest("g.node") || a; }
    });
    if (!target) { return null; }
    var viewport = fig.querySelector(".viewport");
    var nr = target.getBoundingClientRect(), vr = viewport.getBoundingClientRect();
    viewport.scrollLeft += nr.left - vr.left - (vr.width - nr.width) / 2;
    viewport.scrollTop += nr.top - vr.top - (vr.height - nr.height) / 2;
    flash(target);
    return target;
  }

  // Table row -> diagram node: scroll the diagram so the node is centred.
  function showNode(ev) {
    var link = ev.target.closest("a.to-diagram");
    if (!link) { return; }
    var fig = byId(link.getAttribute("href").slice(1));
    var anchor = link.getAttribute("data-node");
    if (!fig) { return; }
    if (scoped) { ev.preventDefault(); }  // never the notebook page's URL
    fig.scrollIntoView({ block: "start" });
    if (!centreNode(fig, anchor)) { return; }  // a row without a node of its own (a sub-layer): the diagram, at least
    ev.preventDefault();
    if (!scoped) { history.replaceState(null, "", "#" + fig.id); }
  }

  // Diagram node -> table row inside a notebook output: scroll, flash, keep the page's URL.
  function showRowInRoot(ev) {
    var a = ev.target.closest("svg a");
    var href = a && (a.getAttribute("href") || a.getAttribute("xlink:href"));
    if (!href || href.charAt(0) !== "#") { return; }
    ev.preventDefault();
    var row = api.findRow(href.slice(1));
    if (!row) { return; }  // a compact output has no table
    row.scrollIntoView({ block: "center" });
    flash(row);
  }

  // Every row of a layer table in order; sections.js keeps the rows of a table it shows in groups.
  function rowsOf(table) {
    return table.archreportRows || [].slice.call(table.tBodies[0].rows);
  }

  function toggleRows(ev) {
    var btn = ev.target.closest("button.toggle");
    if (!btn) { return; }
    var row = btn.closest("tr"), depth = +row.getAttribute("data-depth"), table = row.closest("table");
    var rows = rowsOf(table);
    var open = btn.getAttribute("aria-expanded") !== "true";
    btn.setAttribute("aria-expanded", open ? "true" : "false");
    btn.textContent = open ? "▾" : "▸";
    for (var i = rows.indexOf(row) + 1; i < rows.length && +rows[i].getAttribute("data-depth") > depth; i++) {
      rows[i].classList.toggle("collapsed-hidden", !open);
      var inner = rows[i].querySelector("button.toggle");
      if (open && inner) { inner.setAttribute("aria-expanded", "true"); inner.textContent = "▾"; }
    }
    if (table.archreportResized) { table.archreportResized(); }
  }

  api.setup = function (container, width) {
    container.querySelectorAll("figure.diagram").forEach(function (fig) { setupDiagram(fig, width); });
  };
  api.flash = flash;
  api.centreNode = centreNode;
  api.findRow = byId;  // sections.js finds rows that are packed or in a group not shown
  api.setup(root);
  root.addEventListener("click", showNode);
  root.addEventListener("click", toggleRows);
  if (scoped) { root.addEventListener("click", showRowInRoot); }
})(this === window ? document : this);
