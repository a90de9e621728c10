// Benchmark (b) of benches/dashboard.rs: alert → row in the DOM of the alarm queue, in a real
// browser (Debian's Chromium, headless, driven by npm's playwright-core; both set up by
// scripts/browser.sh), with the whole queue loaded, and whether the queue stays responsive
// while alerts stream in. Run by the benchmark, which serves the dashboard and publishes the
// alerts on zenoh; not meant to be run alone.
//
// Inputs (environment): CHROMIUM, QV_BASE_URL, QV_OPERATOR_USER, QV_OPERATOR_PASSWORD,
// QV_EXPECT_ROWS (rows the queue must hold before the stream), QV_TIMEOUT_MS (each wait;
// default 120000), QV_OPEN_EVERY_MS (pause between incident opens; default 1000), QV_TRACE
// (optional: a Chrome trace of the stream is written to that file, for profiling; set it on
// `cargo bench --bench dashboard`, which passes its environment on).
//
// Protocol with the benchmark, one line each:
//   out `STEP <what>`              progress
//   out `READY stream`             the queue is loaded and watched: start publishing
//   in  `ALERT <id> <wall ms>`     an alert and when it was published (Date.now() scale)
//   in  `END`                      the last alert was published
//   out `RESULT <json>`            the figures (then exit 0)
// A failure prints `FAIL <why>` and exits 1.
//
// Times in the page are `performance.timeOrigin + performance.now()`, the same clock as the
// publisher's wall-clock time (one machine). A row counts as shown when the MutationObserver
// sees it inserted (the DOM write; the frame that paints it follows) and as painted by the
// start of the frame after that. While the stream runs nothing here walks the page's DOM
// (no Playwright selectors, which would search all 10,000+ rows on the page's main thread and
// delay the very messages being timed): the waits are MutationObservers on small subtrees.

import { createRequire } from 'node:module';
import readline from 'node:readline';

// ES module imports ignore NODE_PATH; require() honours it.
const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');

const out = (line) => process.stdout.write(`${line}\n`);
function fail(why) {
  out(`FAIL ${why}`);
  process.exit(1);
}
function need(name) {
  const v = process.env[name];
  if (!v) fail(`environment variable ${name} is not set`);
  return v;
}

const CHROMIUM = need('CHROMIUM');
const BASE = need('QV_BASE_URL').replace(/\/$/, '');
const OPERATOR = { user: need('QV_OPERATOR_USER'), password: need('QV_OPERATOR_PASSWORD') };
const EXPECT_ROWS = Number(need('QV_EXPECT_ROWS'));
const TIMEOUT = Number(process.env.QV_TIMEOUT_MS || 120000);
const OPEN_EVERY = Number(process.env.QV_OPEN_EVERY_MS || 1000);

// ---- the benchmark's lines -----------------------------------------------------------------
const sent = new Map(); // alert id -> publish wall ms
let ended = false;
let wakeEnd = null;
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [word, id, ms] = line.trim().split(/\s+/);
  if (word === 'ALERT') sent.set(id, Number(ms));
  else if (word === 'END') {
    ended = true;
    wakeEnd?.();
  }
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tid = (id) => `[data-testid="${id}"]`;

// ---- in the page ---------------------------------------------------------------------------
/**
 * Before the app's scripts: notes when each WebSocket message event starts (once
 * `window.__qvWs` exists), to split alert → row into the wire and the page's own share.
 */
function hookWebSocket() {
  const add = WebSocket.prototype.addEventListener;
  WebSocket.prototype.addEventListener = function (type, fn, opts) {
    if (type !== 'message' || typeof fn !== 'function') return add.call(this, type, fn, opts);
    return add.call(this, type, function (ev) {
      window.__qvWs?.push([performance.timeOrigin + performance.now(), ev.data]);
      return fn.call(this, ev);
    }, opts);
  };
}

/** When the first `incident` message naming each of `want` as its last alert came (or null). */
function wsTimes(want) {
  const first = new Map();
  for (const [t, data] of window.__qvWs || []) {
    let m;
    try { m = JSON.parse(data); } catch { continue; }
    const id = m?.type === 'incident' ? m.summary?.last_alert?.id : null;
    if (id && !first.has(id)) first.set(id, t);
  }
  return want.map((id) => first.get(id) ?? null);
}

/** Watches the queue's table for rows and the main thread for long tasks and frame gaps. */
function instrument() {
  const now = () => performance.timeOrigin + performance.now();
  const b = { seen: new Map(), longTasks: [], loafs: [], gaps: [], stopped: false, start: performance.now() };
  window.__qvBench = b;
  window.__qvWs = [];
  const record = (row, t, fresh) => {
    const id = row.dataset.lastAlertId;
    if (!id || b.seen.has(id)) return;
    const e = { dom: t, frame: NaN };
    b.seen.set(id, e);
    fresh.push(e);
  };
  const table = document.querySelector('[data-testid="queue-table"]');
  new MutationObserver((records) => {
    const t = now();
    const fresh = [];
    for (const r of records) {
      if (r.type === 'attributes') {
        if (r.target.matches?.('tr[data-testid="queue-row"]')) record(r.target, t, fresh);
        continue;
      }
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) continue;
        if (n.matches('tr[data-testid="queue-row"]')) record(n, t, fresh);
        else for (const row of n.querySelectorAll('tr[data-testid="queue-row"]')) record(row, t, fresh);
      }
    }
    // Called from inside the frame that inserted the rows: this runs at the next one.
    if (fresh.length) requestAnimationFrame(() => { const f = now(); for (const e of fresh) e.frame = f; });
  }).observe(table, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-last-alert-id'] });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (!b.stopped) b.longTasks.push(e.duration);
  }).observe({ type: 'longtask' });
  // Long animation frames (> 50 ms) say where a slow frame went: script, style and
  // layout, or the rest of rendering (paint).
  if (PerformanceObserver.supportedEntryTypes.includes('long-animation-frame')) {
    new PerformanceObserver((list) => {
      if (b.stopped) return;
      for (const e of list.getEntries()) {
        const end = e.startTime + e.duration;
        const top = [...e.scripts].sort((x, y) => y.duration - x.duration)[0];
        b.loafs.push({
          ms: e.duration,
          blocking_ms: e.blockingDuration,
          script_ms: e.scripts.reduce((sum, x) => sum + x.duration, 0),
          style_layout_ms: e.styleAndLayoutStart ? end - e.styleAndLayoutStart : 0,
          render_ms: e.renderStart ? end - e.renderStart : 0,
          top_script: top ? `${top.invoker} ${top.sourceFunctionName || ''} ${Math.round(top.duration)} ms`.trim() : '',
        });
      }
    }).observe({ type: 'long-animation-frame' });
  }
  let last = null;
  const frame = (t) => {
    if (b.stopped) return;
    if (last !== null) b.gaps.push(t - last);
    last = t;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}

/**
 * Resolves once `ready()` holds, checked on every mutation under `root` (attributes too),
 * then after the frame that shows it; the ms from `t0` to both. Only `root`'s subtree is
 * searched: a selector over the whole page would walk every row of the queue, on the page's
 * main thread, and the benchmark would measure itself.
 */
function settle(root, ready, t0, timeout, what) {
  return new Promise((resolve, reject) => {
    const done = () => {
      const dom = performance.now() - t0;
      requestAnimationFrame(() => resolve({ dom, frame: performance.now() - t0 }));
    };
    if (ready()) return done();
    const timer = setTimeout(() => {
      mo.disconnect();
      reject(new Error(`${what} within ${timeout} ms`));
    }, timeout);
    const mo = new MutationObserver(() => {
      if (!ready()) return;
      mo.disconnect();
      clearTimeout(timer);
      done();
    });
    mo.observe(root, { childList: true, subtree: true, attributes: true });
  });
}

/** Clicks row `k` of the first rows on screen; ms until its incident view shows its state. */
async function openIncident([k, timeout]) {
  const rows = document.querySelector('[data-testid="queue-table"] tbody').rows;
  const row = rows[k % Math.min(rows.length, 20)];
  const id = row.dataset.incidentId;
  const view = document.getElementById('view');
  const sel = `[data-testid="incident-view"][data-incident-id="${id}"] [data-testid="incident-state"]`;
  const t0 = performance.now();
  row.click();
  const r = await window.__qvSettle(view, () => !view.hidden && view.querySelector(sel), t0, timeout, `incident ${id} did not open`);
  return { id, ...r };
}

/** Back to the queue (as its nav link does); ms until it is shown. */
async function backToQueue(timeout) {
  const q = document.getElementById('queue-view');
  const t0 = performance.now();
  location.hash = '#/queue';
  return window.__qvSettle(q, () => !q.hidden, t0, timeout, 'the queue did not come back');
}

// ---- the run -------------------------------------------------------------------------------
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  // No internet here: without these Chromium keeps trying to reach Google's services. And no
  // throttling of timers or frames: this page is measured.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-background-timer-throttling',
    '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'],
});
out(`STEP chromium ${browser.version()} started`);

async function run() {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 960 }, locale: 'en-GB' });
  const page = await ctx.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.addInitScript(hookWebSocket);

  // Sign in, then wait for the whole queue.
  await page.goto(`${BASE}/login`);
  await page.fill(tid('login-username'), OPERATOR.user);
  await page.fill(tid('login-password'), OPERATOR.password);
  const t0 = Date.now();
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/', { timeout: TIMEOUT }),
    page.click(tid('login-submit')),
  ]);
  await page.waitForFunction((n) => document.querySelectorAll('tr[data-testid="queue-row"]').length >= n,
    EXPECT_ROWS, { timeout: TIMEOUT, polling: 50 });
  const loadMs = Date.now() - t0;
  await page.waitForSelector(`${tid('ws-status')}[data-state="live"]`, { timeout: TIMEOUT });
  const rows = await page.evaluate(() => document.querySelectorAll('tr[data-testid="queue-row"]').length);
  out(`STEP signed in; ${rows} rows in the queue after ${loadMs} ms`);

  await page.evaluate(instrument);
  await page.evaluate(`window.__qvSettle = ${settle}`); // the two below run in the page and use it
  const endPromise = new Promise((r) => { wakeEnd = r; if (ended) r(); });
  if (process.env.QV_TRACE) {
    await browser.startTracing(page, { path: process.env.QV_TRACE,
      categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8', 'blink', 'toplevel'] });
  }
  out('READY stream');

  // While the stream runs: open an incident, go back to the queue, pause, again.
  const opens = [];
  const backs = [];
  for (let k = 0; !ended || opens.length === 0; k++) {
    opens.push(await page.evaluate(openIncident, [k, TIMEOUT]));
    backs.push(await page.evaluate(backToQueue, TIMEOUT));
    await Promise.race([sleep(OPEN_EVERY), endPromise]);
  }
  out(`STEP ${opens.length} incidents opened during the stream; waiting for every row`);
  if (process.env.QV_TRACE) await browser.stopTracing();

  // Every announced alert's row, then the figures.
  const ids = [...sent.keys()];
  await page.waitForFunction((want) => want.every((id) => window.__qvBench.seen.has(id)), ids,
    { timeout: TIMEOUT, polling: 100 }).catch(() => {});
  const seen = await page.evaluate((want) => {
    const b = window.__qvBench;
    b.stopped = true;
    return want.map((id) => b.seen.get(id) ?? null);
  }, ids);
  const bench = await page.evaluate(() => {
    const b = window.__qvBench;
    return { longTasks: b.longTasks, loafs: b.loafs, gaps: b.gaps };
  });
  bench.ws = await page.evaluate(wsTimes, ids);
  const domMs = [];
  const frameMs = [];
  const wsMs = [];
  const pageMs = [];
  const missing = [];
  ids.forEach((id, i) => {
    const e = seen[i];
    const ws = bench.ws[i];
    if (ws !== null) wsMs.push(ws - sent.get(id));
    if (!e) return missing.push(id);
    domMs.push(e.dom - sent.get(id));
    if (ws !== null) pageMs.push(e.dom - ws);
    if (Number.isFinite(e.frame)) frameMs.push(e.frame - sent.get(id));
  });
  if (missing.length) out(`STEP ${missing.length} rows never appeared, e.g. ${missing.slice(0, 3).join(' ')}`);
  if (pageErrors.length) throw new Error(`uncaught errors in the page:\n${pageErrors.join('\n')}`);
  out(`RESULT ${JSON.stringify({
    rows,
    load_ms: loadMs,
    dom_ms: domMs,
    frame_ms: frameMs,
    missing,
    opens_ms: opens.map((o) => o.dom),
    opens_frame_ms: opens.map((o) => o.frame),
    backs_ms: backs.map((o) => o.dom),
    backs_frame_ms: backs.map((o) => o.frame),
    ws_ms: wsMs,
    page_ms: pageMs,
    long_tasks_ms: bench.longTasks,
    long_frames: bench.loafs,
    gaps_ms: bench.gaps,
    worst_gap_ms: Math.max(0, ...bench.gaps),
  })}`);
  await ctx.close();
}

try {
  await run();
  await browser.close();
  process.exit(0);
} catch (e) {
  out(`FAIL ${String(e?.stack || e).split('\n').join('\n  ')}`);
  await browser.close().catch(() => {});
  process.exit(1);
}
