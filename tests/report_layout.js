// Loaded into a report rendered in a frame of a given width (see
// tests/test_report_layout.py); writes what overflows into the parent page,
// as JSON in <pre id="findings">, for `chromium --dump-dom` to read.
(function () {
  "use strict";
  function describe(el) {
    let s = el.tagName.toLowerCase();
    if (el.id) s += "#" + el.id;
    if (typeof el.className === "string" && el.className) {
      s += "." + el.className.trim().split(/\s+/).join(".");
    }
    const text = (el.textContent || "").replace(/\s+/g, " ").trim().slice(0, 50);
    return text ? s + " '" + text + "'" : s;
  }
  function scrollContainer(el) {
    for (let a = el.parentElement; a; a = a.parentElement) {
      if (["auto", "scroll"].includes(getComputedStyle(a).overflowX)) return a;
    }
    return null;
  }
  function check() {
    const viewport = document.documentElement.clientWidth;
    const out = {viewport: viewport, page: document.documentElement.scrollWidth,
                 overflows: [], scrolls: [], beyond: [], figures: []};
    for (const el of document.body.querySelectorAll("*")) {
      if (el.closest("#svg-check")) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      const overflowX = getComputedStyle(el).overflowX;
      const scrolling = ["auto", "scroll"].includes(overflowX);
      if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1) {
        (scrolling ? out.scrolls : out.overflows).push(
          {element: describe(el), scrollWidth: el.scrollWidth, clientWidth: el.clientWidth});
      }
      // Outside the page's width, unless reached by a scroll container.
      if ((r.right > viewport + 1 || r.left < -1) && !scrollContainer(el)) {
        out.beyond.push({element: describe(el), left: r.left, right: r.right});
      }
    }
    // Each figure as shown at this width: its scale, and whether every
    // legend and text of the SVG lies inside the SVG's own box.
    const holder = document.createElement("div");
    holder.id = "svg-check";
    holder.style.cssText = "position:absolute;left:0;top:0;visibility:hidden;";
    document.body.appendChild(holder);
    for (const img of document.querySelectorAll("figure img")) {
      const src = img.currentSrc || img.src;
      const svgText = atob(src.slice(src.indexOf(",") + 1));
      const svg = new DOMParser().parseFromString(svgText, "image/svg+xml").documentElement;
      holder.appendChild(svg);
      const box = svg.getBoundingClientRect();
      const outside = [];
      for (const g of svg.querySelectorAll('g[id^="legend"], g[id^="text"]')) {
        const r = g.getBoundingClientRect();
        if (r.width === 0 && r.height === 0) continue;
        if (r.left < box.left - 0.5 || r.right > box.right + 0.5 ||
            r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5) {
          outside.push({id: g.id, left: r.left - box.left, right: r.right - box.left,
                        top: r.top - box.top, bottom: r.bottom - box.top});
        }
      }
      out.figures.push({figure: img.closest("figure").id, naturalWidth: box.width,
                        shownWidth: img.getBoundingClientRect().width,
                        phone: src !== img.src, outside: outside});
      holder.removeChild(svg);
    }
    const pre = parent.document.createElement("pre");
    pre.id = "findings";
    pre.textContent = JSON.stringify(out);
    parent.document.body.appendChild(pre);
  }
  if (document.readyState === "complete") check();
  else window.addEventListener("load", check);
})();
