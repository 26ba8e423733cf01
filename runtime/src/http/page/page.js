// The job page: polls the endpoint's own routes and draws with SVG. Nothing
// is loaded from anywhere else.
"use strict";

const NS = "http://www.w3.org/2000/svg";
const PHASES = [
  ["start_delay_ms", "#9ecae1"], ["alignment_ms", "#fdae6b"], ["sync_ms", "#e6550d"],
  ["async_ms", "#31a354"], ["rest", "#bdbdbd"],
];
const COLORS = ["#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363", "#e7ba52", "#ad494a", "#8ca252"];
const samples = []; // {t, in: {op: n}, out: {op: n}}

function text(id, value) {
  document.getElementById(id).textContent = value === null || value === undefined || value === "" ? "-" : String(value);
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function el(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  parent.appendChild(e);
  return e;
}

function clear(svg) { while (svg.firstChild) svg.removeChild(svg.firstChild); }

function axis(svg, max, label) {
  el("line", { x1: 40, y1: 180, x2: 590, y2: 180, stroke: "#999" }, svg);
  el("line", { x1: 40, y1: 10, x2: 40, y2: 180, stroke: "#999" }, svg);
  el("text", { x: 2, y: 16 }, svg).textContent = label(max);
  el("text", { x: 2, y: 180 }, svg).textContent = "0";
}

// Prometheus text: the value of every sample of `name`, by its operator label.
function byOperator(metrics, name) {
  const out = {};
  const re = new RegExp("^" + name + "\\{[^}]*operator=\"([^\"]*)\"[^}]*\\} ([0-9.e+]+)$");
  for (const line of metrics.split("\n")) {
    const m = line.match(re);
    if (m) out[m[1]] = (out[m[1]] || 0) + Number(m[2]);
  }
  return out;
}

function drawDurations(done) {
  const svg = document.getElementById("durations");
  clear(svg);
  const max = Math.max(1, ...done.map((c) => c.duration_ms));
  axis(svg, max, (m) => m + " ms");
  const w = 550 / Math.max(done.length, 1);
  done.forEach((c, i) => {
    let y = 180;
    let rest = c.duration_ms;
    for (const [phase, color] of PHASES) {
      let v = phase === "rest" ? Math.max(rest, 0) : Math.min(c[phase], rest);
      if (phase !== "rest") rest -= v;
      const h = (v / max) * 170;
      if (h <= 0) continue;
      y -= h;
      const r = el("rect", { x: 40 + i * w + 1, y, width: Math.max(w - 2, 1), height: h, fill: color, class: "phase " + phase }, svg);
      el("title", {}, r).textContent = `checkpoint ${c.id}: ${phase.replace("_ms", "")} ${v} ms`;
    }
  });
}

function line(svg, points, color, dashed, cls) {
  if (points.length === 0) return;
  el("polyline", {
    points: points.map(([x, y]) => x.toFixed(1) + "," + y.toFixed(1)).join(" "),
    fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": dashed ? "5,4" : "none", class: cls,
  }, svg);
}

function drawBytes(done) {
  const svg = document.getElementById("bytes");
  clear(svg);
  const max = Math.max(1, ...done.map((c) => Math.max(c.bytes_written, c.full_size)));
  axis(svg, max, bytes);
  const step = 550 / Math.max(done.length - 1, 1);
  const at = (i, v) => [40 + i * step, 180 - (v / max) * 170];
  line(svg, done.map((c, i) => at(i, c.bytes_written)), COLORS[0], false, "written");
  line(svg, done.map((c, i) => at(i, c.full_size)), COLORS[1], true, "referenced");
}

function drawRecords() {
  const svg = document.getElementById("records");
  clear(svg);
  if (samples.length < 2) { axis(svg, 0, () => "0/s"); return; }
  const rates = []; // per sample pair: {op: [in/s, out/s]}
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i], dt = (b.t - a.t) / 1000;
    const r = {};
    for (const op of new Set([...Object.keys(b.in), ...Object.keys(b.out)])) {
      r[op] = [((b.in[op] || 0) - (a.in[op] || 0)) / dt, ((b.out[op] || 0) - (a.out[op] || 0)) / dt];
    }
    rates.push(r);
  }
  const ops = [...new Set(rates.flatMap((r) => Object.keys(r)))].sort();
  const max = Math.max(1, ...rates.flatMap((r) => Object.values(r).flat()));
  axis(svg, max, (m) => Math.round(m) + "/s");
  const step = 550 / Math.max(rates.length - 1, 1);
  ops.forEach((op, k) => {
    const color = COLORS[k % COLORS.length];
    line(svg, rates.map((r, i) => [40 + i * step, 180 - (((r[op] || [0, 0])[0]) / max) * 170]), color, false, "records-in");
    line(svg, rates.map((r, i) => [40 + i * step, 180 - (((r[op] || [0, 0])[1]) / max) * 170]), color, true, "records-out");
    el("text", { x: 480, y: 20 + k * 12, fill: color }, svg).textContent = op;
  });
}

function fillOperators(latest) {
  const body = document.querySelector("#operators tbody");
  body.textContent = "";
  const ops = [...new Set([...Object.keys(latest.in), ...Object.keys(latest.out)])].sort();
  for (const op of ops) {
    const tr = body.insertRow();
    for (const v of [op, latest.in[op], latest.out[op]]) {
      tr.insertCell().textContent = v === undefined ? "-" : String(v);
    }
  }
}

function fillHistory(history) {
  const body = document.querySelector("#history tbody");
  body.textContent = "";
  for (const c of history) {
    const tr = body.insertRow();
    tr.className = c.status;
    const kind = c.format ? `${c.kind} (${c.format})` : c.kind;
    const cells = [
      c.id, kind, c.status, new Date(c.trigger_time_ms).toISOString().replace("T", " ").slice(0, 23),
      c.duration_ms + " ms", c.sync_ms + " ms", c.async_ms + " ms", c.alignment_ms + " ms", c.start_delay_ms + " ms",
      bytes(c.bytes_written), bytes(c.full_size),
    ];
    for (const v of cells) tr.insertCell().textContent = String(v);
    if (c.failure) tr.title = c.failure;
  }
}

async function refresh() {
  try {
    const [job, checkpoints, metrics] = await Promise.all([
      fetch("/job").then((r) => r.json()),
      fetch("/checkpoints").then((r) => r.json()),
      fetch("/metrics").then((r) => (r.ok ? r.text() : "")),
    ]);
    text("job-name", job.job_name);
    document.title = job.job_name + " - weir";
    text("state", job.state);
    text("parallelism", job.parallelism);
    text("tasks", job.operators.map((t) => `${t.id} x${t.parallelism}`).join(", "));
    text("restarts", job.restarts);
    text("last-failure", job.last_failure);
    text("restored-from", job.restored_from);
    samples.push({ t: Date.now(), in: byOperator(metrics, "weir_records_in_total"), out: byOperator(metrics, "weir_records_out_total") });
    if (samples.length > 120) samples.shift();
    fillOperators(samples[samples.length - 1]);
    fillHistory(checkpoints.history);
    text("counts", `(${checkpoints.counts.completed} completed, ${checkpoints.counts.failed} failed, ${checkpoints.counts.in_progress} in progress)`);
    const done = checkpoints.history.filter((c) => c.status === "completed").reverse();
    drawDurations(done);
    drawBytes(done);
    drawRecords();
    text("updated", "updated " + new Date().toISOString());
  } catch (e) {
    text("updated", "cannot reach the job: " + e);
  }
}

refresh();
setInterval(refresh, 2000);
