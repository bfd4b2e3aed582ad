// archreport's packed sections (html_report.py). Each model's diagrams, charts and layer table are in
// the page gzip-compressed and base64 encoded, in a script element of type application/octet-stream
// (class "pack") that no browser runs. This script
// - unpacks a section (DecompressionStream) when it nears the viewport, or when a link, the contents
//   or a search result leads into it;
// - shows a long layer table in groups of rows, each in the table only while it is near the table's
//   scroll box (a spacer of its height stands in for it otherwise), so a 3,000-row table costs what
//   a few hundred rows do;
// - finds layers in every model from the index written with the report, not by reading the page.
// It runs after viewer.js, in the same script element, on the same root (see viewer.js), and drives it
// through root.archreportViewer.
(function (root) {
  "use strict";
  var viewer = root && root.archreportViewer;
  if (!viewer || root.archreportSections) { return; }
  root.archreportSections = true;
  var scoped = root !== document;
  var GROUP = 50;  // rows per group of a layer table
  var AHEAD = "150% 0px";  // how far beyond the viewport a section is unpacked already
  var FAR = "500% 0px";  // and how far it may be before it is packed away again (its DOM is freed)
  var RESULTS = 100;  // search results listed at most
  var groupOf = {};  // row id -> its group, for rows that may not be in the page

  function byId(id) {
    return root.querySelector('[id="' + CSS.escape(id) + '"]');
  }

  function inflate(pack) {
    var text = pack.textContent.trim(), bytes;
    if (Uint8Array.fromBase64) {
      bytes = Uint8Array.fromBase64(text);
    } else {
      var binary = atob(text);
      bytes = new Uint8Array(binary.length);
      for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    }
    return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
  }

  // -- a layer table in groups of rows --------------------------------------------------------
  // Written here, not taken from a library: TanStack Virtual positions rows absolutely, which loses
  // a table's column widths and sticky header (TanStack/virtual#585), and Clusterize.js assumes rows
  // of one height (NeXTs/Clusterize.js#62), which ours are not (op lists, nested rows). Groups with
  // spacer rows of their measured height keep the table a table.
  function groupRows(table) {
    var tbody = table.tBodies[0], rows = [].slice.call(tbody.rows);
    table.archreportRows = rows;  // viewer.js toggles nested rows through this list
    if (rows.length <= GROUP) { return null; }
    var columns = table.tHead.rows[0].cells.length, groups = [], rowHeight = 27;
    for (var start = 0; start < rows.length; start += GROUP) {
      var body = document.createElement("tbody"), spacer = document.createElement("tr");
      var cell = document.createElement("td");
      body.className = "row-group";
      spacer.className = "spacer";
      spacer.setAttribute("aria-hidden", "true");
      cell.colSpan = columns;
      spacer.appendChild(cell);
      var group = { body: body, spacer: spacer, rows: rows.slice(start, start + GROUP), shown: false };
      body.archreportGroup = group;
      group.rows.forEach(function (row) { groupOf[row.id] = group; });
      groups.push(group);
      table.insertBefore(body, tbody);
    }
    tbody.remove();

    function visible(group) {
      return group.rows.filter(function (r) { return !r.classList.contains("collapsed-hidden"); }).length;
    }
    // `height`: the group's height on screen, when it is shown (an IntersectionObserver entry's).
    function hide(group, height) {
      group.spacer.firstChild.style.height = (group.shown ? height : visible(group) * rowHeight) + "px";
      group.body.replaceChildren(group.spacer);
      group.shown = false;
    }
    function show(group) {
      if (group.shown) { return; }
      group.body.replaceChildren.apply(group.body, group.rows);
      group.shown = true;
    }
    // Columns only widen as groups come and go, so the table does not shift sideways under the reader.
    // Read where the layout is known already (an IntersectionObserver's callback), never forced.
    function keepWidths() {
      [].forEach.call(table.tHead.rows[0].cells, function (th) {
        var width = th.getBoundingClientRect().width;
        if (width > (th.archreportWidth || 0)) { th.archreportWidth = width; th.style.minWidth = width + "px"; }
      });
    }
    groups.forEach(function (g) { hide(g); });
    show(groups[0]);  // the first rows at once
    var near = null;
    table.archreportShow = show;
    table.archreportResized = function () {  // rows were collapsed or expanded
      groups.forEach(function (g) { if (!g.shown) { hide(g); } });
    };
    table.archreportForget = function () {  // the table leaves the page
      if (near) { near.disconnect(); }
      rows.forEach(function (row) { delete groupOf[row.id]; });
    };
    return function watch() {  // once the table is in the page
      var measured = false;
      near = new IntersectionObserver(function (entries) {
        keepWidths();
        entries.forEach(function (e) {
          var group = e.target.archreportGroup;
          if (!measured && group === groups[0] && group.shown && visible(group)) {  // the spacers' row height
            measured = true;
            rowHeight = e.boundingClientRect.height / visible(group);
            table.archreportResized();
          }
          if (e.isIntersecting) { show(group); } else if (group.shown) { hide(group, e.boundingClientRect.height); }
        });
      }, { root: table.closest(".table-wrap"), rootMargin: "100% 0px" });
      groups.forEach(function (g) { near.observe(g.body); });
    };
  }

  // A row, whichever group holds it: its group is put into the table first.
  viewer.findRow = function (id) {
    var group = groupOf[id];
    if (group && !group.shown) { group.body.closest("table").archreportShow(group); }
    return byId(id);
  };

  // -- packed sections ----------------------------------------------------------------------
  function clear(body) {  // all but the pack
    [].slice.call(body.children).forEach(function (child) {
      if (!child.matches("script.pack")) { child.remove(); }
    });
  }

  function unpack(body) {
    if (!body.archreportUnpacked) {
      body.setAttribute("aria-busy", "true");
      body.archreportUnpacked = inflate(body.querySelector("script.pack")).then(function (html) {
        var template = document.createElement("template");
        template.innerHTML = html;  // inert until it is in the page, where the CSP runs none of its script
        var watches = [].map.call(template.content.querySelectorAll("table.layers"), groupRows);
        clear(body);  // what stood in for it: a note, a notebook's overview
        var width = body.clientWidth - 2;  // a diagram's viewport: the body's width, less the figure's border
        body.appendChild(template.content);
        body.classList.remove("packed");
        body.style.minHeight = "";
        viewer.setup(body, width);
        watches.forEach(function (watch) { if (watch) { watch(); } });
        far.observe(body);
      }).catch(function (err) {
        var p = document.createElement("p");
        p.className = "error";
        p.textContent = "This model's diagrams and layer table could not be unpacked: " + err;
        body.appendChild(p);
      }).then(function () {
        body.removeAttribute("aria-busy");
        return body;
      });
    }
    return body.archreportUnpacked;
  }

  // A section far from the viewport is packed away again, keeping its height: a reader who has been
  // through every model holds a few sections in the page, not all of them.
  function packAway(body) {
    if (!body.archreportUnpacked || body.hasAttribute("aria-busy")) { return; }
    var height = body.getBoundingClientRect().height;
    far.unobserve(body);
    body.querySelectorAll("table.layers").forEach(function (table) {
      if (table.archreportForget) { table.archreportForget(); }
    });
    clear(body);
    body.style.minHeight = height + "px";
    body.classList.add("packed");
    body.archreportUnpacked = null;
    near.observe(body);
  }

  function sectionBody(slug) {
    return root.querySelector('.section-body[data-slug="' + CSS.escape(slug) + '"]');
  }

  // Expand the collapsed rows above `row`, so it shows.
  function expandTo(row) {
    var rows = row.closest("table").archreportRows || [], depth = +row.getAttribute("data-depth");
    for (var i = rows.indexOf(row) - 1; i >= 0 && depth > 0; i--) {
      var d = +rows[i].getAttribute("data-depth");
      if (d >= depth) { continue; }
      depth = d;
      var toggle = rows[i].querySelector("button.toggle[aria-expanded=false]");
      if (toggle) { toggle.click(); }
    }
  }

  // Bring element `id` into view, unpacking its section first: a row is expanded, scrolled to the
  // middle and flashed, and its node is centred in the diagram.
  function reveal(id) {
    var el = viewer.findRow(id);
    var parts = !el && /^(.*)-(r\d+|diagram|overview)$/.exec(id);
    var body = parts && sectionBody(parts[1]);
    if (!el && !body) { return Promise.resolve(null); }
    var ready = el ? Promise.resolve() : unpack(body);
    return ready.then(function () {
      el = viewer.findRow(id);
      if (!el) { return null; }
      if (el.tagName === "TR") {
        expandTo(el);
        var link = el.querySelector("a.to-diagram");
        var fig = link && byId(link.getAttribute("href").slice(1));
        if (fig) { viewer.centreNode(fig, id); }
        el.scrollIntoView({ block: "center" });
        viewer.flash(el);
      } else if (body) {
        el.scrollIntoView({ block: "start" });
      }
      return el;
    });
  }
  root.archreportReveal = reveal;

  // Sections near the viewport are unpacked one at a time, the nearest first: after a jump from the
  // contents the section in view is not kept waiting by the two around it.
  var waiting = [], busy = false;
  function nextInLine() {
    if (busy || !waiting.length) { return; }
    waiting.sort(function (a, b) { return a.distance - b.distance; });
    busy = true;
    unpack(waiting.shift().body).then(function () { busy = false; nextInLine(); });
  }
  var near = new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      if (!e.isIntersecting) { return; }
      near.unobserve(e.target);
      var r = e.boundingClientRect;
      waiting.push({ body: e.target, distance: r.bottom < 0 ? -r.bottom : Math.max(0, r.top - window.innerHeight) });
    });
    nextInLine();
  }, { rootMargin: AHEAD });
  var far = new IntersectionObserver(function (entries) {
    entries.forEach(function (e) {
      // A body with no box is hidden (print media), not far: it keeps what it shows.
      var hidden = !e.boundingClientRect.width && !e.boundingClientRect.height;
      if (!e.isIntersecting && !hidden) { packAway(e.target); }
    });
  }, { rootMargin: FAR });
  root.querySelectorAll(".section-body.packed").forEach(function (body) { near.observe(body); });

  function fragment(hash) {  // "#a%20b" -> "a b"; a fragment typed by hand may not decode
    try { return decodeURIComponent(hash.slice(1)); } catch (err) { return hash.slice(1); }
  }
  if (!scoped) {
    window.addEventListener("hashchange", function () { reveal(fragment(location.hash)); });
    // A link to where the page already is fires no hashchange.
    root.addEventListener("click", function (ev) {
      var a = ev.target.closest("a"), href = a && (a.getAttribute("href") || a.getAttribute("xlink:href"));
      if (href && href.length > 1 && href === location.hash) { reveal(fragment(href)); }
    });
    if (location.hash.length > 1) { reveal(fragment(location.hash)); }
  }

  // -- search ---------------------------------------------------------------------------------
  function setUpSearch(bar, index) {
    var input = bar.querySelector("input"), count = bar.querySelector(".search-count");
    var list = bar.querySelector(".search-results"), entries = null;
    var loaded = inflate(index).then(function (text) {
      entries = [];
      JSON.parse(text).forEach(function (m) {
        m.rows.forEach(function (r) {
          // r: anchor, name, class, input shapes, output shape (html_report.search_index)
          entries.push({ text: (r[1] + "\n" + r[2] + "\n" + r[3] + "\n" + r[4]).toLowerCase(), row: r, model: m });
        });
      });
    });

    function item(entry, query) {
      var r = entry.row, a = document.createElement("a"), name = document.createElement("span");
      a.href = "#" + r[0];
      a.className = "hit";
      name.className = "hit-name";
      var at = r[1].toLowerCase().indexOf(query);
      if (at >= 0) {
        var mark = document.createElement("mark");
        mark.textContent = r[1].slice(at, at + query.length);
        name.append(r[1].slice(0, at), mark, r[1].slice(at + query.length));
      } else {
        name.textContent = r[1];
      }
      var cls = document.createElement("span"), shape = document.createElement("code");
      var model = document.createElement("span");
      cls.className = "hit-class";
      cls.textContent = r[2];
      shape.textContent = r[4] || r[3];
      model.className = "hit-model";
      model.textContent = entry.model.name;
      a.append(name, " ", cls, " ", shape, " ", model);
      return a;
    }

    function search() {
      var started = performance.now(), query = input.value.trim().toLowerCase();
      if (!query) {
        list.hidden = true;
        count.textContent = "";
        return;
      }
      if (!entries) {
        count.textContent = "…";
        loaded.then(search);
        return;
      }
      var hits = [], models = {};
      for (var i = 0; i < entries.length; i++) {
        if (entries[i].text.indexOf(query) >= 0) { hits.push(entries[i]); models[entries[i].model.slug] = true; }
      }
      var n = Object.keys(models).length;
      count.textContent = hits.length ? hits.length + " layer" + (hits.length === 1 ? "" : "s") + " in " + n +
        " model" + (n === 1 ? "" : "s") + (hits.length > RESULTS ? ", the first " + RESULTS + " listed" : "")
        : "No layer matches";
      list.replaceChildren.apply(list, hits.slice(0, RESULTS).map(function (h) { return item(h, query); }));
      list.hidden = !hits.length;
      bar.setAttribute("data-search-ms", (performance.now() - started).toFixed(1));
    }

    input.addEventListener("input", search);
    input.addEventListener("focus", function () { list.hidden = !list.childElementCount || !input.value.trim(); });
    bar.querySelector("form").addEventListener("submit", function (ev) {
      ev.preventDefault();  // nothing is sent anywhere (the CSP's form-action 'none')
      var first = list.querySelector("a.hit");
      if (first) { first.click(); }
    });
    list.addEventListener("click", function (ev) {
      if (ev.target.closest("a.hit")) { list.hidden = true; }
    });
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { list.hidden = true; }
      if (ev.key === "/" && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
        ev.preventDefault();
        input.focus();
      }
    });
    bar.hidden = false;
  }

  var bar = root.querySelector(".toolbar"), index = root.querySelector("script.search-index");
  if (bar && index) { setUpSearch(bar, index); }
})(this === window ? document : this);
