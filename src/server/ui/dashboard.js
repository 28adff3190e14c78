// cairn's dashboard: polls this node's /v1/stats (and /v1/cluster... in cluster mode)
// every two seconds and renders them. No framework and nothing from another origin.
'use strict';

const POLL_MS = 2000;
const HISTORY = 60;  // samples in the throughput chart (two minutes)
const COLORS = ['#1f6fbf', '#e67e22', '#2e8540', '#8e44ad', '#c0392b', '#16a085', '#d4ac0d',
                '#7f8c8d', '#2c3e50', '#d35400', '#27ae60', '#5d6d7e'];

const state = { last: null, history: [], ringVersion: null };

function $(id) { return document.getElementById(id); }
function setText(id, text) { const e = $(id); if (e) e.textContent = text; }

function fmtInt(n) { return Math.round(n).toLocaleString('en-US'); }
function fmtBytes(n) {
  if (n === undefined || n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}
function fmtPct(r) { return (100 * r).toFixed(1) + '%'; }
function fmtMicros(us) { return us >= 1000 ? (us / 1000).toFixed(2) + ' ms' : us + ' µs'; }
function fmtDuration(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d > 0 ? d + 'd ' + h + 'h' : h > 0 ? h + 'h ' + m + 'm' : m + 'm ' + (s % 60) + 's';
}

async function getJson(path) {
  // location.origin, not the page's URL: a page opened as http://user:pass@host/ resolves
  // relative URLs with those credentials, which fetch refuses; the browser sends the
  // Basic credentials it authenticated the page with on its own.
  const r = await fetch(location.origin + path, { cache: 'no-store', credentials: 'same-origin' });
  if (!r.ok) {
    let msg = r.status + ' ' + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(path + ': ' + msg);
  }
  return r.json();
}

function fillRows(tbody, rows) {
  tbody.replaceChildren(...rows.map(cells => {
    const tr = document.createElement('tr');
    for (const c of cells) {
      const td = document.createElement('td');
      if (c instanceof Node) td.append(c); else td.textContent = c;
      tr.append(td);
    }
    return tr;
  }));
  return tbody.rows;
}

// --- throughput -----------------------------------------------------------------------

function renderThroughput(s) {
  const now = performance.now();
  let ops = s.instantaneous_ops_per_sec || 0;
  if (state.last && s.commands_processed >= state.last.commands) {
    const secs = (now - state.last.t) / 1000;
    if (secs > 0.2) ops = (s.commands_processed - state.last.commands) / secs;
  }
  state.last = { t: now, commands: s.commands_processed };
  state.history.push(ops);
  if (state.history.length > HISTORY) state.history.shift();
  setText('ops-per-sec', fmtInt(ops));
  $('ops-per-sec').dataset.value = String(ops);
  setText('commands-processed', fmtInt(s.commands_processed));
  setText('connected-clients', fmtInt(s.connected_clients));
  setText('net-bytes', fmtBytes(s.net_input_bytes) + ' / ' + fmtBytes(s.net_output_bytes));
  setText('error-replies', fmtInt(s.error_replies || 0));
  drawChart($('ops-chart'), state.history);
}

function drawChart(canvas, values) {
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
  canvas.width = w * ratio; canvas.height = h * ratio;
  const g = canvas.getContext('2d');
  g.scale(ratio, ratio);
  g.clearRect(0, 0, w, h);
  const max = Math.max(1, ...values) * 1.15;
  g.strokeStyle = '#dde3ea'; g.lineWidth = 1;
  for (let i = 1; i < 4; i++) { g.beginPath(); g.moveTo(0, h * i / 4); g.lineTo(w, h * i / 4); g.stroke(); }
  if (values.length === 0) return;
  const x = i => values.length === 1 ? w : i * w / (values.length - 1);
  const y = v => h - 4 - (h - 8) * v / max;
  g.beginPath(); g.moveTo(x(0), h);
  values.forEach((v, i) => g.lineTo(x(i), y(v)));
  g.lineTo(x(values.length - 1), h); g.closePath();
  g.fillStyle = 'rgba(31, 111, 191, 0.25)'; g.fill();
  g.beginPath();
  values.forEach((v, i) => (i ? g.lineTo(x(i), y(v)) : g.moveTo(x(i), y(v))));
  g.strokeStyle = '#1f6fbf'; g.lineWidth = 2; g.stroke();
  g.fillStyle = '#5c6b7d'; g.font = '11px sans-serif';
  g.fillText('max ' + fmtInt(max / 1.15) + ' ops/s', 6, 13);
}

// --- latency, caches, storage ---------------------------------------------------------

function renderLatency(s) {
  const rows = Object.entries(s.commands || {})
    .sort((a, b) => b[1].calls - a[1].calls).slice(0, 12)
    .map(([name, c]) => [name, fmtInt(c.calls), fmtMicros(c.p50_us), fmtMicros(c.p99_us), fmtMicros(c.p999_us)]);
  fillRows($('latency').tBodies[0], rows);
}

function renderCaches(s) {
  const c = s.caches || {};
  for (const [key, id] of [['keyspace', 'keyspace'], ['block_cache', 'block'], ['row_cache', 'row']]) {
    const r = c[key] || { hits: 0, misses: 0, hit_rate: 0 };
    $('meter-' + id).value = r.hit_rate;
    setText('hit-rate-' + id, r.hits + r.misses === 0 ? 'n/a' : fmtPct(r.hit_rate));
    $('hit-rate-' + id).title = fmtInt(r.hits) + ' hits, ' + fmtInt(r.misses) + ' misses';
  }
  const b = c.block_cache || {};
  setText('block-usage', 'block cache ' + fmtBytes(b.usage_bytes) + ' of ' + fmtBytes(b.capacity_bytes) +
          ', ' + fmtInt(b.evictions || 0) + ' evictions');
}

function renderStorage(s) {
  const d = s.disk || {}, c = s.compaction || {};
  setText('disk-dir-bytes', fmtBytes(d.dir_bytes) + '  (' + d.dir + ')');
  setText('disk-table-bytes', fmtBytes(d.table_bytes));
  setText('disk-memtable-bytes', fmtBytes(d.memtable_bytes));
  setText('disk-free', d.filesystem_bytes ? fmtBytes(d.filesystem_free_bytes) + ' of ' + fmtBytes(d.filesystem_bytes) : '–');
  setText('compactions', fmtInt(c.compactions || 0) + ' (' + fmtBytes(c.bytes_written || 0) + ' written' +
          (c.busy ? ', running' : '') + ')');
  setText('write-amp', (c.write_amplification || 0).toFixed(2));
  setText('write-stalls', fmtInt(c.write_slowdowns || 0) + ' slowdowns, ' + fmtInt(c.write_stops || 0) + ' stops');
  fillRows($('levels').tBodies[0], (c.levels || []).filter(l => l.files > 0 || l.level === 0)
    .map(l => ['L' + l.level, fmtInt(l.files), fmtBytes(l.bytes), l.score.toFixed(2)]));
}

// --- cluster --------------------------------------------------------------------------

function svg(name, attrs) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// The ring: outside, one arc per token range (previous token, token], coloured by its
// primary; inside, each member's share of the ring as one arc.
function drawRing(ring) {
  const el = $('ring');
  el.replaceChildren();
  const tokens = ring.tokens;
  if (!tokens.length) return;
  const point = (f, rad) => [rad * Math.sin(2 * Math.PI * f), -rad * Math.cos(2 * Math.PI * f)];
  const arc = (from, to, R, r, color, member, kind) => {
    if (to - from >= 1) to = from + 0.99999;  // one member owns everything: still an arc
    const large = to - from > 0.5 ? 1 : 0;
    const [x1, y1] = point(from, R), [x2, y2] = point(to, R);
    const [x3, y3] = point(to, r), [x4, y4] = point(from, r);
    const d = `M${x1},${y1} A${R},${R} 0 ${large} 1 ${x2},${y2} L${x3},${y3} A${r},${r} 0 ${large} 0 ${x4},${y4} Z`;
    el.append(svg('path', { d, fill: color, 'data-member': member, class: kind }));
  };
  const color = m => COLORS[m % COLORS.length];
  // Neighbouring ranges of one member merge, so the drawing has few paths.
  let start = tokens[tokens.length - 1][0] - 1;
  for (let i = 0; i < tokens.length; i++) {
    const [pos, m] = tokens[i];
    const next = tokens[i + 1];
    if (next && next[1] === m) continue;
    arc(start, pos, 100, 76, color(m), ring.members[m].id, 'range');
    start = pos;
  }
  let at = 0;
  ring.members.forEach((m, i) => {
    if (m.owns_primary <= 0) return;
    arc(at, at + m.owns_primary, 70, 48, color(i), m.id, 'share');
    at += m.owns_primary;
  });
  const label = svg('text', { 'text-anchor': 'middle', y: 2, 'font-size': 12, fill: '#1b2430' });
  label.textContent = ring.members.length + (ring.members.length === 1 ? ' member' : ' members');
  el.append(label);
  const sub = svg('text', { 'text-anchor': 'middle', y: 16, 'font-size': 8, fill: '#5c6b7d' });
  sub.textContent = tokens.length + ' tokens, N=' + ring.replicas;
  el.append(sub);
}

async function renderCluster(s) {
  const [cl, transfers, repair] = await Promise.all([
    getJson('/v1/cluster'), getJson('/v1/cluster/transfers'), getJson('/v1/cluster/repair')]);
  if (state.ringVersion !== cl.ring_version || !state.ring) {
    state.ring = await getJson('/v1/cluster/ring');
    state.ringVersion = cl.ring_version;
    drawRing(state.ring);
  }
  const index = {};
  state.ring.members.forEach((m, i) => { index[m.id] = i; });
  $('cluster-card').hidden = false;
  setText('ring-version', 'ring version ' + cl.ring_version + ', N=' + cl.replicas +
          ' W=' + cl.write_quorum + ' R=' + cl.read_quorum);
  setText('cluster-problem', [cl.pending_change ? 'pending change: ' + cl.pending_change : '',
                              cl.problem || ''].filter(Boolean).join(' — '));
  const rows = cl.members.map(m => {
    const i = index[m.id];
    const sw = document.createElement('span');
    sw.className = 'swatch';
    if (i !== undefined) sw.style.background = COLORS[i % COLORS.length];
    const st = document.createElement('span');
    st.className = m.state; st.textContent = m.state;
    return [sw, m.id + (m.id === cl.node ? ' (this node)' : ''), st, m.status,
            i !== undefined ? fmtInt(state.ring.members[i].tokens) : '0',
            fmtPct(m.owns_primary), fmtPct(m.owns_with_replicas), m.resp_address, m.http_address,
            typeof m.phi === 'number' ? m.phi.toFixed(1) : '∞'];  // JSON has no infinity
  });
  const trs = fillRows($('members').tBodies[0], rows);
  cl.members.forEach((m, i) => { trs[i].dataset.member = m.id; trs[i].dataset.state = m.state; });

  $('transfers-card').hidden = false;
  setText('transfers-summary', transfers.receiving
    ? 'receiving ' + fmtPct(transfers.receiving_fraction) + ' of the ring at ' +
      fmtBytes(transfers.rate_bytes_per_second) + '/s'
    : (transfers.cleaning_up ? 'cleaning up after a change' : 'no transfer in progress') +
      ' (received ' + fmtInt(transfers.keys_received) + ' keys, ' + fmtBytes(transfers.bytes_received) + ' in all)');
  const sources = transfers.sources || [];
  const done = sources.filter(x => x.done).length;
  $('transfers-progress').value = sources.length ? done / sources.length : (transfers.receiving ? 0 : 1);
  fillRows($('transfers').tBodies[0], sources.map(x => [x.from, fmtInt(x.keys), fmtBytes(x.bytes),
    x.error ? 'error: ' + x.error : x.done ? 'done' : 'pulling']));

  $('repair-card').hidden = false;
  setText('repair-state', repair.running ? 'round running' : 'idle');
  setText('repair-rounds', fmtInt(repair.rounds) + ' (' + fmtInt(repair.failed_exchanges) + ' failed exchanges)');
  setText('repair-compared', fmtInt(repair.keys_compared));
  setText('repair-repaired', fmtInt(repair.keys_repaired));
  setText('repair-last', repair.rounds ? repair.last_round_ms + ' ms' : '–');
}

// --- loop -----------------------------------------------------------------------------

async function refresh() {
  try {
    const s = await getJson('/v1/stats');
    setText('node-id', s.node_id || 'standalone');
    setText('version', s.version);
    setText('uptime', fmtDuration(s.uptime_seconds));
    setText('mode', s.cluster_mode ? 'cluster' : 'single node');
    renderThroughput(s);
    renderLatency(s);
    renderCaches(s);
    renderStorage(s);
    if (s.cluster_mode) await renderCluster(s);
    const st = $('status');
    st.textContent = 'updated ' + new Date().toLocaleTimeString();
    st.className = 'status';
    document.body.dataset.ready = 'true';
  } catch (e) {
    const st = $('status');
    st.textContent = String(e.message || e);
    st.className = 'status error';
  }
}

// The next poll two seconds after this one is answered, never while it is under way: a
// server slow to answer is not piled with requests by the page watching it.
async function poll() {
  await refresh();
  setTimeout(poll, POLL_MS);
}
poll();
