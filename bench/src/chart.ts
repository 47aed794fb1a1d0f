/** A hand-made SVG chart of a run (no chart library): three panels and the machine line. */
import type { BenchResults, Phase } from "./results.js";

const W = 1020;
const H = 440;
const PANEL_W = 300;
const PANEL_H = 270;
const TOP = 70;
const COLORS = {
  parley: "#4f46e5",
  parleyGroup: "#0ea5e9",
  socketio: "#f97316",
  grid: "#e5e7eb",
  text: "#111827",
};

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const num = (n: number) =>
  n >= 10_000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : `${Math.round(n)}`;

function text(
  x: number,
  y: number,
  s: string,
  opts: { size?: number; anchor?: string; weight?: string; fill?: string } = {},
) {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${opts.size ?? 11}" text-anchor="${opts.anchor ?? "start"}" font-weight="${opts.weight ?? "normal"}" fill="${opts.fill ?? COLORS.text}">${esc(s)}</text>`;
}

/** "Nice" upper bound for an axis. */
function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Tick count that gives round steps for a {@link niceMax} bound. */
function ticksFor(max: number): number {
  const mantissa = max / 10 ** Math.floor(Math.log10(max));
  return mantissa === 2.5 || mantissa === 5 ? 5 : 4;
}

function panelFrame(x: number, title: string, yLabel: string, max: number, ticks = ticksFor(max)): string[] {
  const out = [text(x + PANEL_W / 2, TOP - 22, title, { size: 13, anchor: "middle", weight: "bold" })];
  for (let i = 0; i <= ticks; i++) {
    const y = TOP + PANEL_H - (PANEL_H * i) / ticks;
    out.push(`<line x1="${x}" y1="${y}" x2="${x + PANEL_W}" y2="${y}" stroke="${COLORS.grid}"/>`);
    out.push(text(x - 6, y + 4, num((max * i) / ticks), { anchor: "end", size: 10 }));
  }
  out.push(text(x, TOP - 6, yLabel, { size: 10, fill: "#6b7280" }));
  return out;
}

function bars(
  x: number,
  items: { label: string; value: number; color: string }[],
  title: string,
  yLabel: string,
): string[] {
  const max = niceMax(Math.max(...items.map((i) => i.value), 1));
  const out = panelFrame(x, title, yLabel, max);
  const slot = PANEL_W / Math.max(items.length, 1);
  items.forEach((item, i) => {
    const h = (item.value / max) * PANEL_H;
    const bx = x + i * slot + slot * 0.2;
    out.push(
      `<rect x="${bx}" y="${TOP + PANEL_H - h}" width="${slot * 0.6}" height="${h}" fill="${item.color}" rx="2"/>`,
    );
    out.push(text(bx + slot * 0.3, TOP + PANEL_H - h - 4, num(item.value), { anchor: "middle", size: 10 }));
    out.push(text(bx + slot * 0.3, TOP + PANEL_H + 16, item.label, { anchor: "middle", size: 10 }));
  });
  return out;
}

/** Latency p99 per offered rate (log scale), one line per server. */
function latencyPanel(x: number, series: { name: string; color: string; phases: Phase[] }[]): string[] {
  const rates = [...new Set(series.flatMap((s) => s.phases.map((p) => p.offered as number)))].sort(
    (a, b) => a - b,
  );
  const all = series.flatMap((s) => s.phases.map((p) => Math.max(p.latency.p99, 0.1)));
  const lo = 0.1;
  const hi = niceMax(Math.max(...all, 10));
  const y = (v: number) =>
    TOP +
    PANEL_H -
    ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PANEL_H;
  const out = [
    text(x + PANEL_W / 2, TOP - 22, "1:1 p99 send→deliver vs offered rate", {
      size: 13,
      anchor: "middle",
      weight: "bold",
    }),
  ];
  out.push(text(x, TOP - 6, "ms (log scale)", { size: 10, fill: "#6b7280" }));
  for (let v = lo; v <= hi * 1.0001; v *= 10) {
    out.push(`<line x1="${x}" y1="${y(v)}" x2="${x + PANEL_W}" y2="${y(v)}" stroke="${COLORS.grid}"/>`);
    out.push(text(x - 6, y(v) + 4, v < 1 ? v.toFixed(1) : num(v), { anchor: "end", size: 10 }));
  }
  const gx = (i: number) => x + ((i + 0.5) / Math.max(rates.length, 1)) * PANEL_W;
  rates.forEach((r, i) => {
    out.push(text(gx(i), TOP + PANEL_H + 16, `${num(r)}/s`, { anchor: "middle", size: 10 }));
  });
  for (const s of series) {
    const pts = s.phases
      .map((p) => ({ i: rates.indexOf(p.offered as number), v: p.latency.p99 }))
      .filter((p) => p.i >= 0)
      .sort((a, b) => a.i - b.i);
    if (pts.length === 0) continue;
    out.push(
      `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.map((p) => `${gx(p.i).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ")}"/>`,
    );
    for (const p of pts)
      out.push(`<circle cx="${gx(p.i).toFixed(1)}" cy="${y(p.v).toFixed(1)}" r="3" fill="${s.color}"/>`);
  }
  return out;
}

/** Server RSS per connection at each ramp step. */
function rssPanel(x: number, r: BenchResults): string[] {
  const series = [
    { name: "Parley", color: COLORS.parley, steps: r.connections.parley?.steps ?? [] },
    { name: "Socket.IO", color: COLORS.socketio, steps: r.connections.socketio?.steps ?? [] },
  ];
  const maxX = niceMax(Math.max(1, ...series.flatMap((s) => s.steps.map((p) => p.streams))));
  const maxY = niceMax(Math.max(10, ...series.flatMap((s) => s.steps.map((p) => p.rssPerStreamKB))));
  const out = panelFrame(x, "Server RSS per live connection", "KB per connection", maxY);
  const px = (v: number) => x + (v / maxX) * PANEL_W;
  const py = (v: number) => TOP + PANEL_H - (v / maxY) * PANEL_H;
  for (let i = 0, n = ticksFor(maxX); i <= n; i++)
    out.push(
      text(px((maxX * i) / n), TOP + PANEL_H + 16, num((maxX * i) / n), { anchor: "middle", size: 10 }),
    );
  out.push(
    text(x + PANEL_W / 2, TOP + PANEL_H + 30, "live connections", {
      anchor: "middle",
      size: 10,
      fill: "#6b7280",
    }),
  );
  const target = py(10);
  out.push(
    `<line x1="${x}" y1="${target}" x2="${x + PANEL_W}" y2="${target}" stroke="#dc2626" stroke-dasharray="4 3"/>`,
  );
  out.push(text(x + PANEL_W - 2, target - 4, "target 10 KB", { anchor: "end", size: 10, fill: "#dc2626" }));
  for (const s of series) {
    if (s.steps.length === 0) continue;
    out.push(
      `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.steps.map((p) => `${px(p.streams).toFixed(1)},${py(p.rssPerStreamKB).toFixed(1)}`).join(" ")}"/>`,
    );
    for (const p of s.steps)
      out.push(
        `<circle cx="${px(p.streams).toFixed(1)}" cy="${py(p.rssPerStreamKB).toFixed(1)}" r="3" fill="${s.color}"/>`,
      );
  }
  return out;
}

/** The chart as an SVG document. */
export function chart(r: BenchResults): string {
  const sat = (phases: Phase[], scenario: string) =>
    phases.find((p) => p.scenario === scenario && p.offered === "saturation")?.deliveredPerSec ?? 0;
  const groupScenario =
    r.throughput.parley.find((p) => p.scenario.startsWith("group"))?.scenario ?? "group-50";
  const barItems = [
    { label: "Parley 1:1", value: sat(r.throughput.parley, "1:1"), color: COLORS.parley },
    {
      label: `Parley ${groupScenario}`,
      value: sat(r.throughput.parley, groupScenario),
      color: COLORS.parleyGroup,
    },
    { label: "Socket.IO 1:1", value: sat(r.throughput.socketio, "1:1"), color: COLORS.socketio },
  ].filter((b) => b.value > 0);
  const fixed = (phases: Phase[]) => phases.filter((p) => p.scenario === "1:1" && p.offered !== "saturation");
  const m = r.machine;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">`,
    `<title>Parley benchmark: delivered messages per second, 1:1 p99 latency and server memory per connection, Parley and a Socket.IO relay</title>`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    ...bars(50, barItems, "Delivered messages/s at saturation", "messages/s"),
    ...latencyPanel(385, [
      { name: "Parley", color: COLORS.parley, phases: fixed(r.throughput.parley) },
      { name: "Socket.IO", color: COLORS.socketio, phases: fixed(r.throughput.socketio) },
    ]),
    ...rssPanel(710, r),
    // legend
    `<rect x="385" y="${H - 64}" width="10" height="10" fill="${COLORS.parley}"/>`,
    text(400, H - 55, "Parley", { size: 11 }),
    `<rect x="460" y="${H - 64}" width="10" height="10" fill="${COLORS.socketio}"/>`,
    text(475, H - 55, "Socket.IO relay (no persistence)", { size: 11 }),
    text(
      W / 2,
      H - 14,
      `${r.quick ? "quick" : "full"} run, ${r.mode} mode, ${r.finishedAt.slice(0, 10)} — ${m.cpuModel}, ${m.cores} cores, ${m.ramGiB} GiB RAM, Node ${m.node}; load generators on the same machine`,
      { size: 11, anchor: "middle", fill: "#374151" },
    ),
    "</svg>",
  ];
  return `${parts.join("\n")}\n`;
}
