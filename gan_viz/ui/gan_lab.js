// gan-viz: the 2D GAN lab's live view, drawn in the page (js_on_load of the gr.HTML made in gan_viz/ui/gan_lab_tab.py).
// props.value is the JSON of gan_lab_tab.payload(): for runs A and B, D's output on a 48x48 grid (0-255 through the
// colour map's table), real and generated points, G's push on some points, the image of the noise grid under G
// (all as int16 plane coordinates x SCALE), the latest measurements and the curves. The server streams a new value
// several times a second; each is drawn here, so the server never renders a picture per frame.
const root = element;
const COLORS = ["#1f6fd1", "#e07b00"];  // A, B (blue / orange: told apart with any colour vision)
const SIZE = 320;
const VIEW = 3.0;
let frames = 0;
let seq = 0;  // the newest value drawn: an older one arriving late (a stream's frame after Reset) is not drawn

function bytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
function int16(b64, scale) {
  const raw = bytes(b64);
  const a = new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] / scale;
  return out;
}
const px = (x) => (x + VIEW) / (2 * VIEW) * SIZE;
const py = (y) => (VIEW - y) / (2 * VIEW) * SIZE;

function drawRun(canvas, r, lut, scale) {
  const ctx = canvas.getContext("2d");
  const n = r.heatSize;
  const heat = bytes(r.heat);
  const off = new OffscreenCanvas(n, n);
  const octx = off.getContext("2d");
  const img = octx.createImageData(n, n);
  for (let i = 0; i < n * n; i++) {
    const v = heat[i];
    img.data[4 * i] = lut[3 * v]; img.data[4 * i + 1] = lut[3 * v + 1]; img.data[4 * i + 2] = lut[3 * v + 2];
    img.data[4 * i + 3] = 255;
  }
  octx.putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(off, 0, 0, SIZE, SIZE);
  // the noise grid under G
  const grid = int16(r.grid, scale);
  const [lines, per] = r.gridShape;
  ctx.strokeStyle = "rgba(225,225,225,0.45)";
  ctx.lineWidth = 1;
  for (let l = 0; l < lines; l++) {
    ctx.beginPath();
    for (let p = 0; p < per; p++) {
      const k = 2 * (l * per + p);
      if (p === 0) ctx.moveTo(px(grid[k]), py(grid[k + 1])); else ctx.lineTo(px(grid[k]), py(grid[k + 1]));
    }
    ctx.stroke();
  }
  const dots = (pts, color) => {
    ctx.fillStyle = color;
    for (let i = 0; i < pts.length; i += 2) ctx.fillRect(px(pts[i]) - 1.5, py(pts[i + 1]) - 1.5, 3, 3);
  };
  dots(int16(r.real, scale), "#ffffff");
  dots(int16(r.fake, scale), "#dc283c");
  const arrows = int16(r.arrows, scale);
  ctx.strokeStyle = "#000000";
  ctx.lineWidth = 1.3;
  for (let i = 0; i < arrows.length; i += 4) {
    const x0 = px(arrows[i]), y0 = py(arrows[i + 1]), x1 = px(arrows[i + 2]), y1 = py(arrows[i + 3]);
    const len = Math.hypot(x1 - x0, y1 - y0);
    if (len < 0.5) continue;
    ctx.beginPath(); ctx.moveTo(x0, y0); ctx.lineTo(x1, y1); ctx.stroke();
    const a = Math.atan2(y1 - y0, x1 - x0), h = Math.min(5, len / 2);
    ctx.beginPath();
    ctx.moveTo(x1, y1); ctx.lineTo(x1 - h * Math.cos(a - 0.5), y1 - h * Math.sin(a - 0.5));
    ctx.moveTo(x1, y1); ctx.lineTo(x1 - h * Math.cos(a + 0.5), y1 - h * Math.sin(a + 0.5));
    ctx.stroke();
  }
}

function fmt(x, d = 3) {
  if (x === null || x === undefined) return "-";
  if (typeof x !== "number") return String(x);
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4)) return x.toExponential(1);
  return x.toFixed(d);
}

function info(el, r) {
  const m = r.metrics;
  const modes = m.modes_total ? `${m.modes_covered} / ${m.modes_total}` : "- (not a Gaussian mixture)";
  const sig = (r.sigma || []).map((s, i) =>
    `<tr><td>layer ${i + 1}</td><td>${fmt(s.power_iteration)}</td><td>${fmt(s.exact)}</td><td>${fmt(s.effective)}</td></tr>`).join("");
  const warn = r.status === "diverged" ? `<div class="gl-warn">${r.message}</div>` : (r.message ? `<div>${r.message}</div>` : "");
  el.innerHTML = `
    <div><b style="color:${COLORS[r.index]}">${r.label}</b>: ${r.title}</div>
    <div class="gl-step">step <span class="gl-step-n">${r.step}</span> / ${r.steps} (${r.status})</div>${warn}
    <div>modes covered ${modes}; high quality ${fmt(m.high_quality_fraction, 2)}; JS ${fmt(m.js_divergence)}</div>
    <div>D(G(z)) ${fmt(m.d_fake)}; D's steepest slope ${fmt(m.d_max_slope)}; |grad G loss| ${fmt(m.g_grad_norm)}</div>
    <table class="gl-sigma"><tr><th>D</th><th>sigma, power it.</th><th>exact (SVD)</th><th>as used</th></tr>${sig}</table>`;
}

const CHARTS = [
  ["D loss", "d_loss", "step", false], ["G loss", "g_loss", "step", false],
  ["|grad of G's loss| at G's points (log)", "g_grad_norm", "step", true],
  ["D's steepest slope over the view (log)", "d_max_slope", "mstep", true],
  ["modes covered", "modes_covered", "mstep", false], ["JS divergence to the real set", "js_divergence", "mstep", false],
];

function drawCurves(canvas, runs) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, cols = 3, rows = 2;
  const cw = W / cols, ch = H / rows;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "11px sans-serif";
  CHARTS.forEach(([title, key, xkey, log], c) => {
    const ox = (c % cols) * cw, oy = Math.floor(c / cols) * ch;
    const series = runs.map((r) => {
      const xs = r.curves[xkey] || [], ys = r.curves[key] || [];
      const pts = [];
      for (let i = 0; i < xs.length; i++) {
        let y = ys[i];
        if (y === null || !isFinite(y)) continue;
        if (log) { if (y <= 0) continue; y = Math.log10(y); }
        pts.push([xs[i], y]);
      }
      return pts;
    });
    const all = series.flat();
    ctx.fillStyle = "#666"; ctx.fillText(title, ox + 6, oy + 12);
    ctx.strokeStyle = "#ccc"; ctx.strokeRect(ox + 4, oy + 16, cw - 8, ch - 22);
    if (!all.length) return;
    let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
    let y0 = Math.min(...all.map((p) => p[1])), y1 = Math.max(...all.map((p) => p[1]));
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) { y1 += 0.5; y0 -= 0.5; }
    const X = (x) => ox + 6 + (x - x0) / (x1 - x0) * (cw - 12);
    const Y = (y) => oy + ch - 8 - (y - y0) / (y1 - y0) * (ch - 28);
    ctx.fillStyle = "#888";
    ctx.fillText(log ? `1e${y1.toFixed(1)}` : fmt(y1, 2), ox + cw - 60, oy + 26);
    ctx.fillText(log ? `1e${y0.toFixed(1)}` : fmt(y0, 2), ox + cw - 60, oy + ch - 10);
    series.forEach((pts, i) => {
      ctx.strokeStyle = COLORS[i]; ctx.lineWidth = 1.4;
      ctx.beginPath();
      pts.forEach(([x, y], k) => (k ? ctx.lineTo(X(x), Y(y)) : ctx.moveTo(X(x), Y(y))));
      ctx.stroke();
    });
  });
}

function draw() {
  if (!props.value) return;
  const d = JSON.parse(props.value);
  if ((d.seq || 0) < seq) return;
  seq = d.seq || 0;
  const lut = bytes(d.lut);
  d.runs.forEach((r, i) => {
    r.index = i;
    drawRun(root.querySelector(`.gl-view-${i}`), r, lut, d.scale);
    info(root.querySelector(`.gl-info-${i}`), r);
  });
  drawCurves(root.querySelector(".gl-curves"), d.runs);
  frames += 1;
  root.dataset.frames = String(frames);
  root.dataset.steps = d.runs.map((r) => r.step).join(",");
  // where the real set lies (its mean, in plane units): lets a test check that a drawing became these points
  const real = int16(d.runs[0].real || "", d.scale);
  let mx = 0, my = 0;
  for (let i = 0; i < real.length; i += 2) { mx += real[i]; my += real[i + 1]; }
  root.dataset.realMean = real.length ? `${(2 * mx / real.length).toFixed(2)},${(2 * my / real.length).toFixed(2)}` : "";
}

watch("value", draw);
draw();
