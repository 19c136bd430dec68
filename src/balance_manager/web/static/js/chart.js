// Balance over time as an inline SVG step line from the ledger (balanceAfter of each entry),
// with the minimum and target as dashed lines. Plain SVG: no charting library to ship.
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { money, shortDate } from "./format.js";

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) {
    if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// entries: ledger entries newest first; returns a <figure>.
export function balanceChart({ entries, minimum, target, currency, width }) {
  const points = [...entries].reverse().map((e) => ({ x: Date.parse(e.createdAt), y: e.balanceAfter }));
  if (points.length < 2) {
    return h("p", { class: "empty", "data-testid": "chart-empty", text: t("chart.empty") });
  }
  const W = Math.max(280, Math.round(width || 600));
  const H = 200;
  const pad = { left: 8, right: 8, top: 22, bottom: 24 };
  const ys = points.map((p) => p.y).concat([minimum, target, 0]);
  let lo = Math.min(...ys);
  let hi = Math.max(...ys);
  if (hi === lo) hi = lo + 1;
  const span = hi - lo;
  lo -= span * 0.05;
  hi += span * 0.08;
  const x0 = points[0].x;
  const x1 = points[points.length - 1].x === x0 ? x0 + 1 : points[points.length - 1].x;
  const sx = (x) => pad.left + ((x - x0) / (x1 - x0)) * (W - pad.left - pad.right);
  const sy = (y) => pad.top + (1 - (y - lo) / (hi - lo)) * (H - pad.top - pad.bottom);

  let d = `M${sx(points[0].x).toFixed(1)},${sy(points[0].y).toFixed(1)}`;
  for (let i = 1; i < points.length; i++) {
    d += ` H${sx(points[i].x).toFixed(1)} V${sy(points[i].y).toFixed(1)}`;
  }
  const first = points[0];
  const last = points[points.length - 1];
  const summary = t("chart.summary", {
    count: points.length, from: money(first.y, currency), to: money(last.y, currency),
    low: money(Math.min(...points.map((p) => p.y)), currency),
    high: money(Math.max(...points.map((p) => p.y)), currency),
  });
  const guide = (value, cls, label) => svg("g", { class: cls },
    svg("line", { x1: pad.left, x2: W - pad.right, y1: sy(value), y2: sy(value) }),
    svg("text", { x: W - pad.right, y: sy(value) - 4, "text-anchor": "end" },
      `${label} ${money(value, currency)}`));
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: "chart",
    role: "img", "aria-labelledby": "chart-title chart-desc", "data-testid": "balance-chart",
    "data-points": points.length },
  svg("title", { id: "chart-title" }, t("chart.title")),
  svg("desc", { id: "chart-desc" }, summary),
  guide(target, "guide guide-target", t("balance.target")),
  guide(minimum, "guide guide-minimum", t("balance.minimum")),
  lo < 0 ? svg("line", { class: "zero", x1: pad.left, x2: W - pad.right, y1: sy(0), y2: sy(0) }) : null,
  svg("path", { class: "line", d }),
  svg("circle", { class: "dot", cx: sx(last.x), cy: sy(last.y), r: 4 }),
  svg("text", { class: "axis", x: pad.left, y: H - 6 }, shortDate(first.x)),
  svg("text", { class: "axis", x: W - pad.right, y: H - 6, "text-anchor": "end" }, shortDate(last.x)));
  return h("figure", { class: "chart-figure" }, chart, h("figcaption", { class: "muted", text: summary }));
}
