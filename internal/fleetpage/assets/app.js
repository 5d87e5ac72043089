// The fleet page: one EventSource; a full frame replaces what is shown,
// a partial one updates only the hosts it carries. Rows are kept by host
// name and only cells whose text changed are written, so a fleet of
// thousands of hosts costs the browser little per update.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const rows = new Map();   // name → {tr, cells, data, group}
  const groups = new Map(); // group → {section, tbody, title, names: Set, dirty}
  const main = $("groups");
  let skew = 0;             // server time − browser time, ms
  let frames = 0;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setText(e, text) {
    if (e.textContent !== text) e.textContent = text;
  }
  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }
  // age is how long ago t was, coarse so that it changes seldom.
  function age(t) {
    if (!t || t.startsWith("0001-")) return "never";
    const s = Math.max(0, (Date.now() + skew - Date.parse(t)) / 1000);
    if (s < 60) return (s < 10 ? "<10s" : Math.floor(s / 10) * 10 + "s") + " ago";
    if (s < 3600) return Math.floor(s / 60) + "m ago";
    if (s < 172800) return Math.floor(s / 3600) + "h ago";
    return Math.floor(s / 86400) + "d ago";
  }
  function when(t) {
    if (!t || t.startsWith("0001-")) return "an unknown time";
    return new Date(t).toLocaleString();
  }

  function group(name) {
    let g = groups.get(name);
    if (g) return g;
    const section = el("section", "group");
    const h2 = el("h2", "", name);
    const title = el("span", "muted");
    h2.appendChild(title);
    const table = el("table");
    const head = el("tr");
    for (const [label, cls] of [["host", ""], ["revision", "num"], ["lag", "num"], ["state", ""], ["details", ""], ["reported", ""]]) {
      head.appendChild(el("th", cls, label));
    }
    table.appendChild(el("thead")).appendChild(head);
    const tbody = table.appendChild(el("tbody"));
    section.append(h2, table);
    section.dataset.group = name;
    g = { name, section, tbody, title, names: new Set(), dirty: true };
    groups.set(name, g);
    return g;
  }

  function newRow(name) {
    const tr = el("tr");
    tr.dataset.host = name;
    const cells = {
      name: el("td", "name", name), at: el("td", "num"), lag: el("td", "num"),
      state: el("td", "state"), detail: el("td", "detail"), age: el("td", "age"),
    };
    cells.badge = cells.state.appendChild(el("span", "st"));
    tr.append(cells.name, cells.at, cells.lag, cells.state, cells.detail, cells.age);
    return { tr, cells, data: null, json: "", group: null };
  }

  // details are the lines under a host: failing bindings, problem, hold,
  // canary gate, duplicate daemons.
  function details(h) {
    const out = [];
    for (const f of h.failing || []) out.push(["err", "failed: " + f.id + " (" + f.target + "): " + f.error]);
    if (h.more_failed) out.push(["err", "failed: " + plural(h.more_failed, "more binding") + ", left out of the status for its size"]);
    if (h.problem) out.push(["err", "unhealthy: " + h.problem]);
    if (h.held) out.push(["warn", "held: " + h.held]);
    if (h.following) out.push(["info", h.following]);
    if (h.duplicates) out.push(["warn", "duplicate: " + h.duplicates + " daemons claim this name"]);
    return out;
  }

  function update(h) {
    const json = JSON.stringify(h);
    let r = rows.get(h.name);
    if (!r) {
      r = newRow(h.name);
      rows.set(h.name, r);
    }
    if (r.json === json) return;
    const c = r.cells;
    setText(c.at, String(h.at));
    setText(c.lag, String(h.lag));
    setText(c.badge, h.state);
    const cls = "st st-" + h.state;
    if (c.badge.className !== cls) c.badge.className = cls;
    const rowCls = h.state === "failed" ? "failed" : "";
    if (r.tr.className !== rowCls) r.tr.className = rowCls;
    r.tr.dataset.state = h.state;
    const lines = details(h);
    const key = JSON.stringify(lines);
    if (c.detail.dataset.key !== key) {
      c.detail.dataset.key = key;
      c.detail.replaceChildren(...lines.map(([k, t]) => el("div", k, t)));
    }
    const who = [h.hostname && "on " + h.hostname, h.pid && "pid " + h.pid, h.reconfig && "reconfig " + h.reconfig].filter(Boolean).join(", ");
    if (c.name.title !== who) c.name.title = who;
    setText(c.age, age(h.reported));
    const failedBefore = r.data && r.data.state === "failed";
    if (r.group !== h.group) {
      if (r.group !== null) {
        const old = groups.get(r.group);
        old.names.delete(h.name);
        old.dirty = true;
      }
      r.group = h.group;
      const g = group(h.group);
      g.names.add(h.name);
      g.dirty = true;
    } else if (failedBefore !== (h.state === "failed")) {
      groups.get(h.group).dirty = true;
    }
    r.data = h;
    r.json = json;
  }

  function remove(name) {
    const r = rows.get(name);
    if (!r) return;
    rows.delete(name);
    r.tr.remove();
    const g = groups.get(r.group);
    g.names.delete(name);
    g.dirty = true;
  }

  const failedFirst = (a, b) => {
    const fa = rows.get(a).data.state === "failed", fb = rows.get(b).data.state === "failed";
    if (fa !== fb) return fa ? -1 : 1;
    return a < b ? -1 : a > b ? 1 : 0;
  };

  // arrange puts each changed group's rows in order (failed first, then
  // by name), moving only the rows out of place, and the groups with a
  // failed host first.
  function arrange() {
    for (const g of groups.values()) {
      if (g.names.size === 0) {
        g.section.remove();
        groups.delete(g.name);
        continue;
      }
      const n = { ok: 0, behind: 0, held: 0, failed: 0 };
      for (const name of g.names) n[rows.get(name).data.state]++;
      g.failed = n.failed;
      const parts = [plural(g.names.size, "host")];
      for (const s of ["ok", "behind", "held", "failed"]) if (n[s]) parts.push(n[s] + " " + s);
      setText(g.title, parts.join(" · "));
      if (!g.dirty) continue;
      g.dirty = false;
      const want = [...g.names].sort(failedFirst);
      let cur = g.tbody.firstElementChild;
      for (const name of want) {
        const tr = rows.get(name).tr;
        if (tr === cur) cur = cur.nextElementSibling;
        else g.tbody.insertBefore(tr, cur);
      }
    }
    const order = [...groups.values()].sort((a, b) => (b.failed > 0) - (a.failed > 0) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let cur = main.firstElementChild;
    if (cur && cur.id === "empty") cur = cur.nextElementSibling;
    for (const g of order) {
      if (g.section === cur) cur = cur.nextElementSibling;
      else main.insertBefore(g.section, cur);
    }
    $("empty").hidden = rows.size > 0;
  }

  function header(f) {
    setText($("prefix"), f.fleet_prefix + (f.group ? " · group " + f.group : ""));
    setText($("etcd-rev"), String(f.etcd_revision));
    setText($("rev"), String(f.revision));
    const s = f.summary;
    setText($("n-hosts"), String(s.hosts));
    setText($("n-ok"), String(s.ok));
    setText($("n-behind"), String(s.behind));
    setText($("n-failed"), String(s.failed));
    setText($("n-held"), String(s.held));
    setText($("basis"), f.barrier
      ? "Hosts are judged against the newest barrier, revision " + f.revision +
        (f.barrier_by ? " (written by " + f.barrier_by + ", " + when(f.barrier_since) + ")" : "") +
        ". A change made since shows here once hosts report it or the next `reconfig fleet status` or `fleet wait` asks them; this page writes nothing."
      : "No barrier yet: hosts are judged against revision " + f.revision + ", when this page read the fleet, and a host none of whose keys changed since it last reported shows as behind. `reconfig fleet status` asks every host where it is; this page writes nothing.");
    const hold = $("hold");
    hold.hidden = !f.hold;
    if (f.hold) {
      const h = f.hold;
      setText(hold, "HELD since " + when(h.since) + (h.user || h.host ? " by " + h.user + " on " + h.host : "") +
        ": " + (h.reason || "held") + ". Nothing new is applied until `reconfig fleet release`.");
    }
    const problem = $("problem");
    problem.hidden = f.health.ok;
    if (!f.health.ok) setText(problem, "The page's view of etcd is not current: " + f.health.problem);
    gates(f.gates || []);
  }

  function gates(list) {
    const box = $("gates");
    box.hidden = list.length === 0;
    const key = JSON.stringify(list);
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    box.replaceChildren(...list.map((g) => {
      const d = el("div", "gate" + (g.waiting > g.gate ? " waiting" : ""));
      d.append("canary gate: ", plural(g.followers, "follower"), " of ", el("b", "", g.group), " at ",
        el("b", "", String(g.gate) + (g.gate_max !== g.gate ? "–" + g.gate_max : "")));
      if (g.waiting > g.gate) d.append(", waiting for ", el("b", "", String(g.waiting)));
      if (g.reason) d.append(" (" + g.reason + ")");
      if (g.promoted) d.append("; promoted to " + g.promoted.revision + " by " + g.promoted.user + " on " + g.promoted.host);
      return d;
    }));
  }

  function spark(history) {
    const svg = $("spark");
    const max = 144, w = 2, ns = "http://www.w3.org/2000/svg";
    const bars = [];
    history.slice(-max).forEach((s, i) => {
      const x = (max - Math.min(history.length, max) + i) * w;
      let y = 48;
      for (const [n, cls] of [[s.at, "b-ok"], [s.held, "b-held"], [s.failed, "b-failed"]]) {
        if (!n || !s.hosts) continue;
        const h = 48 * n / s.hosts;
        y -= h;
        const r = document.createElementNS(ns, "rect");
        r.setAttribute("x", x); r.setAttribute("y", y.toFixed(2));
        r.setAttribute("width", w - 0.4); r.setAttribute("height", h.toFixed(2));
        r.setAttribute("class", cls);
        bars.push(r);
      }
    });
    svg.replaceChildren(...bars);
    const last = history[history.length - 1];
    if (last) {
      const mins = Math.max(1, Math.round((last.t - history[0].t) / 60));
      setText($("spark-caption"), "hosts at revision (green), held (amber), failed (red), last " + plural(mins, "minute") + ": " + last.at + " of " + last.hosts + " at the last sample");
    }
  }

  function ages() {
    for (const r of rows.values()) setText(r.cells.age, age(r.data.reported));
  }

  function apply(f) {
    skew = Date.parse(f.time) - Date.now();
    if (f.full) {
      const keep = new Set((f.hosts || []).map((h) => h.name));
      for (const name of [...rows.keys()]) if (!keep.has(name)) remove(name);
    }
    for (const h of f.hosts || []) update(h);
    for (const name of f.gone || []) remove(name);
    header(f);
    if (f.history) spark(f.history);
    arrange();
    frames++;
    const meta = $("meta");
    meta.dataset.frames = String(frames);
    setText(meta, "Updated " + new Date(Date.now() + skew).toLocaleTimeString() + " · " + plural(frames, "update") + " since this page opened · read-only: the page writes nothing to etcd.");
    document.dispatchEvent(new CustomEvent("fleet-update"));
  }

  function connect() {
    const es = new EventSource("events");
    const conn = $("conn");
    es.onopen = () => { setText(conn, "live"); conn.className = "conn conn-live"; };
    es.onerror = () => { setText(conn, "reconnecting…"); conn.className = "conn conn-wait"; };
    es.onmessage = (e) => apply(JSON.parse(e.data));
  }

  connect();
  setInterval(ages, 5000);
})();
