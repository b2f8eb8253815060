/**
 * The dashboard: one self-contained HTML page (inline CSS, script and SVG
 * plots fetched from /plots; no external resource), compiled into the
 * package with the code. Its script updates the page from /events; every
 * URL in it is relative, so the service can be mounted under a prefix.
 * (No template literals in the page's script: the page itself is one.)
 */
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>epqrng serve</title>
<style>
  body { font-family: sans-serif; margin: 16px; color: #222; background: #fafafa; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  .sub { color: #555; margin-bottom: 12px; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 8px; margin-bottom: 12px; }
  .tile { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 8px 10px; }
  .tile .k { font-size: 12px; color: #666; }
  .tile .v { font-size: 20px; font-variant-numeric: tabular-nums; margin-top: 2px; }
  .plots { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 12px; }
  .plots > div { background: #fff; border: 1px solid #ddd; min-width: 520px; min-height: 300px; }
  .cols { display: flex; flex-wrap: wrap; gap: 16px; }
  .cols > section { flex: 1 1 380px; }
  table { border-collapse: collapse; font-size: 13px; background: #fff; width: 100%; }
  td, th { border: 1px solid #ddd; padding: 3px 6px; text-align: left; }
  code { font-size: 12px; }
  .state-running { color: #2ca02c; } .state-paused { color: #1f77b4; } .state-failed { color: #d62728; } .state-waiting { color: #ff7f0e; }
</style>
</head>
<body>
<h1>EPQ-1 entropy service</h1>
<div class="sub">device <span id="device">?</span> &middot; state <b id="state">?</b> <span id="failure"></span> &middot; up <span id="uptime">0</span> s</div>
<div class="tiles">
  <div class="tile"><div class="k">S (last block)</div><div class="v" id="s">-</div></div>
  <div class="tile"><div class="k">S lower bound</div><div class="v" id="slow">-</div></div>
  <div class="tile"><div class="k">local bound</div><div class="v">2</div></div>
  <div class="tile"><div class="k">bits per trial</div><div class="v" id="bpt">-</div></div>
  <div class="tile"><div class="k">trials/s</div><div class="v" id="tps">-</div></div>
  <div class="tile"><div class="k">trials</div><div class="v" id="trials">0</div></div>
  <div class="tile"><div class="k">lost trials</div><div class="v" id="lost">0</div></div>
  <div class="tile"><div class="k">blocks certified</div><div class="v" id="blocks">0</div></div>
  <div class="tile"><div class="k">blocks refused</div><div class="v" id="refused">0</div></div>
  <div class="tile"><div class="k">pool (bytes)</div><div class="v" id="pool">0</div></div>
  <div class="tile"><div class="k">served (bytes)</div><div class="v" id="served">0</div></div>
  <div class="tile"><div class="k">served rate (B/s)</div><div class="v" id="rate">0</div></div>
</div>
<div class="plots"><div id="plot-s"></div><div id="plot-pool"></div></div>
<div class="cols">
  <section><h2>Last certificates</h2><table><thead><tr><th>block</th><th>S</th><th>bits/trial</th><th>certificate</th></tr></thead><tbody id="certs"></tbody></table></section>
  <section><h2>Refused blocks</h2><table><thead><tr><th>block</th><th>test</th><th>reason</th></tr></thead><tbody id="refusals"></tbody></table>
  <h2>Health tests</h2><table><thead><tr><th>test</th><th>blocks passed</th><th>blocks failed</th></tr></thead><tbody id="health"></tbody></table></section>
</div>
<script>
'use strict';
// Everything relative to this page, so the service can be mounted under a path prefix.
const $ = (id) => document.getElementById(id);
const fix = (v, d) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '-');
const text = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
let lastServed = null;
function showStatus(st) {
  $('device').textContent = st.device.serial + ' (' + st.device.model + ', firmware ' + st.device.firmware + ')';
  $('state').textContent = st.state;
  $('state').className = 'state-' + st.state;
  $('failure').textContent = st.failure ? ': ' + st.failure : st.message ? ': ' + st.message : '';
  $('uptime').textContent = fix(st.uptimeSeconds, 0);
  const last = st.lastBlocks[st.lastBlocks.length - 1];
  $('s').textContent = last ? fix(last.sEstimate, 3) : '-';
  $('slow').textContent = last ? fix(last.sLowerBound, 3) : '-';
  $('bpt').textContent = fix(st.bitsPerTrial, 4);
  $('tps').textContent = fix(st.trialsPerSecond, 0);
  $('trials').textContent = st.trials;
  $('lost').textContent = st.lostTrials;
  $('blocks').textContent = st.blocksCertified;
  $('refused').textContent = st.blocksRefused;
  $('pool').textContent = st.pool.level + ' / ' + st.pool.capacity;
  $('served').textContent = st.servedBytes;
  const now = { t: st.uptimeSeconds, b: st.servedBytes };
  if (lastServed && now.t > lastServed.t) $('rate').textContent = fix((now.b - lastServed.b) / (now.t - lastServed.t), 0);
  lastServed = now;
  $('certs').innerHTML = st.lastBlocks.slice(-8).reverse().map((b) =>
    '<tr><td>' + b.blockIndex + '</td><td>' + fix(b.sEstimate, 3) + '</td><td>' + fix(b.bitsPerTrial, 4) + '</td>' +
    '<td><a href="certificates/' + text(b.sha256) + '"><code>' + text(b.sha256.slice(0, 16)) + '&hellip;</code></a></td></tr>').join('');
  $('refusals').innerHTML = st.lastRefused.map((b) =>
    '<tr><td>' + b.blockIndex + '</td><td>' + text(b.test) + '</td><td>' + text(b.reason) + '</td></tr>').join('') ||
    '<tr><td colspan="3">none</td></tr>';
  $('health').innerHTML = st.healthTests.map((h) =>
    '<tr><td>' + text(h.test) + '</td><td>' + h.passedBlocks + '</td><td>' + h.failedBlocks + '</td></tr>').join('');
}
let plotting = false;
async function refreshPlots() {
  if (plotting) return;
  plotting = true;
  try {
    const p = await (await fetch('plots')).json();
    $('plot-s').innerHTML = p.s;
    $('plot-pool').innerHTML = p.pool;
  } finally {
    plotting = false;
  }
}
const events = new EventSource('events');
events.addEventListener('status', (e) => {
  showStatus(JSON.parse(e.data));
  refreshPlots();
});
events.addEventListener('block', () => refreshPlots());
events.addEventListener('refused', () => refreshPlots());
refreshPlots();
</script>
</body>
</html>
`;

export function dashboardHtml(): string {
  return PAGE;
}
