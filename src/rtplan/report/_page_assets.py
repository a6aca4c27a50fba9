"""The style sheet and script of the interactive review page (:func:`review_page`).

The script reads the JSON block ``#rtplan-data`` (see :mod:`rtplan.report._page`) and
builds the page: three views drawn on canvases at one screen pixel per display pixel
(nearest voxel; structure and isodose outlines where the label of neighbouring pixels
differs), a side panel of window presets and toggles, and a read-out line. It uses
nothing outside the page.
"""

from __future__ import annotations

__all__ = ["PAGE_CSS", "PAGE_SCRIPT"]

PAGE_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#111;
color:#ddd;font-size:14px}
header{padding:.5em 1em;background:#1d2a33;border-bottom:1px solid #2a6f97}
header h1{font-size:1.2em;margin:0;display:inline}header span{color:#9ab;margin-left:1em}
main{display:flex;gap:12px;padding:10px}
#views{display:flex;flex-wrap:wrap;gap:10px;flex:1}
.view{background:#000;border:1px solid #333;padding:4px}
.view canvas{display:block;cursor:crosshair;image-rendering:pixelated}
.view .caption{font-size:12px;color:#cde;margin:2px 0}
.view input[type=range]{width:100%}
aside{width:250px;flex:none}
aside h2{font-size:1em;color:#8cc6e6;margin:.8em 0 .3em}
aside label{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.swatch{display:inline-block;width:14px;height:4px;vertical-align:middle;margin:0 6px 0 2px}
.box{display:inline-block;width:10px;height:10px;vertical-align:middle;margin:0 6px 0 2px}
button{background:#24313a;color:#ddd;border:1px solid #456;margin:2px;padding:2px 6px;
cursor:pointer}
button.on{background:#2a6f97;color:#fff}
#readout{font-family:ui-monospace,monospace;background:#1a1a1a;padding:6px 10px;margin:0 10px;
border:1px solid #333;min-height:1.3em}
table{border-collapse:collapse;font-size:11px;table-layout:fixed;width:100%}
td{border:1px solid #333;padding:1px 4px;word-break:break-all}
#beams{table-layout:auto}#beams td,#beams th{word-break:normal;font-weight:normal}
#beams td.couch{white-space:nowrap}
.note{color:#9ab;font-size:12px}
"""

PAGE_SCRIPT = r"""
"use strict";
(function () {
  const D = JSON.parse(document.getElementById("rtplan-data").textContent);
  function bytes(text) {
    const s = atob(text), out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const rgb = (c) => "rgb(" + c.join(",") + ")";
  const [nz, ny, nx] = D.ct.shape;
  const sp = D.ct.spacing_mm, org = D.ct.origin_mm, n3 = [nx, ny, nz];
  const hu = new Int16Array(bytes(D.ct.hu).buffer);
  const dose = D.dose ? new Uint16Array(bytes(D.dose.data).buffer) : null;
  const masks = D.structures.map((s) => bytes(s.bits));
  const state = {
    window: D.windows.soft_tissue.slice(), windowName: "soft_tissue",
    pos: D.focus_mm ? D.focus_mm.slice() :
      [0, 1, 2].map((a) => org[a] + sp[a] * Math.floor((n3[a] - 1) / 2)),
    structures: D.structures.map(() => true),
    levels: D.dose ? D.dose.levels.map(() => true) : [],
    needle: D.trajectories.length ? 0 : -1,  // index of the path drawn; -1 none, -2 all
  };
  // positions always sit on voxel centres: the caption names the slice shown
  const snap = (p) => [0, 1, 2].map((a) =>
    org[a] + sp[a] * Math.min(n3[a] - 1, Math.max(0, Math.round((p[a] - org[a]) / sp[a]))));
  state.pos = snap(state.pos);
  const voxel = (p) => {
    const i = [0, 1, 2].map((a) => Math.round((p[a] - org[a]) / sp[a]));
    for (let a = 0; a < 3; a++) if (i[a] < 0 || i[a] >= n3[a]) return -1;
    return (i[2] * ny + i[1]) * nx + i[0];
  };
  const inMask = (m, idx) => idx >= 0 && (masks[m][idx >> 3] >> (7 - (idx & 7))) & 1;
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const lo = org, hi = [0, 1, 2].map((a) => org[a] + sp[a] * (n3[a] - 1));
  const corners = [];
  for (const x of [lo[0], hi[0]]) for (const y of [lo[1], hi[1]]) for (const z of [lo[2], hi[2]])
    corners.push([x, y, z]);

  // ---------------------------------------------------------------- layout
  const header = el("header");
  header.append(el("h1", {}, D.title),
    el("span", {}, "study " + D.study + " · rtplan " + D.version));
  const main = el("main"), views = el("div", {id: "views"}), aside = el("aside");
  const readout = el("div", {id: "readout"}, "move the cursor over a view");
  main.append(views, aside);
  document.body.append(header, readout, main);

  // a view: screen right and down (LPS unit vectors); axis: the LPS axis it scrolls along
  // (axial 2, coronal 1, sagittal 0), or -1 for the needle plane (scrolled along its normal)
  function layout(v) {
    const us = corners.map((c) => dot(c, v.right)), vs = corners.map((c) => dot(c, v.down));
    v.u0 = Math.min(...us); v.v0 = Math.min(...vs);
    const du = Math.max(...us) - v.u0, dv = Math.max(...vs) - v.v0;
    v.px = Math.max(du, dv) / 420;
    v.w = Math.floor(du / v.px) + 1; v.h = Math.floor(dv / v.px) + 1;
    v.canvas.width = v.w; v.canvas.height = v.h;
  }
  const stepMm = Math.min(...sp), reachSteps = Math.round(60 / stepMm);
  const V = {};
  function addView(name, cfg) {
    const axis = cfg.axis;
    const box = el("div", {class: "view", id: name});
    const caption = el("div", {class: "caption"});
    const canvas = el("canvas");
    const slider = axis >= 0 ? el("input", {type: "range", min: 0, max: n3[axis] - 1, step: 1}) :
      el("input", {type: "range", min: -reachSteps, max: reachSteps, step: 1});
    box.append(caption, canvas, slider);
    views.append(box);
    const v = {name, right: cfg.right, down: cfg.down, normal: cfg.normal || [0, 0, 0],
      origin: cfg.origin || [0, 0, 0], axis, canvas, caption, slider, cfg};
    layout(v);
    V[name] = v;
    slider.addEventListener("input", () => {
      if (axis >= 0) state.pos[axis] = org[axis] + sp[axis] * Number(slider.value);
      else state.offset = stepMm * Number(slider.value);
      draw(name);
    });
    canvas.addEventListener("wheel", (e) => {
      e.preventDefault();
      step(name, e.deltaY > 0 ? 1 : -1);
    }, {passive: false});
    canvas.addEventListener("mousemove", (e) => report(V[name], e));
    canvas.addEventListener("click", (e) => {
      const q = snap(pointAt(V[name], e));
      for (const a of [0, 1, 2]) if (a !== axis) state.pos[a] = q[a];
      drawAll();
    });
  }
  for (const name of ["axial", "coronal", "sagittal"]) addView(name, D.views[name]);
  state.offset = 0;
  if (D.trajectories.length) addView("needle", {axis: -1, ...D.trajectories[0].plane});
  function aimNeedle(n) {
    const v = V.needle, plane = D.trajectories[n].plane;
    v.right = plane.right; v.down = plane.down; v.normal = plane.normal;
    v.origin = plane.origin; v.cfg = {axis: -1, ...plane}; v.rank = D.trajectories[n].rank;
    state.offset = 0;
    layout(v);
  }
  if (D.trajectories.length) aimNeedle(0);
  function step(name, n) {
    const v = V[name], a = v.axis;
    if (a < 0) {
      const k = Math.min(reachSteps, Math.max(-reachSteps, Math.round(state.offset / stepMm) + n));
      state.offset = k * stepMm;
    } else {
      const k = Math.min(n3[a] - 1, Math.max(0, sliceIndex(a) + n));
      state.pos[a] = org[a] + sp[a] * k;
    }
    draw(name);
  }
  const sliceIndex = (a) => Math.round((state.pos[a] - org[a]) / sp[a]);
  function pointAt(v, e) {
    const r = v.canvas.getBoundingClientRect();
    const c = (e.clientX - r.left) * v.w / r.width, row = (e.clientY - r.top) * v.h / r.height;
    return pixelMm(v, Math.floor(c), Math.floor(row));
  }
  function pixelMm(v, c, r) {
    const u = v.u0 + c * v.px, w = v.v0 + r * v.px, p = [0, 0, 0];
    const off = v.axis < 0 ? dot(v.origin, v.normal) + state.offset : 0;
    for (let a = 0; a < 3; a++) p[a] = u * v.right[a] + w * v.down[a] + off * v.normal[a];
    if (v.axis >= 0) p[v.axis] = state.pos[v.axis];
    return p;
  }
  // couch coordinates: IEC 61217 table axes from the reference point (as the report's)
  function couchText(p) {
    const m = D.couch.matrix, d = [0, 1, 2].map((a) => p[a] - D.couch.reference_mm[a]);
    const f = (k) => { const x = dot(m[k], d) + 0; return (x >= 0 ? "+" : "") + x.toFixed(1); };
    return "lat " + f(0) + ", vert " + f(2) + ", long " + f(1) + " mm";
  }
  function report(v, e) {
    const p = pointAt(v, e), idx = voxel(p);
    let text = "LPS (" + p.map((x) => x.toFixed(1)).join(", ") + ") mm";
    if (idx < 0) { readout.textContent = text + " · outside the CT"; return; }
    text += " · " + hu[idx] + " HU";
    if (dose) {
      const gy = dose[idx] * D.dose.scale_gy;
      text += " · dose " + gy.toFixed(2) + " Gy (" + (100 * gy / D.dose.reference_gy).toFixed(1) +
        " % " + D.dose.reference + ")";
    }
    const inside = D.structures.filter((s, m) => inMask(m, idx)).map((s) => s.name);
    readout.textContent = text + " · in: " + (inside.join(", ") || "-") + " · couch " +
      couchText(p);
  }

  // ---------------------------------------------------------------- drawing
  function outline(img, v, labels, color) {
    const d = img.data, w = v.w, h = v.h;
    for (let r = 0; r < h; r++) for (let c = 0; c < w; c++) {
      const i = r * w + c, l = labels[i];
      if ((c + 1 < w && labels[i + 1] !== l) || (r + 1 < h && labels[i + w] !== l) ||
          (c > 0 && labels[i - 1] !== l) || (r > 0 && labels[i - w] !== l)) {
        if (!l) continue;  // the line is drawn on the inner side only
        d[4 * i] = color[0]; d[4 * i + 1] = color[1]; d[4 * i + 2] = color[2];
      }
    }
  }
  function draw(name) {
    const v = V[name], w = v.w, h = v.h, ctx = v.canvas.getContext("2d");
    const img = ctx.createImageData(w, h), d = img.data;
    const idx = new Int32Array(w * h);
    for (let r = 0; r < h; r++) {
      for (let c = 0; c < w; c++) idx[r * w + c] = voxel(pixelMm(v, c, r));
    }
    const [ww, wl] = state.window, low = wl - ww / 2;
    for (let i = 0; i < w * h; i++) {
      const g = idx[i] < 0 ? 0 :
        Math.max(0, Math.min(255, Math.round(255 * (hu[idx[i]] - low) / ww)));
      d[4 * i] = d[4 * i + 1] = d[4 * i + 2] = g; d[4 * i + 3] = 255;
    }
    const labels = new Uint8Array(w * h);
    D.structures.forEach((s, m) => {
      if (!state.structures[m]) return;
      for (let i = 0; i < w * h; i++) labels[i] = inMask(m, idx[i]) ? 1 : 0;
      outline(img, v, labels, s.color);
    });
    if (dose) D.dose.levels.forEach((lev, n) => {
      if (!state.levels[n]) return;
      const t = lev.percent / 100 * D.dose.reference_gy / D.dose.scale_gy;
      for (let i = 0; i < w * h; i++) labels[i] = idx[i] >= 0 && dose[idx[i]] >= t ? 1 : 0;
      outline(img, v, labels, lev.color);
    });
    ctx.putImageData(img, 0, 0);
    D.trajectories.forEach((t, n) => {
      if (state.needle === n || state.needle === -2) needle(ctx, v, t);
    });
    letters(ctx, v);
    const shown = " · W" + state.window[0] + " L" + state.window[1];
    if (v.axis < 0) {
      v.slider.value = Math.round(state.offset / stepMm);
      v.caption.textContent = "Needle plane of #" + v.rank + " " +
        (state.offset >= 0 ? "+" : "") + state.offset.toFixed(1) + " mm" + shown;
      return;
    }
    const k = sliceIndex(v.axis);
    v.slider.value = k;
    v.caption.textContent = name[0].toUpperCase() + name.slice(1) + " " + "xyz"[v.axis] + " " +
      state.pos[v.axis].toFixed(1) + " mm · slice " + (k + 1) + "/" + n3[v.axis] + shown;
  }
  function toPixel(v, p) {
    return [(dot(p, v.right) - v.u0) / v.px, (dot(p, v.down) - v.v0) / v.px];
  }
  function needle(ctx, v, t) {
    const a = toPixel(v, t.entry_mm), b = toPixel(v, t.target_mm), col = rgb(D.needle_color);
    ctx.save();
    ctx.strokeStyle = col; ctx.lineWidth = 2;
    ctx.setLineDash([6, 4]);
    ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
    ctx.setLineDash([]);
    ctx.beginPath(); ctx.arc(a[0], a[1], 5, 0, 2 * Math.PI); ctx.stroke();
    ctx.strokeStyle = "rgb(255,60,60)";
    ctx.beginPath(); ctx.moveTo(b[0] - 5, b[1] - 5); ctx.lineTo(b[0] + 5, b[1] + 5);
    ctx.moveTo(b[0] - 5, b[1] + 5); ctx.lineTo(b[0] + 5, b[1] - 5); ctx.stroke();
    ctx.fillStyle = col; ctx.font = "11px sans-serif";
    ctx.fillText("#" + t.rank + " " + t.length_mm.toFixed(0) + " mm", a[0] + 7, a[1] - 7);
    ctx.restore();
  }
  function letters(ctx, v) {
    const L = v.cfg.letters;
    ctx.save();
    ctx.fillStyle = "rgb(255,255,255)"; ctx.font = "bold 15px sans-serif";
    ctx.shadowColor = "black"; ctx.shadowBlur = 3;
    ctx.textBaseline = "middle"; ctx.textAlign = "right"; ctx.fillText(L.right, v.w - 4, v.h / 2);
    ctx.textAlign = "left"; ctx.fillText(L.left, 4, v.h / 2);
    ctx.textAlign = "center"; ctx.textBaseline = "top"; ctx.fillText(L.top, v.w / 2, 4);
    ctx.textBaseline = "bottom"; ctx.fillText(L.bottom, v.w / 2, v.h - 4);
    ctx.restore();
  }
  function drawAll() { for (const name in V) draw(name); }

  // ---------------------------------------------------------------- side panel
  aside.append(el("h2", {}, "Window / level"));
  const buttons = {};
  for (const name in D.windows) {
    const b = el("button", {"data-window": name}, name.replace("_", " "));
    b.addEventListener("click", () => setWindow(name, D.windows[name]));
    buttons[name] = b; aside.append(b);
  }
  const wIn = el("input", {type: "number", id: "window-width", style: "width:5em"});
  const lIn = el("input", {type: "number", id: "window-level", style: "width:5em"});
  const custom = () => setWindow("custom", [Number(wIn.value) || 1, Number(lIn.value) || 0]);
  wIn.addEventListener("change", custom); lIn.addEventListener("change", custom);
  const wl = el("div"); wl.append("W ", wIn, " L ", lIn); aside.append(wl);
  function setWindow(name, value) {
    state.window = [Math.max(1, value[0]), value[1]]; state.windowName = name;
    for (const k in buttons) buttons[k].classList.toggle("on", k === name);
    wIn.value = state.window[0]; lIn.value = state.window[1];
    drawAll();
  }
  aside.append(el("h2", {}, "Structures"));
  D.structures.forEach((s, m) => {
    const box = el("input", {type: "checkbox", "data-structure": s.name});
    box.checked = true;
    box.addEventListener("change", () => { state.structures[m] = box.checked; drawAll(); });
    const changed = s.color.join(",") !== s.original_color.join(",");
    const label = el("label", {title: changed ? "drawn in a distinct colour (RT Structure " +
      "Set colour " + s.original_color.join(",") + ")" : ""});
    label.append(box, el("span", {class: "swatch", style: "background:" + rgb(s.color)}), s.name);
    aside.append(label);
  });
  if (D.dose) {
    aside.append(el("h2", {}, "Isodoses (" + D.dose.reference + " " +
      D.dose.reference_gy.toFixed(2) + " Gy)"));
    if (D.dose.basis) aside.append(el("p", {class: "note"}, "Dose shown: " + D.dose.basis + "."));
    D.dose.levels.forEach((lev, n) => {
      const box = el("input", {type: "checkbox", "data-isodose": lev.percent});
      box.checked = true;
      box.addEventListener("change", () => { state.levels[n] = box.checked; drawAll(); });
      const label = el("label");
      label.append(box, el("span", {class: "box", style: "background:" + rgb(lev.color)}),
        lev.percent + " % · " + (lev.percent / 100 * D.dose.reference_gy).toFixed(2) + " Gy");
      aside.append(label);
    });
  }
  if (D.trajectories.length) {
    aside.append(el("h2", {}, "Needle"));
    const pick = el("select", {id: "needle"});
    D.trajectories.forEach((t, n) => pick.append(el("option", {value: n},
      "#" + t.rank + " · " + t.length_mm.toFixed(1) + " mm")));
    pick.append(el("option", {value: -2}, "all paths"), el("option", {value: -1}, "none"));
    const words = el("p", {class: "note", id: "needle-words"});
    const describe = () => {
      words.textContent = state.needle >= 0 ? D.trajectories[state.needle].words : "";
    };
    pick.addEventListener("change", () => {
      state.needle = Number(pick.value);
      if (state.needle >= 0) aimNeedle(state.needle);
      describe();
      drawAll();
    });
    describe();
    const go = el("button", {id: "go-target"}, "go to the target");
    go.addEventListener("click", () => {
      state.pos = snap(D.trajectories[Math.max(0, state.needle)].target_mm);
      drawAll();
    });
    aside.append(pick, go, words);
  }
  if (D.beams) {
    aside.append(el("h2", {}, "Beams"));
    const beams = el("table", {id: "beams"});
    const head = el("tr");
    for (const h of ["beam", "gantry", "MU", "isocentre: couch lat / vert / long (mm)"])
      head.append(el("th", {}, h));
    beams.append(head);
    const signed = (x) => (x >= 0 ? "+" : "") + (x + 0).toFixed(1);
    for (const b of D.beams) {
      const tr = el("tr");
      tr.append(el("td", {}, b.name), el("td", {}, b.gantry_deg.toFixed(1) + "°"),
        el("td", {}, b.mu === null ? "-" : b.mu.toFixed(1) +
          (b.segments ? " in " + b.segments + " segments" : "")),
        el("td", {class: "couch", title: b.couch}, b.couch_mm.map(signed).join(" / ")));
      beams.append(tr);
    }
    aside.append(beams);
  }
  aside.append(el("p", {class: "note", id: "couch-note"}, "Couch coordinates (" +
    D.couch.position + "): from " + D.couch.label + ", IEC 61217 table axes, couch at 0° " +
    "(lateral + to the right of an observer at the couch foot facing the gantry, vertical " +
    "+ up, longitudinal + towards the gantry)."));
  aside.append(el("h2", {}, "Inputs"));
  const table = el("table");
  for (const [k, val] of D.uids) {
    const tr = el("tr"); tr.append(el("td", {}, k), el("td", {}, val)); table.append(tr);
  }
  aside.append(table, el("p", {class: "note"}, "Wheel or slider: scroll slices. Click: move the " +
    "other views through the point. Outlines are drawn at the voxel's edge. For review by " +
    "qualified staff; not a substitute for the planning system's own checks."));
  setWindow("soft_tissue", D.windows.soft_tissue);
  document.body.setAttribute("data-ready", "1");
})();
"""
