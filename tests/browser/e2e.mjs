// End-to-end test of the technician's web UI: runs `leukoscope-edge demo --serve`, drives
// Debian's chromium through playwright-core and checks the live page, the review (corrections
// by touch and keyboard, their survival of a reload and of a server restart, sign-off, the
// report), the server's request guards, load times and touch-target sizes, and the access
// token on the network: for that last step the test makes a host of its own, a network
// namespace joined to this one by a veth pair (root and iproute2's `ip` needed; the step is
// skipped, saying why, without them), runs the server in it and removes both afterwards.
// No traffic leaves this machine, and its own interfaces play no part.
//
//   npm ci --prefix tests/browser && cargo build --release -p leukoscope-edge && node tests/browser/e2e.mjs
//
// Environment: LEUKOSCOPE_EDGE (the binary), CHROMIUM (the browser), SCREENSHOTS (a folder).
import { execFileSync, spawn } from 'node:child_process';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const fromRoot = (p) => path.resolve(ROOT, p);
const EDGE = process.env.LEUKOSCOPE_EDGE ? path.resolve(process.env.LEUKOSCOPE_EDGE) : fromRoot('target/release/leukoscope-edge');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.SCREENSHOTS ? path.resolve(process.env.SCREENSHOTS) : fromRoot('target/ui-screenshots');
const VIEWPORT = { width: 1024, height: 600 };
const MIN_TARGET_PX = 44;
const MAX_LOAD_MS = 1000;

// ---- the server --------------------------------------------------------------------------

let child = null;
let childLog = '';
let tempDir = null; // the servers' --out folder, removed at the end
const keepLog = (d) => { childLog = (childLog + d).slice(-20000); };

// `host`, a test host from netnsUp(), runs the server in that network namespace.
function startServer(outDir, listen = '127.0.0.1:0', env = {}, host = null) {
  return new Promise((resolve, reject) => {
    const args = ['demo', '--serve', '--listen', listen, '--out', outDir];
    // `ip netns exec` execs the command in place (it forks only with -batch), so proc.pid is
    // the server's own and stopServer's signals reach it, not a wrapper.
    const [cmd, argv] = host ? [host.ip, ['netns', 'exec', host.name, EDGE, ...args]] : [EDGE, args];
    childLog = `$ ${cmd} ${argv.join(' ')}\n`;
    const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    child = proc;
    let stdout = '';
    let done = false;
    const finish = (err, url) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err); else resolve(url);
    };
    const timer = setTimeout(() => finish(new Error(
      `the server printed no "review UI at http://..." line within 60 s; its output:\n${childLog}`)), 60000);
    proc.stdout.on('data', (d) => {
      keepLog(d);
      stdout += d;
      const m = stdout.match(/review UI at (http:\/\/\S+)/);
      if (m) finish(null, m[1].replace(/\/+$/, ''));
    });
    proc.stderr.on('data', keepLog);
    proc.on('error', (e) => finish(new Error(`cannot run ${EDGE}: ${e.message} (build it: cargo build --release -p leukoscope-edge)`)));
    proc.on('exit', (code, signal) => {
      if (child === proc) child = null;
      finish(new Error(`the server exited (${code ?? signal}) before it listened; its output:\n${childLog}`));
    });
  });
}

// SIGKILL by default: the corrections must survive a crash, not only a clean shutdown.
async function stopServer(signal = 'SIGKILL') {
  const proc = child;
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) { child = null; return; }
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(t);
  child = null;
}

function killNow() {
  if (child && child.exitCode === null && child.signalCode === null) {
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
}
// On every way out (process.exit after a failure or a signal, an uncaught error), the server
// goes first, then the test host it ran in.
process.on('exit', () => { killNow(); netnsDown(); });
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\ninterrupted (${sig}); stopping the server`);
    killNow();
    if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
    process.exit(130);
  });
}

// ---- the test host: a network namespace ---------------------------------------------------
// The login step needs a client that is not the board's own screen, a peer other than
// loopback. The test makes one rather than borrowing this machine's interfaces: a network
// namespace lks-e2e-<pid> joined to this one by a veth pair on a /30 of 10.203.0.0/16
// (10.203.a.b+1 on this side, 10.203.a.b+2 in the namespace). The server runs inside it,
// chromium here reaches it at its address over the veth, and the server sees 10.203.a.b+1.
// Nothing leaves the machine; the namespace and the veth go at the end of the step, and on
// any exit (process.on('exit') above). A run killed outright (SIGKILL) leaves them behind:
// the next run removes every lks-e2e-<pid> whose <pid> is no longer a run of this test, with
// whatever still runs inside it.

const NETNS_PREFIX = 'lks-e2e-';
const vethOf = (pid) => `lkse2e${pid}h`; // this side; `lkse2e<pid>n` in the namespace (15 characters at most)
let netns = null; // the test host while it exists: { ip, name, hostIf, hostAddr, nsAddr }

function findIp() {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, 'ip');
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch { /* not here */ }
  }
  return null;
}

function ipRun(ip, args) {
  try {
    return execFileSync(ip, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 });
  } catch (e) {
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr || '').trim() || e.message}`);
  }
}

const netnsNames = (ip) => ipRun(ip, ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
const netnsPids = (ip, name) => ipRun(ip, ['netns', 'pids', name]).split(/\s+/).filter(Boolean).map(Number);
const linkExists = (ip, dev) => { try { ipRun(ip, ['link', 'show', 'dev', dev]); return true; } catch { return false; } };

// Kills what runs in the namespace, deletes this side of the veth (which takes its peer at
// once; the namespace's own teardown would drop it later, in the background) and the namespace.
function removeNetns(ip, name, hostIf) {
  try { for (const pid of netnsPids(ip, name)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } } } catch { /* no namespace */ }
  if (hostIf && linkExists(ip, hostIf)) { try { ipRun(ip, ['link', 'del', 'dev', hostIf]); } catch (e) { console.error(`     (${e.message})`); } }
  try { if (netnsNames(ip).includes(name)) ipRun(ip, ['netns', 'del', name]); } catch (e) { console.error(`     (${e.message})`); }
}

// Another run of this test, still going, owns lks-e2e-<pid>.
function isLiveRun(pid) {
  if (pid === process.pid) return false; // a leftover under our own, reused, pid
  try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('e2e.mjs'); } catch { return false; }
}

// The leftovers of runs killed outright: their namespaces, and veths left without one.
function removeStale(ip) {
  const removed = [];
  for (const name of netnsNames(ip).filter((n) => n.startsWith(NETNS_PREFIX))) {
    const pid = Number(name.slice(NETNS_PREFIX.length));
    if (Number.isInteger(pid) && pid > 0 && isLiveRun(pid)) continue;
    removeNetns(ip, name, Number.isInteger(pid) && pid > 0 ? vethOf(pid) : null);
    removed.push(name);
  }
  for (const m of ipRun(ip, ['-o', 'link', 'show']).matchAll(/^\d+: (lkse2e(\d+)h)[@:]/gm)) {
    if (isLiveRun(Number(m[2]))) continue;
    try { ipRun(ip, ['link', 'del', 'dev', m[1]]); removed.push(m[1]); } catch { /* gone meanwhile */ }
  }
  return removed;
}

// A /30 of 10.203.0.0/16 that no address here is in, starting from one chosen by our pid.
function pickSubnet(ip) {
  const taken = [...ipRun(ip, ['-4', '-o', 'addr', 'show']).matchAll(/inet 10\.203\.(\d+)\.(\d+)/g)]
    .map((m) => Number(m[1]) * 64 + (Number(m[2]) >> 2));
  for (let k = 0; k < 16384; k++) {
    const i = (process.pid + k) % 16384;
    if (taken.includes(i)) continue;
    const net = `10.203.${i >> 6}.`;
    const b = (i & 63) * 4;
    return { hostAddr: `${net}${b + 1}`, nsAddr: `${net}${b + 2}` };
  }
  throw new Error('every /30 of 10.203.0.0/16 is in use here');
}

// The test host, or { skip: why } where it cannot be made.
function netnsUp() {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { skip: `not root (uid ${process.getuid()}): a network namespace and a veth pair need root` };
  }
  const ip = findIp();
  if (!ip) return { skip: 'no `ip` command on the PATH (Debian package iproute2)' };
  let stale;
  try { stale = removeStale(ip); } catch (e) { return { skip: `cannot list network namespaces: ${e.message}` }; }
  const name = `${NETNS_PREFIX}${process.pid}`;
  const hostIf = vethOf(process.pid);
  const nsIf = `lkse2e${process.pid}n`;
  try {
    const { hostAddr, nsAddr } = pickSubnet(ip);
    netns = { ip, name, hostIf, hostAddr, nsAddr, stale };
    ipRun(ip, ['netns', 'add', name]);
    ipRun(ip, ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf, 'netns', name]);
    ipRun(ip, ['addr', 'add', `${hostAddr}/30`, 'dev', hostIf]);
    ipRun(ip, ['link', 'set', 'dev', hostIf, 'up']);
    ipRun(ip, ['-n', name, 'addr', 'add', `${nsAddr}/30`, 'dev', nsIf]);
    ipRun(ip, ['-n', name, 'link', 'set', 'dev', nsIf, 'up']);
    ipRun(ip, ['-n', name, 'link', 'set', 'dev', 'lo', 'up']);
  } catch (e) {
    netns = null;
    removeNetns(ip, name, hostIf); // what was made before the failure
    return { skip: `cannot make the test host: ${e.message}` };
  }
  return netns;
}

function netnsDown() {
  const host = netns;
  netns = null;
  if (host) removeNetns(host.ip, host.name, host.hostIf);
}

// ---- helpers -----------------------------------------------------------------------------

const summary = [];
const shots = [];
let currentPage = null;

async function step(name, fn) {
  const t0 = Date.now();
  try {
    const note = await fn();
    const line = `ok   ${name}${note ? `: ${note}` : ''} (${((Date.now() - t0) / 1000).toFixed(1)} s)`;
    summary.push(line);
    console.log(line);
    return note;
  } catch (e) {
    const line = `FAIL ${name}: ${e.message.split('\n')[0]}`;
    summary.push(line);
    console.log(line);
    e.stepName = name;
    throw e;
  }
}

async function shot(page, file, opts = {}) {
  const p = path.join(SHOTS, file);
  await page.screenshot({ path: p, ...opts });
  shots.push(p);
}

// Polls `fn` (in node) until it returns a truthy value; throws `what` with the last value.
async function until(what, fn, timeoutMs, everyMs = 250) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { last = await fn(); } catch (e) { last = e.message; }
    if (last && last !== true && typeof last !== 'string') return last;
    if (last === true) return true;
    if (Date.now() > end) throw new Error(`${what} (waited ${timeoutMs / 1000} s; last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// The counts of one table on the review page: {"0": n, ..., unidentified: n, excluded: n}.
function readCounts(page, tableId) {
  return page.$$eval(`#${tableId} tr[data-class]`, (rows) => Object.fromEntries(rows.map((r) =>
    [r.dataset.class, Number(r.querySelector('.count').textContent.trim())])));
}

async function gotoReview(page, base, slide) {
  await page.goto(`${base}/review/${encodeURIComponent(slide)}`);
  await page.waitForSelector('#gallery .cell', { timeout: 20000 });
  await page.waitForSelector('#reviewed-counts tr[data-class]', { timeout: 20000 });
}

// What the page shows of corrected cells: id -> badge text ('' when not reviewed).
function badges(page, ids) {
  return page.evaluate((ids) => Object.fromEntries(ids.map((id) => {
    const rv = document.querySelector(`#gallery .cell[data-cell="${id}"] .rv`);
    return [id, rv && !rv.hidden ? rv.textContent.trim() : ''];
  })), ids);
}

async function loadTime(browser, url) {
  const ctx = await browser.newContext({ viewport: VIEWPORT, hasTouch: true });
  try {
    const page = await ctx.newPage();
    await page.goto(url, { waitUntil: 'load' });
    return await page.waitForFunction(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      return nav && nav.loadEventEnd > 0 ? nav.loadEventEnd - nav.startTime : 0;
    }, null, { timeout: 10000 }).then((h) => h.jsonValue());
  } finally {
    await ctx.close();
  }
}

// Every visible button (and button-like link) shorter than MIN_TARGET_PX.
function smallTargets(page) {
  return page.evaluate((min) => {
    const sel = 'button, [role="button"], a.btn, .top nav a, a.slide-row, input[type="submit"]';
    return [...document.querySelectorAll(sel)].filter((e) => {
      const r = e.getBoundingClientRect();
      const cs = getComputedStyle(e);
      return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none' && r.height < min;
    }).map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''} "${e.textContent.trim().slice(0, 30)}" ${e.getBoundingClientRect().height.toFixed(0)} px`);
  }, MIN_TARGET_PX);
}

async function httpStatus(url, init) {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return res.status;
}

// ---- the test ------------------------------------------------------------------------------

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  assert.ok(fs.existsSync(EDGE), `no edge binary at ${EDGE}: run cargo build --release -p leukoscope-edge or set LEUKOSCOPE_EDGE`);
  assert.ok(fs.existsSync(CHROMIUM), `no chromium at ${CHROMIUM}: apt-get install chromium or set CHROMIUM`);
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'leukoscope-e2e-'));
  tempDir = outDir;
  const netOutDir = path.join(outDir, 'network');
  console.log(`edge: ${EDGE}\nchromium: ${CHROMIUM}\nout: ${outDir}\nscreenshots: ${SHOTS}`);

  let base;
  let browser;
  try {
    base = await step('start the server (demo --serve)', async () => startServer(outDir));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  } catch (e) {
    killNow();
    fs.rmSync(outDir, { recursive: true, force: true });
    throw e;
  }
  const pageErrors = [];
  const context = await browser.newContext({ viewport: VIEWPORT, hasTouch: true });
  const watch = (p) => {
    p.on('pageerror', (e) => pageErrors.push(`${p.url()}: ${e.message}`));
    p.on('console', (m) => { if (m.type() === 'error') console.log(`     (browser console: ${m.text()})`); });
  };
  context.on('page', watch);
  const page = await context.newPage();
  currentPage = page;
  let slide = null;
  try {
    // -- Live ----------------------------------------------------------------------------
    await step('live: a frame and counting cells', async () => {
      await page.goto(`${base}/live`);
      await page.waitForFunction(() => document.getElementById('mode').textContent !== '', null, { timeout: 20000 });
      assert.ok(await page.isVisible('text=Decision support only: a trained reader confirms every result.'), 'the decision-support reminder is not visible');
      if (await page.isEnabled('#start') && !(await page.isEnabled('#stop'))) await page.tap('#start');
      await page.waitForFunction(() => {
        const img = document.getElementById('live-frame');
        const cells = [...document.querySelectorAll('#counts tbody .count')].reduce((a, td) => a + Number(td.textContent), 0);
        return img && !img.hidden && img.complete && img.naturalWidth > 0 && cells > 0;
      }, null, { timeout: 60000, polling: 250 });
      const quality = (await page.textContent('#quality')).trim();
      assert.match(quality, /Frame OK|Frame rejected/, `quality indicator says ${JSON.stringify(quality)}`);
      assert.match(quality, /Focus [\d.]+ · clipped [\d.]+%/, `no focus and exposure in ${JSON.stringify(quality)}`);
      assert.match(quality, /Scale 0\.\d{4} µm\/px ± [\d.]+ % from \d+ red cells/, `no measured scale in ${JSON.stringify(quality)}`);
      const progress = (await page.textContent('#cells-text')).trim();
      assert.match(progress, /^\d+ of \d+ cells$/, `progress says ${JSON.stringify(progress)}`);
      const rows = await page.$$eval('#counts tbody tr[data-class]', (r) => r.length);
      assert.ok(rows >= 2, `the counts table has ${rows} rows`);
      // The cells counted in the frame on screen carry their class as a label.
      await page.waitForSelector('#frame-labels .frame-label', { timeout: 30000 });
      const label = (await page.textContent('#frame-labels .frame-label')).trim();
      assert.match(label, /^(.+ \d+%)$/, `a box label says ${JSON.stringify(label)}`);
      const size = await page.$eval('#live-frame', (i) => `${i.naturalWidth}x${i.naturalHeight}`);
      await shot(page, 'live.png');
      return `frame ${size}, ${progress}, label "${label}", quality "${quality.split('\n')[0].slice(0, 40)}"`;
    });

    await step('live: the slide ends and offers its review', async () => {
      await page.waitForSelector('#review-link', { state: 'visible', timeout: 120000 });
      const ended = (await page.textContent('#ended-text')).trim();
      const href = await page.getAttribute('#review-link', 'href');
      const m = href.match(/\/review\/([^/?#]+)$/);
      assert.ok(m, `the review link goes to ${href}`);
      slide = decodeURIComponent(m[1]);
      assert.ok(await page.isDisabled('#stop'), 'Stop slide is still enabled after the slide ended');
      await shot(page, 'live-ended.png');
      return `${ended}`;
    });

    // -- Review --------------------------------------------------------------------------
    let first; let second; let afterCorrections; let machineCounts;
    await step('review: the gallery and both counts tables', async () => {
      await Promise.all([page.waitForURL(/\/review\//), page.tap('#review-link')]);
      await page.waitForSelector('#gallery .cell', { timeout: 20000 });
      await page.waitForSelector('#machine-counts tr[data-class]', { timeout: 20000 });
      const groupsInOrder = await page.$$eval('#gallery section.group', (s) => s.map((g) => g.dataset.group));
      const want = [...groupsInOrder].sort((a, b) => (a === 'unidentified' ? -1 : b === 'unidentified' ? 1 : Number(a) - Number(b)));
      assert.deepEqual(groupsInOrder, want, 'groups are not unidentified first, then in taxonomy order');
      const sorted = await page.$$eval('#gallery section.group', (s) => s.every((g) => {
        const c = [...g.querySelectorAll('.cell .conf')].map((e) => parseFloat(e.textContent));
        return c.every((v, i) => i === 0 || v >= c[i - 1]);
      }));
      assert.ok(sorted, 'cells within a group are not sorted by confidence, least sure first');
      assert.ok(await page.isVisible('#class-bar'), 'the class bar is not visible');
      assert.ok(await page.isVisible('text=Decision support only: a trained reader confirms every result.'), 'the decision-support reminder is not visible');
      await shot(page, 'review.png');
      const n = await page.$$eval('#gallery .cell', (c) => c.length);
      return `slide ${slide}: ${n} cells in groups ${groupsInOrder.join(', ')}`;
    });

    await step('review: reassign a cell by touch', async () => {
      const tile = page.locator('#gallery .cell').first();
      const id = await tile.getAttribute('data-cell');
      const group = await tile.evaluate((t) => t.closest('section.group').dataset.group);
      const nClasses = await page.$$eval('#class-bar [data-verdict="class"]', (b) => b.length);
      assert.ok(nClasses >= 2, `the class bar has ${nClasses} class buttons`);
      const target = group === 'unidentified' ? 0 : (Number(group) + 1) % nClasses;
      const button = page.locator(`#class-bar [data-verdict="class"][data-class="${target}"]`);
      const label = (await button.textContent()).trim();
      assert.match(label, new RegExp(`^${target + 1} \\S`), `the class button's label ${JSON.stringify(label)} has no key hint`);
      const targetName = label.replace(/^\d+\s+/, '');
      const machine0 = await readCounts(page, 'machine-counts');
      const reviewed0 = await readCounts(page, 'reviewed-counts');
      await tile.tap();
      assert.equal(await tile.getAttribute('aria-pressed'), 'true', 'the tapped tile is not selected');
      await button.tap();
      await page.waitForFunction(({ id, name }) => {
        const rv = document.querySelector(`#gallery .cell[data-cell="${id}"] .rv`);
        return rv && !rv.hidden && rv.textContent.includes(name);
      }, { id, name: targetName }, { timeout: 10000 });
      const reviewed1 = await until('the reviewed counts did not change by -1/+1', async () => {
        const r = await readCounts(page, 'reviewed-counts');
        return r[group] === reviewed0[group] - 1 && r[target] === reviewed0[target] + 1 ? r : false;
      }, 10000);
      assert.deepEqual(await readCounts(page, 'machine-counts'), machine0, 'the machine counts changed');
      machineCounts = machine0;
      const selectedNow = await page.getAttribute('#gallery .cell[aria-pressed="true"]', 'data-cell');
      assert.ok(selectedNow !== null && selectedNow !== id, 'the selection did not move on to the next cell');
      const toastText = (await page.textContent('#toast')).trim();
      assert.match(toastText, new RegExp(`^Cell ${id}: .+ → ${targetName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`), `toast says ${JSON.stringify(toastText)}`);
      first = { id, name: targetName, cls: target };
      return `cell ${id}: group ${group} → class ${target} (${targetName}); reviewed ${group}: ${reviewed0[group]}→${reviewed1[group]}, ${target}: ${reviewed0[target]}→${reviewed1[target]}; toast "${toastText}"`;
    });

    await step('review: reassign a cell by keyboard', async () => {
      const tile = page.locator(`#gallery .cell:not([data-cell="${first.id}"])`).last();
      const id = await tile.getAttribute('data-cell');
      const group = await tile.evaluate((t) => t.closest('section.group').dataset.group);
      const nClasses = await page.$$eval('#class-bar [data-verdict="class"]', (b) => b.length);
      const target = group === 'unidentified' ? nClasses - 1 : (Number(group) + nClasses - 1) % nClasses;
      const name = (await page.textContent(`#class-bar [data-verdict="class"][data-class="${target}"]`)).trim().replace(/^\d+\s+/, '');
      const before = await readCounts(page, 'reviewed-counts');
      await tile.click();
      assert.equal(await tile.getAttribute('aria-pressed'), 'true', 'the clicked tile is not selected');
      await page.keyboard.press(String(target + 1));
      await page.waitForFunction(({ id, name }) => {
        const rv = document.querySelector(`#gallery .cell[data-cell="${id}"] .rv`);
        return rv && !rv.hidden && rv.textContent.includes(name);
      }, { id, name }, { timeout: 10000 });
      await until('the reviewed counts did not follow the keyboard correction', async () => {
        const r = await readCounts(page, 'reviewed-counts');
        return r[group] === before[group] - 1 && r[target] === before[target] + 1;
      }, 10000);
      second = { id, name };
      afterCorrections = await readCounts(page, 'reviewed-counts');
      // Arrow keys and j/k move the selection.
      await page.keyboard.press('k');
      const prev = await page.getAttribute('#gallery .cell[aria-pressed="true"]', 'data-cell');
      await page.keyboard.press('j');
      const back = await page.getAttribute('#gallery .cell[aria-pressed="true"]', 'data-cell');
      assert.ok(prev !== back, 'j/k do not move the selection');
      await page.mouse.move(0, 0);
      await shot(page, 'review-corrected.png');
      return `cell ${id}: key ${target + 1} → ${name}; counts now ${JSON.stringify(afterCorrections)}`;
    });

    const checkCorrections = async (p, where) => {
      const b = await badges(p, [first.id, second.id]);
      assert.ok(b[first.id].includes(first.name), `${where}: cell ${first.id} shows ${JSON.stringify(b[first.id])}, not ${first.name}`);
      assert.ok(b[second.id].includes(second.name), `${where}: cell ${second.id} shows ${JSON.stringify(b[second.id])}, not ${second.name}`);
      assert.deepEqual(await readCounts(p, 'reviewed-counts'), afterCorrections, `${where}: the reviewed counts differ`);
      const corr = (await p.textContent('#corrections')).trim();
      return corr;
    };

    await step('review: corrections survive a reload', async () => {
      await page.reload();
      await page.waitForSelector('#gallery .cell .rv:not([hidden])', { timeout: 20000 });
      return checkCorrections(page, 'after a reload');
    });

    await step('review: corrections survive a server restart (SIGKILL)', async () => {
      await stopServer('SIGKILL');
      base = await startServer(outDir);
      await gotoReview(page, base, slide);
      await page.waitForSelector('#gallery .cell .rv:not([hidden])', { timeout: 20000 });
      const corr = await checkCorrections(page, 'after a restart');
      return `${corr}; server now at ${base}`;
    });

    // -- Guards (no browser) ---------------------------------------------------------------
    await step('safety: CSRF, origin, bad input and path guards', async () => {
      const url = `${base}/api/slides/${encodeURIComponent(slide)}/cells/${first.id}`;
      const nClasses = await page.$$eval('#class-bar [data-verdict="class"]', (b) => b.length);
      // The verdict cell `first` already has: harmless should a guard let it through.
      const same = JSON.stringify({ verdict: 'class', class: first.cls });
      const results = {};
      results['no X-Leukoscope'] = await httpStatus(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: same });
      assert.equal(results['no X-Leukoscope'], 403, `a POST without X-Leukoscope got ${results['no X-Leukoscope']}, not 403`);
      results['form content type'] = await httpStatus(url, { method: 'POST', headers: { 'Content-Type': 'text/plain', 'X-Leukoscope': '1' }, body: same });
      assert.ok([403, 415].includes(results['form content type']), `a text/plain POST got ${results['form content type']}, not 403/415`);
      results['bad class'] = await httpStatus(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Leukoscope': '1' }, body: JSON.stringify({ verdict: 'class', class: nClasses + 7 }) });
      assert.equal(results['bad class'], 400, `a POST with class ${nClasses + 7} got ${results['bad class']}, not 400`);
      results['bad verdict'] = await httpStatus(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Leukoscope': '1' }, body: JSON.stringify({ verdict: 'maybe' }) });
      assert.ok([400, 422].includes(results['bad verdict']), `a POST with verdict "maybe" got ${results['bad verdict']}, not 400`);
      results['foreign Origin'] = await httpStatus(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Leukoscope': '1', Origin: 'http://evil.example' }, body: same });
      assert.equal(results['foreign Origin'], 403, `a POST from Origin http://evil.example got ${results['foreign Origin']}, not 403`);
      for (const [name, p] of [['slide ..%2F..%2Fetc', '/api/slides/..%2F..%2Fetc'], ['report ..%2F', '/slides/..%2F..%2Fetc%2Fpasswd/report'],
        ['cell image ..%2F', `/slides/${encodeURIComponent(slide)}/cells/..%2F..%2F..%2Fetc%2Fpasswd`]]) {
        results[name] = await httpStatus(`${base}${p}`);
        assert.ok([400, 404].includes(results[name]), `GET ${p} got ${results[name]}, not 400/404`);
      }
      // Nothing above changed the slide.
      await gotoReview(page, base, slide);
      assert.deepEqual(await readCounts(page, 'reviewed-counts'), afterCorrections, 'a refused request changed the counts');
      return Object.entries(results).map(([k, v]) => `${k} ${v}`).join(', ');
    });

    // -- Touch targets and load times ------------------------------------------------------
    await step('touch targets: every visible button at least 44 px tall at 1024x600', async () => {
      await gotoReview(page, base, slide);
      const review = await smallTargets(page);
      const reviewCount = await page.$$eval('button', (b) => b.filter((e) => e.getBoundingClientRect().height > 0).length);
      const live = await page.context().newPage();
      await live.goto(`${base}/live`);
      await live.waitForFunction(() => document.getElementById('mode').textContent !== '', null, { timeout: 20000 });
      const liveSmall = await smallTargets(live);
      const slides = await page.context().newPage();
      await slides.goto(`${base}/slides`);
      await slides.waitForSelector('a.slide-row', { timeout: 20000 });
      const slidesSmall = await smallTargets(slides);
      await live.close();
      await slides.close();
      assert.deepEqual([...review, ...liveSmall, ...slidesSmall], [], 'touch targets below 44 px');
      return `review (${reviewCount} buttons), live and slides pages: none below ${MIN_TARGET_PX} px`;
    });

    const times = {};
    await step('load times (navigation start to load event)', async () => {
      times['/live'] = await loadTime(browser, `${base}/live`);
      times[`/review/${slide}`] = await loadTime(browser, `${base}/review/${encodeURIComponent(slide)}`);
      times['/slides'] = await loadTime(browser, `${base}/slides`);
      for (const [k, v] of Object.entries(times)) assert.ok(v < MAX_LOAD_MS, `${k} took ${v.toFixed(0)} ms to load`);
      return Object.entries(times).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ');
    });

    // -- Sign-off and report ---------------------------------------------------------------
    await step('sign-off with initials', async () => {
      await gotoReview(page, base, slide);
      await page.fill('#initials', 'A1');
      await page.tap('#sign-off-button');
      await page.waitForSelector('#banner:not([hidden])', { timeout: 5000 });
      assert.ok(!(await page.isVisible('#signed')), 'bad initials "A1" were accepted');
      await page.fill('#initials', 'AB');
      await page.tap('#sign-off-button');
      await page.waitForSelector('#signed', { state: 'visible', timeout: 10000 });
      const signed = (await page.textContent('#signed')).trim();
      assert.match(signed, /^Signed off by AB at /, `the sign-off line says ${JSON.stringify(signed)}`);
      assert.ok(!(await page.isVisible('#class-bar')), 'the class bar is still shown after sign-off');
      assert.match((await page.textContent('#state')).trim(), /signed off/);
      // A correction after sign-off is refused by the server.
      const status = await httpStatus(`${base}/api/slides/${encodeURIComponent(slide)}/cells/${first.id}`, {
        method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Leukoscope': '1' }, body: JSON.stringify({ verdict: 'not_a_cell' }) });
      assert.equal(status, 409, `a correction after sign-off got ${status}, not 409`);
      await shot(page, 'signed-off.png');
      return `${signed}; a later correction got ${status}`;
    });

    await step('report: opens in a new tab with the reviewer and both counts', async () => {
      const label = (await page.textContent('#report-link')).trim();
      assert.equal(label, 'Report (print to PDF)');
      assert.equal(await page.getAttribute('#report-link', 'target'), '_blank');
      const [report] = await Promise.all([page.context().waitForEvent('page'), page.tap('#report-link')]);
      await report.waitForLoadState('load');
      const text = await report.locator('body').innerText();
      assert.ok(/\bAB\b/.test(text), 'the report does not name the reviewer AB');
      assert.ok(/reviewed|corrected/i.test(text), 'the report has no reviewed/corrected counts');
      assert.ok(/machine/i.test(text), 'the report does not label the machine counts');
      // Each class has a row in the report with its machine count and its reviewed count.
      const names = await page.$$eval('#class-bar [data-verdict="class"]', (b) => b.map((e) => [e.dataset.class, e.textContent.trim().replace(/^\d+\s+/, '')]));
      const rows = await report.$$eval('tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent.trim())));
      for (const [i, name] of names) {
        const m = String(machineCounts[i]);
        const r = String(afterCorrections[i]);
        const ok = rows.some((row) => row[0] === name && row.slice(1).includes(m) && row.slice(1).includes(r) &&
          (m === r || row.indexOf(m) !== row.indexOf(r)));
        assert.ok(ok, `the report has no row "${name}" with machine count ${m} and reviewed count ${r}`);
      }
      await shot(report, 'report.png', { fullPage: true });
      await report.close();
      return `${report.url().replace(base, '')}, ${text.length} characters`;
    });

    await step('slides list shows the signed-off slide', async () => {
      await page.goto(`${base}/slides`);
      const row = page.locator(`a.slide-row[href="/review/${encodeURIComponent(slide)}"]`);
      await row.waitFor({ timeout: 10000 });
      const text = (await row.innerText()).replace(/\s+/g, ' ');
      assert.match(text, /signed off by AB/, `the row says ${JSON.stringify(text)}`);
      await shot(page, 'slides.png');
      return text;
    });

    await step('slides list: a lost report is listed and written again by its button', async () => {
      // As a full disk leaves it: the journal finished, the report folder gone (with the
      // server stopped, as it keeps the reports it has read).
      await page.goto('about:blank');
      await stopServer('SIGTERM');
      const reportDir = path.join(outDir, 'reports', slide);
      fs.rmSync(reportDir, { recursive: true, force: true });
      base = await startServer(outDir);
      await page.goto(`${base}/slides`);
      const problem = page.locator(`div.slide-row.problem[data-slide="${slide}"]`);
      await problem.waitFor({ timeout: 10000 });
      const text = (await problem.innerText()).replace(/\s+/g, ' ');
      assert.match(text, /report missing/, `the row says ${JSON.stringify(text)}`);
      await shot(page, 'slides-report-missing.png');
      await problem.locator('button.rebuild').tap();
      const row = page.locator(`a.slide-row[href="/review/${encodeURIComponent(slide)}"]`);
      await row.waitFor({ timeout: 20000 });
      const after = (await row.innerText()).replace(/\s+/g, ' ');
      assert.match(after, /signed off by AB/, `after the rebuild the row says ${JSON.stringify(after)}`);
      const html = fs.readFileSync(path.join(reportDir, 'report.html'), 'utf8');
      assert.ok(html.includes('signed off by <strong>AB</strong>'), 'the rewritten report lost its sign-off');
      return `"${text}" -> "${after}"`;
    });

    await step('login: the access token guards the board on the network', async () => {
      // Bound to the network, requests from another address need the token; the board's
      // own loopback is exempt, so the server runs in a test host of its own (a network
      // namespace, see netnsUp) and chromium reaches it over a veth, from another address.
      const host = netnsUp();
      if (host.skip) return `skipped: ${host.skip}`;
      const made = `in namespace ${host.name} at ${host.nsAddr} (veth from ${host.hostAddr})` +
        (host.stale.length ? `, after removing the leftovers ${host.stale.join(', ')}` : '');
      let ctx = null;
      let note;
      let left;
      try {
        await page.goto('about:blank'); // its polls would go on at the stopped server
        await stopServer('SIGTERM');
        const token = 'e2e-token-0123456789abcdef';
        fs.mkdirSync(netOutDir, { recursive: true });
        const printed = await startServer(netOutDir, '0.0.0.0:0', { LEUKOSCOPE_UI_TOKEN: token }, host);
        const inside = ipRun(host.ip, ['netns', 'identify', String(child.pid)]).trim();
        assert.equal(inside, host.name, `the server (pid ${child.pid}) runs in namespace ${JSON.stringify(inside)}, not ${host.name}`);
        const netBase = `http://${host.nsAddr}:${new URL(printed).port}`;
        const api = await httpStatus(`${netBase}/api/state`);
        assert.equal(api, 401, `GET /api/state without the token got ${api}, not 401`);
        ctx = await browser.newContext({ viewport: VIEWPORT, hasTouch: true });
        const p = await ctx.newPage();
        await p.goto(`${netBase}/live`);
        assert.equal(new URL(p.url()).pathname, '/login', `/live without the token went to ${p.url()}`);
        await p.fill('#token', 'not-the-token');
        await p.tap('#enter');
        await p.waitForSelector('#banner:not([hidden])', { timeout: 10000 });
        const refused = (await p.textContent('#banner .banner-text')).trim();
        await p.fill('#token', token);
        await p.tap('#enter');
        await p.waitForURL((u) => u.pathname === '/live', { timeout: 10000 });
        await p.waitForFunction(() => document.getElementById('mode').textContent !== '', null, { timeout: 20000 });
        const cookie = (await ctx.cookies()).find((c) => c.name === 'leukoscope_token');
        assert.ok(cookie && cookie.httpOnly, 'the login did not set an HttpOnly cookie');
        await ctx.clearCookies();
        await p.waitForURL((u) => u.pathname === '/login', { timeout: 10000 });
        const next = new URL(p.url()).searchParams.get('next');
        assert.equal(next, '/live', `a lost login sent the page to ${p.url()}`);
        // After the login, `next` may only lead to a page of the board: forms the browser
        // resolves to another host (tabs, newlines, backslashes, dot segments) may not.
        const hostile = ['/\t/evil.example/', '/\n/evil.example/', '/\\evil.example/', '\\/evil.example/',
          '//evil.example/', '/..//evil.example/', 'https://evil.example/', '/login?next=//evil.example'];
        // Asked of the login page's own code in the browser, whose URL parser the page's
        // navigation uses too.
        await p.goto(`${netBase}/login`);
        for (const target of hostile) {
          const goes = await p.evaluate((t) => safeNext(t), target);
          const to = new URL(goes, netBase).host;
          assert.equal(to, new URL(netBase).host, `next=${JSON.stringify(target)} would lead to ${goes}`);
        }
        const kept = '/slides?from=login';
        await p.goto(`${netBase}/login?next=${encodeURIComponent(kept)}`);
        await p.fill('#token', token);
        await p.tap('#enter');
        await p.waitForURL((u) => u.pathname === '/slides', { timeout: 10000 });
        assert.equal(new URL(p.url()).search, '?from=login', `next=${kept} led to ${p.url()}`);
        await ctx.close();
        ctx = null;
        note = `${made}: API 401, wrong token "${refused}", right token back to /live, lost cookie back to /login?next=/live, ${hostile.length} hostile next values kept on the board`;
      } finally {
        if (ctx) await ctx.close().catch(() => {});
        await stopServer('SIGTERM');
        try { left = netnsPids(host.ip, host.name); } catch (e) { left = [e.message]; }
        netnsDown();
      }
      assert.deepEqual(left, [], `processes left in ${host.name} after the server stopped`);
      assert.ok(!netnsNames(host.ip).includes(host.name), `namespace ${host.name} is still there`);
      assert.ok(!linkExists(host.ip, host.hostIf), `veth ${host.hostIf} is still there`);
      return `${note}; server stopped, namespace and veth removed`;
    });

    assert.deepEqual(pageErrors, [], 'JavaScript errors in the pages');
    await browser.close();
    return times;
  } catch (e) {
    try { await shot(currentPage, 'failure.png'); } catch { /* the page may be gone */ }
    try { await browser.close(); } catch { /* ignore */ }
    if (pageErrors.length) console.log(`JavaScript errors in the pages:\n  ${pageErrors.join('\n  ')}`);
    throw e;
  } finally {
    await stopServer('SIGTERM');
    fs.rmSync(outDir, { recursive: true, force: true });
  }
}

main().then(() => {
  console.log(`\nall ${summary.length} steps passed; screenshots: ${shots.map((s) => path.basename(s)).join(', ')} in ${SHOTS}`);
  process.exit(0);
}, (e) => {
  console.log(`\nFAILED${e.stepName ? ` in "${e.stepName}"` : ''}: ${e.message}`);
  if (childLog && !e.message.includes(childLog.slice(-200))) console.log(`\n--- server output (last part) ---\n${childLog.slice(-4000)}`);
  if (summary.length) console.log(`\nsteps:\n  ${summary.join('\n  ')}`);
  console.log(`screenshots written: ${shots.map((s) => path.basename(s)).join(', ') || 'none'} in ${SHOTS}`);
  process.exit(1);
});
