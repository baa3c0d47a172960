// gan-viz: SAGAN's beta under the pointer, drawn in the page (js_on_load of the gr.HTML made in gan_viz/ui/hover.py).
// `element`, `props` and `watch` come from Gradio. props.value is the JSON of hover.payload(): the face, beta
// quantised by rows (query reading) and by columns (key reading) as 8-bit PNGs with float32 scales, and the
// colour map. Every pointer move is answered here: no request to the server.
const root = element;
const state = { data: null, pinned: null, last: null, times: [], draws: 0 };

function bytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function pixels(b64) {
  // Decode a PNG to RGBA bytes with no colour management, so grey levels come back exactly.
  const bmp = await createImageBitmap(new Blob([bytes(b64)], { type: "image/png" }),
                                      { premultiplyAlpha: "none", colorSpaceConversion: "none" });
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = c.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bmp, 0, 0);
  return { w: bmp.width, h: bmp.height, rgba: ctx.getImageData(0, 0, bmp.width, bmp.height).data };
}

async function grey(b64) {
  const p = await pixels(b64);
  const out = new Uint8Array(p.w * p.h);
  for (let i = 0; i < out.length; i++) out[i] = p.rgba[4 * i];
  return { n: p.w, q: out };
}

async function load() {
  if (!props.value) { state.data = null; return; }
  const t0 = performance.now();
  const d = JSON.parse(props.value);
  const [face, rows, cols] = await Promise.all([pixels(d.face), grey(d.rows), grey(d.cols)]);
  state.data = {
    layer: d.layer, gamma: d.gamma, res: d.res, size: d.size, levels: d.levels, face,
    rows: rows.q, cols: cols.q, n: rows.n,
    rowScale: new Float32Array(bytes(d.rowScale).buffer), colScale: new Float32Array(bytes(d.colScale).buffer),
    lut: bytes(d.lut),
  };
  state.pinned = null;
  state.decodeMs = performance.now() - t0;  // parse + PNG decoding, for benchmarks/hover.py
  state.loadedAt = performance.now();
  draw(Math.floor(d.size * 0.4), Math.floor(d.size * 0.45), false);  // a first map at once (between the eyes)
}

function reading() {
  const sel = root.querySelector(".gv-reading");
  return sel ? sel.value : "query";
}

function mapAt(x, y, kind) {
  // beta for image pixel (x, y): row j (query) or column j (key), as read_attention slices it.
  const d = state.data;
  const fx = Math.floor(x * d.res / d.size), fy = Math.floor(y * d.res / d.size);
  const j = fy * d.res + fx;
  const q = kind === "key" ? d.cols : d.rows;
  const s = (kind === "key" ? d.colScale : d.rowScale)[j] / d.levels;
  const out = new Float32Array(d.n);
  for (let i = 0; i < d.n; i++) out[i] = q[j * d.n + i] * s;
  return { map: out, fx, fy };
}

function draw(x, y, timed) {
  const d = state.data;
  const canvas = root.querySelector(".gv-canvas");
  if (!d || !canvas) return;
  const t0 = performance.now();
  const kind = reading();
  const { map, fx, fy } = mapAt(x, y, kind);
  let max = 0;
  for (let i = 0; i < map.length; i++) if (map[i] > max) max = map[i];
  const alpha = parseFloat((root.querySelector(".gv-alpha") || { value: "0.6" }).value);
  const W = canvas.width, H = canvas.height;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(W, H);
  const px = img.data, f = d.face, lut = d.lut;
  for (let v = 0; v < H; v++) {
    const fyI = Math.floor(v * f.h / H), cy = Math.floor(v * d.res / H);
    for (let u = 0; u < W; u++) {
      const fi = 4 * (fyI * f.w + Math.floor(u * f.w / W));
      const m = max > 0 ? map[cy * d.res + Math.floor(u * d.res / W)] / max : 0;
      const li = 3 * Math.min(255, Math.round(m * 255));
      const o = 4 * (v * W + u);
      px[o] = (1 - alpha) * f.rgba[fi] + alpha * lut[li];
      px[o + 1] = (1 - alpha) * f.rgba[fi + 1] + alpha * lut[li + 1];
      px[o + 2] = (1 - alpha) * f.rgba[fi + 2] + alpha * lut[li + 2];
      px[o + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  // The query pixel (white square) and the top-5 attended cells (cyan rings), as the server's overlay marks them.
  const order = Array.from(map.keys()).sort((a, b) => map[b] - map[a]).slice(0, 5);
  const cell = W / d.res, scale = W / d.size;
  ctx.strokeStyle = "white"; ctx.lineWidth = 2;
  ctx.strokeRect(x * scale, y * scale, scale, scale);
  ctx.strokeStyle = "cyan"; ctx.lineWidth = 1.5;
  for (const i of order) {
    ctx.beginPath();
    ctx.arc(((i % d.res) + 0.5) * cell, (Math.floor(i / d.res) + 0.5) * cell, cell * 0.8, 0, 2 * Math.PI);
    ctx.stroke();
  }
  const t1 = performance.now();
  if (timed) state.times.push(t1 - t0);
  state.draws += 1;
  state.last = { x, y, kind };
  const what = kind === "query" ? "where this pixel looks (row of beta, sums to 1)" : "who looks at this pixel (column of beta)";
  const tops = order.map((i, n) => `#${n + 1} (${i % d.res},${Math.floor(i / d.res)}) ${map[i].toFixed(4)}`).join(", ");
  root.querySelector(".gv-info").textContent =
    `${d.layer}, gamma = ${d.gamma.toFixed(4)}. Pixel (${x}, ${y}) = cell (${fx}, ${fy}) of ${d.res}x${d.res}` +
    `${state.pinned ? " (pinned: click again to release)" : ""}. Showing ${what}. Top 5: ${tops}. ` +
    `Drawn in your browser in ${(t1 - t0).toFixed(1)} ms.`;
}

function pixelOf(ev) {
  const canvas = root.querySelector(".gv-canvas");
  const r = canvas.getBoundingClientRect();
  const d = state.data;
  const x = Math.min(d.size - 1, Math.max(0, Math.floor((ev.clientX - r.left) / r.width * d.size)));
  const y = Math.min(d.size - 1, Math.max(0, Math.floor((ev.clientY - r.top) / r.height * d.size)));
  return [x, y];
}

root.addEventListener("pointermove", (ev) => {
  if (!state.data || state.pinned || !ev.target.classList.contains("gv-canvas")) return;
  const [x, y] = pixelOf(ev);
  draw(x, y, true);
});
root.addEventListener("pointerdown", (ev) => {
  if (!state.data || !ev.target.classList.contains("gv-canvas")) return;
  const [x, y] = pixelOf(ev);
  state.pinned = state.pinned ? null : [x, y];
  draw(x, y, true);
});
root.addEventListener("change", () => { if (state.data && state.last) draw(state.last.x, state.last.y, false); });
root.addEventListener("input", () => { if (state.data && state.last) draw(state.last.x, state.last.y, false); });

// For tests and benchmarks: the decoded map for a pixel, and the handler's own timings.
root.ganViz = { mapAt: (x, y, kind) => Array.from(mapAt(x, y, kind).map), stats: state, ready: () => !!state.data };
watch("value", load);
load();
