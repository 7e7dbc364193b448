// A small canvas line chart: one line per channel, time on x, milliseconds on a log y axis.
// No library: the dashboard has no build step, and this is all it needs.

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
const MIN_MS = 0.5;
const MAX_MS = 30_000;

export function colorFor(index) {
  return COLORS[index % COLORS.length];
}

/** series: Map channel → [{t (ms epoch), ms}], drawn over the last `windowMs`. */
export function drawLatencyChart(canvas, series, windowMs, now = Date.now()) {
  const ctx = canvas.getContext("2d");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  if (canvas.width !== width * ratio) {
    canvas.width = width * ratio;
    canvas.height = height * ratio;
  }
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const left = 56, right = 12, top = 10, bottom = 24;
  const plotW = width - left - right, plotH = height - top - bottom;
  const y = (ms) => {
    const v = Math.log10(Math.min(Math.max(ms, MIN_MS), MAX_MS));
    const lo = Math.log10(MIN_MS), hi = Math.log10(MAX_MS);
    return top + plotH - ((v - lo) / (hi - lo)) * plotH;
  };
  const x = (t) => left + ((t - (now - windowMs)) / windowMs) * plotW;

  ctx.font = "11px system-ui, sans-serif";
  ctx.strokeStyle = "#e5e7eb";
  ctx.fillStyle = "#6b7280";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const ms of [1, 10, 100, 1000, 10000]) {
    ctx.beginPath();
    ctx.moveTo(left, y(ms));
    ctx.lineTo(left + plotW, y(ms));
    ctx.stroke();
    ctx.fillText(ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`, left - 6, y(ms));
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (let s = 0; s <= windowMs / 1000; s += 10) {
    ctx.fillText(s === 0 ? "now" : `-${s}s`, x(now - s * 1000), top + plotH + 6);
  }

  let i = 0;
  for (const [, points] of series) {
    const color = colorFor(i++);
    const visible = points.filter((p) => p.t >= now - windowMs);
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    visible.forEach((p, k) => (k === 0 ? ctx.moveTo(x(p.t), y(p.ms)) : ctx.lineTo(x(p.t), y(p.ms))));
    ctx.stroke();
    for (const p of visible) {
      ctx.beginPath();
      ctx.arc(x(p.t), y(p.ms), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
  }
  if (series.size === 0) {
    ctx.fillStyle = "#9ca3af";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText("no deliveries yet", left + plotW / 2, top + plotH / 2);
  }
}

/** The upper bound (ms) of the bucket holding quantile q of a histogram, or null when empty. */
export function quantile(bounds, buckets, q) {
  const count = buckets.reduce((a, b) => a + b, 0);
  if (count === 0) return null;
  const rank = Math.max(1, Math.ceil(q * count));
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i];
    if (seen >= rank) return i < bounds.length ? bounds[i] : Infinity;
  }
  return Infinity;
}
