// tapstack status page: polls status.json every second and renders the
// tables, the interface diagram and a time-sequence graph per TCP
// connection. No library, nothing fetched from elsewhere.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
let paused = false;
let last = null;          // previous snapshot, for counter rates
let lastAt = 0;
const open = new Map();    // connection id -> graph shown, as the reader chose
const firstSeen = [];      // connection ids in the order they appeared
const zoom = new Map();    // connection id -> graph time range in ms (0: all)
// #zoom=MS in the address sets the range every graph starts with.
const defaultZoom = Number((/zoom=(\d+)/.exec(location.hash) || [])[1] || 0);
const ZOOMS = [[0, "All"], [5000, "Last 5 s"], [1000, "Last 1 s"], [200, "Last 200 ms"]];

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, String(v));
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
}

function rows(id, list, cells, empty) {
  const tb = document.querySelector("#" + id + " tbody");
  const n = tb.closest("table").tHead.rows[0].cells.length;
  const out = [];
  if (!list || list.length === 0) {
    out.push(el("tr", {class: "empty"}, el("td", {colspan: n, text: empty || "none"})));
  } else {
    for (const x of list) {
      const tr = el("tr");
      for (const c of cells(x)) tr.append(c instanceof Node ? el("td", {}, c) : el("td", {text: c == null ? "" : String(c)}));
      out.push(tr);
    }
  }
  tb.replaceChildren(...out);
}

function bytes(n) {
  const a = Math.abs(n);
  if (a >= 1 << 30) return (n / (1 << 30)).toFixed(1) + "G";
  if (a >= 1 << 20) return (n / (1 << 20)).toFixed(1) + "M";
  if (a >= 1 << 10) return (n / (1 << 10)).toFixed(1) + "K";
  return String(n);
}

// ssLine is the connection's details in the words of ss -ti.
function ssLine(d) {
  const p = [d.cc];
  if (d.snd_wscale || d.rcv_wscale) p.push("wscale:" + d.snd_wscale + "," + d.rcv_wscale);
  if (d.ts) p.push("ts");
  if (d.sack_ok) p.push("sack");
  if (d.ecn) p.push("ecn");
  p.push("rto:" + d.rto_ms.toFixed(0));
  if (d.has_rtt) p.push("rtt:" + d.rtt_ms.toFixed(3) + "/" + d.rttvar_ms.toFixed(3));
  if (d.backoff) p.push("backoff:" + d.backoff);
  p.push("mss:" + d.mss, "cwnd:" + bytes(d.cwnd));
  if (d.ssthresh) p.push("ssthresh:" + bytes(d.ssthresh));
  p.push("bytes_in_flight:" + d.bytes_in_flight);
  if (d.sacked) p.push("sacked:" + d.sacked);
  p.push("snd_una:" + d.snd_una, "snd_nxt:" + d.snd_nxt, "snd_wnd:" + d.snd_wnd, "rcv_nxt:" + d.rcv_nxt, "rcv_space:" + d.rcv_space);
  if (d.recovery) p.push("recovery");
  if (d.retrans_seen) p.push("retrans_seen:" + d.retrans_seen);
  if (d.sack.length) p.push("sack_blocks:" + d.sack.map(b => b[0] + "-" + b[1]).join(","));
  if (d.ooo.length) p.push("ooo:" + d.ooo.map(b => b[0] + "-" + b[1]).join(","));
  return p.join(" ");
}

function render(s) {
  const now = performance.now();
  document.getElementById("state").textContent =
    "updated " + new Date(s.time).toLocaleTimeString() + (s.public ? " · public page: peers, counters and graphs are shown to the host's operator only (tapstack status, or tapstack up --status full)" : "");
  document.getElementById("forwarding").textContent = s.forwarding ? "(forwarding on)" : "(forwarding off)";
  diagram(s);
  rows("t-interfaces", s.interfaces, i => [
    i.id, i.name, i.kind + (i.vid ? " " + i.vid : "") + (i.mode ? " (" + i.mode + ")" : ""),
    i.parent || (i.members || []).join(", "), i.mtu, i.mac || "",
    i.addrs.map(a => a.family + " " + a.prefix + (a.scope === "link" ? " scope link" : "")).join("\n")]);
  rows("t-routes", s.routes, r => [r.dst, r.via || "", r.dev || "", r.src || "", r.text]);
  rows("t-arp", s.arp, n => [n.addr, n.mac || "(incomplete)", n.dev, n.state, n.flags, n.queued], "no entries");
  rows("t-ndp", s.ndp, n => [n.addr, n.mac || "(incomplete)", n.dev, n.state, n.flags, n.queued], "no entries");
  tcp(s);
  rows("t-udp", s.udp, u => [u.queued, u.local, u.remote]);
  counters(s, now);
  last = s; lastAt = now;
}

function tcp(s) {
  for (const c of s.tcp) {
    if (c.id && !firstSeen.includes(c.id)) firstSeen.push(c.id);
  }
  if (firstSeen.length > 1024) firstSeen.splice(0, firstSeen.length - 1024);
  // A graph shows by itself for the first few connections and for bulk
  // ones (over 64 KiB either way); the button overrides.
  const shownFor = c => open.has(c.id) ? open.get(c.id) :
    firstSeen.indexOf(c.id) < 4 || (c.detail && c.detail.snd_una + c.detail.rcv_nxt > 65536);
  const focusKey = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.key : null;
  rows("t-tcp", s.tcp, c => {
    let btn = "";
    if (c.id) {
      const shown = shownFor(c);
      btn = el("button", {type: "button", "data-key": "g:" + c.id, "aria-expanded": String(shown),
        "aria-controls": "graph-" + cssId(c.id),
        onclick: () => { open.set(c.id, !shown); if (last) { tcp(last); } }},
      shown ? "Hide graph" : "Show graph");
    }
    return [c.state, c.recvq, c.sendq, c.local, c.remote, c.detail ? el("code", {text: ssLine(c.detail)}) : "", btn];
  });
  const box = document.getElementById("graphs");
  const figs = [];
  for (const c of s.tcp) {
    if (!c.id || !shownFor(c)) continue;
    figs.push(graphFigure(c));
  }
  box.replaceChildren(...figs);
  if (focusKey) {
    const f = document.querySelector('[data-key="' + CSS.escape(focusKey) + '"]');
    if (f) f.focus();
  }
}

function cssId(id) { return id.replace(/[^A-Za-z0-9]/g, "_"); }

// graphFigure draws the time-sequence graph of connection c: x is time,
// y the relative sequence number. For a connection that mostly receives,
// the received data and our advertised window edge instead.
function graphFigure(c) {
  const fig = el("figure", {class: "tsg-fig", id: "graph-" + cssId(c.id), tabindex: "-1"});
  const g = c.graph;
  const W = 720, H = 320, L = 64, R = 12, T = 30, B = 36;
  if (!g || !g.samples || g.samples.length === 0) {
    fig.append(el("figcaption", {text: c.local + " ⇄ " + c.remote + ": no samples yet"}));
    return fig;
  }
  const all = g.samples;
  const lastS = all[all.length - 1];
  const sending = lastS[3] >= lastS[5]; // snd_max vs rcv_nxt
  // zoom: the last win ms only (0: everything sampled)
  const win = zoom.has(c.id) ? zoom.get(c.id) : defaultZoom;
  const t0 = win > 0 ? Math.max(0, lastS[0] - win) : 0;
  let S = all.filter(r => r[0] >= t0);
  const before = all.filter(r => r[0] < t0);
  if (before.length) S = [[t0, ...before[before.length - 1].slice(1)], ...S]; // where the lines stood at t0
  const zb = el("div", {class: "zoom", role: "group", "aria-label": "Time range of the graph"});
  for (const [ms, label] of ZOOMS) {
    zb.append(el("button", {type: "button", "data-key": "z:" + ms + ":" + c.id, "aria-pressed": String(ms === win),
      onclick: () => { zoom.set(c.id, ms); if (last) tcp(last); }}, label));
  }
  fig.append(el("h3", {text: c.local + " ⇄ " + c.remote}), zb);
  // columns: 0 t, 1 una, 2 nxt, 3 max, 4 wnd edge, 5 rcv_nxt, 6 rcv_adv, 7 cwnd, 8 flags, 9.. sack
  const lo = sending ? 1 : 5, hiData = sending ? 3 : 5, edge = sending ? 4 : 6;
  // y range: the data, and the window edge unless it lies far above
  // (a peer with a 16 MB window would squash the data to a line).
  let ymin = Infinity, ydata = -Infinity, yedge = -Infinity;
  for (const r of S) {
    ymin = Math.min(ymin, r[lo]);
    ydata = Math.max(ydata, r[hiData], r[lo]);
    yedge = Math.max(yedge, r[edge]);
  }
  let ymax = Math.max(ydata, Math.min(yedge, ydata + Math.max((ydata - ymin) / 4, 1)));
  const clipped = yedge > ymax;
  if (ymax <= ymin) ymax = ymin + 1;
  const tmax = Math.max(lastS[0], t0 + 1);
  const x = t => L + (W - L - R) * (t - t0) / (tmax - t0);
  const y = v => T + (H - T - B) * (1 - (Math.min(v, ymax) - ymin) / (ymax - ymin)); // clipped at the top
  const title = (sending ? "Data sent by us" : "Data received by us") + " on " + c.local + " ⇄ " + c.remote;
  const root = svg("svg", {class: "tsg", viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": title,
    "data-points": S.length, "data-direction": sending ? "sent" : "received"});
  root.append(svg("title", {text: title}));
  // axes
  root.append(svg("line", {class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B}));
  root.append(svg("line", {class: "axis", x1: L, y1: T, x2: L, y2: H - B}));
  for (let i = 0; i <= 4; i++) {
    const v = ymin + (ymax - ymin) * i / 4, t = t0 + (tmax - t0) * i / 4;
    root.append(svg("text", {class: "tick", x: L - 4, y: y(v) + 4, "text-anchor": "end", text: bytes(Math.round(v))}));
    root.append(svg("text", {class: "tick", x: x(t), y: H - B + 14, "text-anchor": "middle", text: (t / 1000).toFixed(2) + "s"}));
  }
  root.append(svg("text", {class: "label", x: (L + W) / 2, y: H - 4, "text-anchor": "middle", text: "time since the first sample"}));
  // step lines: ACKs / window edge
  const step = (col, cls) => {
    let d = "M" + x(S[0][0]).toFixed(1) + " " + y(S[0][col]).toFixed(1);
    for (const r of S.slice(1)) d += " H" + x(r[0]).toFixed(1) + " V" + y(r[col]).toFixed(1);
    d += " H" + x(tmax).toFixed(1);
    root.append(svg("path", {class: cls, d: d}));
  };
  step(edge, "win");
  step(lo, "ack");
  // data: the highest sequence sent (or received) at each sample, as points
  const pts = svg("g", {class: "data"});
  for (const r of S) {
    if (sending && r[8] & 1) {
      // retransmitting: SND.NXT went back; a red bar from SND.NXT up to SND.MAX
      pts.append(svg("line", {class: "rtx", x1: x(r[0]), x2: x(r[0]), y1: y(r[2]), y2: y(r[3])}));
      pts.append(svg("circle", {class: "rtx pt", cx: x(r[0]), cy: y(r[2]), r: 2.5}));
    } else {
      pts.append(svg("circle", {class: (r[8] & 2 ? "rec " : "") + "pt", cx: x(r[0]), cy: y(r[hiData]), r: 1.8}));
    }
    if (sending) {
      for (let k = 9; k + 1 < r.length; k += 2) {
        pts.append(svg("line", {class: "sack", x1: x(r[0]), x2: x(r[0]), y1: y(r[k]), y2: y(r[k + 1])}));
      }
    }
  }
  root.append(pts);
  // legend
  const items = sending
    ? [["pt", "data sent (SND.MAX)"], ["ack", "ACKed (SND.UNA)"], ["win", "peer window edge" + (clipped ? " (above)" : "")], ["sack", "SACK block"], ["rtx", "retransmission"]]
    : [["pt", "data received (RCV.NXT)"], ["ack", "ACKed by us"], ["win", "our advertised window edge" + (clipped ? " (above)" : "")]];
  let lx = L + 8;
  for (const [cls, txt] of items) {
    root.append(svg("rect", {class: "key " + cls, x: lx, y: 8, width: 10, height: 10}));
    root.append(svg("text", {class: "tick", x: lx + 14, y: 17, text: txt}));
    lx += 30 + txt.length * 6;
  }
  const d = c.detail;
  const cap = title + ": " + S.length + " samples over " + ((tmax - t0) / 1000).toFixed(2) + " s" +
    (g.retrans ? ", " + g.retrans + " retransmission episodes" : "") +
    (d ? ", cwnd " + bytes(d.cwnd) + ", in flight " + bytes(d.bytes_in_flight) : "");
  fig.append(root, el("figcaption", {text: cap}));
  return fig;
}

function counters(s, now) {
  const f = document.getElementById("filter").value.trim();
  const zero = document.getElementById("zero").checked;
  if (!s.counters) {
    rows("t-counters", [], null, "not shown on the public page: tapstack status on the host shows them");
    return;
  }
  const prev = new Map();
  if (last && last.counters) for (const c of last.counters) prev.set(c.name, c.value);
  const dt = (now - lastAt) / 1000;
  const list = s.counters.filter(c => (zero || c.value !== 0) && (!f || c.name.includes(f)));
  rows("t-counters", list, c => {
    const p = prev.get(c.name);
    const rate = p != null && dt > 0 ? ((c.value - p) / dt).toFixed(1) : "";
    return [c.name, c.value, rate, c.help];
  }, "no counters match");
}

// diagram draws devices, the interfaces on them (VLANs under their trunk,
// bond members under their bond) and the routes out of each interface.
function diagram(s) {
  const box = document.getElementById("diagram-box");
  const devs = [];   // {name, kind, ifcs: [...]}
  const byName = new Map();
  const dev = (name, kind) => {
    if (!byName.has(name)) { const d = {name, kind, ifcs: []}; byName.set(name, d); devs.push(d); }
    return byName.get(name);
  };
  for (const i of s.interfaces) {
    if (i.kind === "vlan" || i.kind === "native") dev(i.parent || i.name.split(".")[0], "trunk").ifcs.push(i);
    else if (i.kind === "bond") { const d = dev(i.name + " members", "bond"); d.members = i.members || []; d.ifcs.push(i); }
    else dev(i.name, i.kind === "tun" ? "TUN device" : "TAP device").ifcs.push(i);
  }
  const BH = 46, GAP = 12, W = 880;
  const ifY = new Map();
  let yy = 40;
  const root = svg("svg", {class: "diagram", role: "img"});
  root.append(svg("text", {class: "colhead", x: 20, y: 20, text: "devices"}));
  root.append(svg("text", {class: "colhead", x: 250, y: 20, text: "interfaces (NICs)"}));
  root.append(svg("text", {class: "colhead", x: 560, y: 20, text: "routes"}));
  for (const d of devs) {
    const top = yy;
    for (const i of d.ifcs) {
      const box = svg("g", {class: "ifc " + i.kind});
      box.append(svg("rect", {x: 250, y: yy, width: 250, height: BH, rx: 6}));
      box.append(svg("text", {x: 260, y: yy + 18, class: "name", text: i.name + (i.vid ? "  (VLAN " + i.vid + ")" : i.kind === "native" ? "  (untagged)" : "")}));
      box.append(svg("text", {x: 260, y: yy + 36, class: "small", text: i.addrs.filter(a => a.scope !== "link").map(a => a.prefix).join("  ") || "no global address"}));
      root.append(box);
      ifY.set(i.name, yy + BH / 2);
      yy += BH + GAP;
    }
    const h = yy - GAP - top;
    const g = svg("g", {class: "dev"});
    g.append(svg("rect", {x: 20, y: top, width: 180, height: h, rx: 6}));
    g.append(svg("text", {x: 30, y: top + 18, class: "name", text: d.kind === "bond" ? d.ifcs[0].name : d.name}));
    g.append(svg("text", {x: 30, y: top + 36, class: "small", text: d.kind === "bond" ? "bond of " + d.members.join(", ") : d.kind}));
    root.append(g);
    for (const i of d.ifcs) root.append(svg("line", {class: "wire", x1: 200, y1: ifY.get(i.name), x2: 250, y2: ifY.get(i.name)}));
    yy += GAP;
  }
  let ry = 40;
  for (const r of s.routes) {
    const rh = 26;
    root.append(svg("rect", {class: "route", x: 560, y: ry, width: 300, height: rh, rx: 4}));
    root.append(svg("text", {class: "small", x: 568, y: ry + 17, text: r.dst + (r.via ? " via " + r.via : "")}));
    if (ifY.has(r.dev)) root.append(svg("path", {class: "wire", d: "M500 " + ifY.get(r.dev) + " C530 " + ifY.get(r.dev) + " 530 " + (ry + rh / 2) + " 560 " + (ry + rh / 2)}));
    ry += rh + 6;
  }
  const H = Math.max(yy, ry) + 10;
  root.setAttribute("viewBox", "0 0 " + W + " " + H);
  root.setAttribute("aria-label", s.interfaces.length + " interfaces and " + s.routes.length + " routes: " +
    s.interfaces.map(i => i.name).join(", "));
  root.prepend(svg("title", {text: "Interfaces, VLANs, bonds and routes"}));
  box.replaceChildren(root);
}

async function poll() {
  if (!paused) {
    try {
      const r = await fetch("status.json", {cache: "no-store"});
      if (!r.ok) throw new Error("HTTP " + r.status);
      render(await r.json());
      if (document.getElementById("alert").textContent) document.getElementById("alert").textContent = "";
    } catch (e) {
      const a = document.getElementById("alert"); // announced, once per change
      const msg = "cannot reach the host: " + e.message;
      if (a.textContent !== msg) a.textContent = msg;
    }
  }
  setTimeout(poll, 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  const p = document.getElementById("pause");
  p.addEventListener("click", () => {
    paused = !paused;
    p.setAttribute("aria-pressed", String(paused));
    p.textContent = paused ? "Resume updates" : "Pause updates";
  });
  const again = () => { if (last) counters(last, lastAt); };
  document.getElementById("filter").addEventListener("input", again);
  document.getElementById("zero").addEventListener("change", again);
  poll();
});
