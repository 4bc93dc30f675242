// Review page: the slide's cells grouped by the machine's class, least sure first; the
// reviewer reassigns cells with the class bar or the keyboard, then signs the slide off.
'use strict';

let slideId = null;
let apiBase = '';
let slide = null; // the last answer of the server
let classes = [];
const cellsById = new Map();
const tiles = new Map(); // cell id -> <button class="cell">
const groups = new Map(); // group key -> {section, count}
let selected = null; // selected cell id
let queue = Promise.resolve(); // corrections go out one after another, in order
let inflight = 0; // corrections sent and not yet answered
let postSeq = 0; // bumped by each correction, so an older poll answer is not applied over it
let pollTimer = null;
let builtBar = false;

const INITIALS_HELP = 'Initials: 1 to 8 characters, letters A–Z with "." or "-" between them, e.g. AB or J-P.';

// The server's rule too: 1 to 8 characters, a letter first, then letters, '.' or '-'.
function validInitials(v) { return /^[A-Za-z][A-Za-z.-]{0,7}$/.test(v); }

function groupKey(cell) {
  if (cell.machine && cell.machine.unfamiliar) return 'unfamiliar';
  return cell.machine && typeof cell.machine.class === 'number' ? String(cell.machine.class) : 'unidentified';
}

function groupName(key) {
  if (key === 'unfamiliar') return 'Unfamiliar (unlike the cells the model learnt from)';
  if (key === 'unidentified') return 'Unidentified';
  const c = classes.find((k) => String(k.index) === key);
  return c ? c.name : `Class ${key}`;
}

function verdictColourKey(r) {
  if (!r) return null;
  if (r.verdict === 'class') return r.class;
  if (r.verdict === 'not_a_cell') return 'not_a_cell';
  return null;
}

function effectiveName(cell) {
  if (cell.reviewed) return cell.reviewed.name;
  return cell.machine ? cell.machine.name : 'unidentified';
}

function signedOff() { return !!(slide && slide.sign_off); }

// ---- counts tables -------------------------------------------------------------------

function countRow(key, label, n, colourKey, changed) {
  return el('tr', { 'data-class': key, class: changed ? 'changed' : null },
    el('td', {}, colourKey === undefined ? null : el('span', { class: 'swatch', style: `background:${classColour(colourKey)}` }), label),
    el('td', { class: 'count' }, n));
}

function renderCounts(table, sum, other) {
  const rows = [];
  if (!sum) { table.tBodies[0].replaceChildren(); return; }
  const counts = sum.counts || [];
  counts.forEach((c, i) => {
    const o = other && other.counts && other.counts[i];
    rows.push(countRow(i, c.name, c.cells, i, !!o && o.cells !== c.cells));
  });
  rows.push(countRow('unidentified', 'Unidentified', sum.unidentified || 0, null,
    !!other && (other.unidentified || 0) !== (sum.unidentified || 0)));
  if (sum.unfamiliar || (other && other.unfamiliar)) {
    rows.push(countRow('unfamiliar', 'Unfamiliar', sum.unfamiliar || 0, null,
      !!other && (other.unfamiliar || 0) !== (sum.unfamiliar || 0)));
  }
  rows.push(countRow('excluded', 'Not a cell', sum.excluded || 0, 'not_a_cell',
    !!other && (other.excluded || 0) !== (sum.excluded || 0)));
  rows.push(el('tr', { class: 'total' }, el('td', {}, 'Malignant'),
    el('td', { class: 'num' }, sum.classified ? pct(sum.malignant_share) : '–')));
  table.tBodies[0].replaceChildren(...rows);
}

function renderFlag(p, flag) {
  p.hidden = !(flag && flag.text);
  if (flag) { p.className = 'flag small ' + flagClass(flag.kind); p.textContent = flagText(flag); }
}

// ---- gallery ---------------------------------------------------------------------------

function makeTile(cell) {
  const b = el('button', { type: 'button', class: 'cell', 'data-cell': cell.id, 'aria-pressed': 'false' },
    el('img', { src: cell.image, alt: '', loading: 'lazy', width: 100, height: 100, decoding: 'async' }),
    el('span', { class: 'conf' }),
    el('span', { class: 'rv', hidden: true }));
  b.addEventListener('click', () => select(cell.id, { focus: false, scroll: false }));
  return b;
}

function updateTile(b, cell) {
  // Rounded down, so a cell the machine is 99.6% sure of never reads as a certain 100%.
  const conf = typeof cell.confidence === 'number' ? `${Math.floor(cell.confidence * 100)}%` : '–';
  b.querySelector('.conf').textContent = conf;
  const img = b.querySelector('img');
  if (img.getAttribute('src') !== cell.image) img.src = cell.image;
  const rv = b.querySelector('.rv');
  const r = cell.reviewed;
  const machineName = cell.machine ? cell.machine.name : 'unidentified';
  if (r) {
    const ck = verdictColourKey(r);
    const mc = cell.machine ? cell.machine.class : null;
    const stranger = !!(cell.machine && cell.machine.unfamiliar);
    const agree = !stranger && ((r.verdict === 'class' && r.class === mc) || (r.verdict === 'unidentified' && mc === null));
    b.classList.add('reviewed');
    b.style.setProperty('--rc', classColour(ck));
    rv.style.background = classColour(ck);
    rv.style.color = textOn(ck);
    rv.textContent = agree ? `✓ ${r.name}` : r.name;
    rv.hidden = false;
    b.setAttribute('aria-label', `Cell ${cell.id}: machine ${machineName}, ${conf} sure; reviewed ${r.name}`);
  } else {
    b.classList.remove('reviewed');
    b.style.removeProperty('--rc');
    rv.hidden = true;
    rv.textContent = '';
    b.setAttribute('aria-label', `Cell ${cell.id}: machine ${machineName}, ${conf} sure; not reviewed`);
  }
}

// Puts `wanted` (elements) into `parent` in that order, moving only what is out of place,
// so the selected tile and the scroll position survive a merge.
function reorder(parent, wanted) {
  let ref = parent.firstElementChild;
  for (const node of wanted) {
    if (node === ref) { ref = ref.nextElementSibling; continue; }
    parent.insertBefore(node, ref);
  }
  while (ref) { const next = ref.nextElementSibling; ref.remove(); ref = next; }
}

function renderGallery(cells) {
  const gallery = $('gallery');
  const byGroup = new Map();
  for (const c of cells) {
    const k = groupKey(c);
    if (!byGroup.has(k)) byGroup.set(k, []);
    byGroup.get(k).push(c);
  }
  const order = ['unfamiliar', 'unidentified', ...classes.map((c) => String(c.index))];
  for (const k of byGroup.keys()) if (!order.includes(k)) order.push(k);

  const seen = new Set();
  for (const c of cells) {
    seen.add(c.id);
    let t = tiles.get(c.id);
    if (!t) { t = makeTile(c); tiles.set(c.id, t); }
    updateTile(t, c);
  }
  for (const [id, t] of tiles) if (!seen.has(id)) { t.remove(); tiles.delete(id); }

  const sections = [];
  for (const k of order) {
    const list = byGroup.get(k);
    if (!list || !list.length) continue;
    list.sort((a, b) => (a.confidence ?? 0) - (b.confidence ?? 0) || a.id - b.id);
    let g = groups.get(k);
    if (!g) {
      const count = el('span', { class: 'n' });
      const colourKey = k === 'unidentified' || k === 'unfamiliar' ? null : Number(k);
      const section = el('section', { class: 'group', 'data-group': k },
        el('h3', {}, el('span', { class: 'swatch', style: `background:${classColour(colourKey)}` }), groupName(k), ' ', count),
        el('div', { class: 'tiles' }));
      g = { section, count };
      groups.set(k, g);
    }
    g.count.textContent = `· ${list.length} ${list.length === 1 ? 'cell' : 'cells'}, least sure first`;
    reorder(g.section.querySelector('.tiles'), list.map((c) => tiles.get(c.id)));
    sections.push(g.section);
  }
  for (const [k, g] of groups) if (!byGroup.has(k)) { g.section.remove(); groups.delete(k); }
  if (!sections.length) {
    gallery.replaceChildren(el('p', { class: 'empty' },
      slide && slide.state === 'running' ? 'No cells yet: scanning is still running.' : 'This slide has no cells.'));
    return;
  }
  const stray = [...gallery.children].filter((n) => !n.classList.contains('group'));
  stray.forEach((n) => n.remove());
  reorder(gallery, sections);
}

// ---- selection -------------------------------------------------------------------------

function tileList() { return [...$('gallery').querySelectorAll('.cell')]; }

function select(id, { focus = true, scroll = true } = {}) {
  if (id !== null && signedOff()) return; // read-only: nothing to select
  if (selected !== null && tiles.has(selected)) tiles.get(selected).setAttribute('aria-pressed', 'false');
  selected = id;
  const t = id === null ? null : tiles.get(id);
  if (!t) { selected = null; return; }
  t.setAttribute('aria-pressed', 'true');
  if (scroll) t.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  if (focus) t.focus({ preventScroll: true });
}

function move(step, opts) {
  const list = tileList();
  if (!list.length) return;
  const cur = selected === null ? -1 : list.indexOf(tiles.get(selected));
  const i = cur < 0 ? 0 : Math.max(0, Math.min(list.length - 1, cur + step));
  select(Number(list[i].dataset.cell), opts);
}

// The tile in the row above (dir -1) or below (dir 1) nearest in x.
function moveVertical(dir) {
  const list = tileList();
  const cur = tiles.get(selected);
  const i = list.indexOf(cur);
  if (i < 0) { move(dir); return; }
  const r = cur.getBoundingClientRect();
  const range = dir > 0 ? list.slice(i + 1) : list.slice(0, i).reverse();
  let best = null; let rowTop = null; let bestDx = Infinity;
  for (const t of range) {
    const q = t.getBoundingClientRect();
    if (dir > 0 ? q.top <= r.top + 5 : q.top >= r.top - 5) continue;
    if (rowTop === null) rowTop = q.top;
    else if (Math.abs(q.top - rowTop) > 5) break;
    const dx = Math.abs(q.left - r.left);
    if (dx < bestDx) { bestDx = dx; best = t; }
  }
  if (best) select(Number(best.dataset.cell));
}

// ---- corrections -----------------------------------------------------------------------

function reassign(verdict, cls) {
  if (!slide || signedOff()) return;
  if (selected === null) { toast('Tap a cell first, then its class.'); return; }
  const id = selected;
  const cell = cellsById.get(id);
  if (!cell) return;
  const before = effectiveName(cell);
  const body = verdict === 'class' ? { verdict, class: cls } : { verdict };
  const tile = tiles.get(id);
  tile.classList.add('pending');
  const byKey = document.activeElement && document.activeElement.classList.contains('cell');
  move(1, { focus: byKey, scroll: true });
  inflight++;
  postSeq++;
  queue = queue.then(async () => {
    let reload = false;
    try {
      const s = await post(`${apiBase}/cells/${encodeURIComponent(id)}`, body);
      clearError();
      applySlide(s);
      const after = cellsById.get(id);
      const now = after ? effectiveName(after) : '?';
      toast(now === before ? `Cell ${id}: ${now} confirmed` : `Cell ${id}: ${before} → ${now}`);
    } catch (e) {
      showError(`Cell ${id} was not changed: ${e.message}`);
      reload = e.status === 409; // e.g. signed off meanwhile: show the slide as it is
    } finally {
      inflight--;
      tile.classList.remove('pending');
    }
    if (reload) await refresh();
  });
}

function buildClassBar() {
  const bar = $('class-bar');
  const buttons = classes.map((c, i) => el('button', {
    type: 'button', 'data-verdict': 'class', 'data-class': c.index, style: `--c:${classColour(c.index)}`,
    'aria-keyshortcuts': i < 9 ? String(i + 1) : null,
  }, i < 9 ? el('kbd', {}, String(i + 1)) : null, i < 9 ? ' ' : null, c.name));
  buttons.push(el('button', { type: 'button', 'data-verdict': 'unidentified', style: `--c:${classColour(null)}`, 'aria-keyshortcuts': '0' },
    el('kbd', {}, '0'), ' ', 'Unidentified'));
  buttons.push(el('button', { type: 'button', 'data-verdict': 'not_a_cell', style: `--c:${classColour('not_a_cell')}`, 'aria-keyshortcuts': 'x' },
    el('kbd', {}, 'X'), ' ', 'Not a cell'));
  for (const b of buttons) {
    // Keep the pointer from taking the focus off the selected tile.
    b.addEventListener('mousedown', (ev) => ev.preventDefault());
    b.addEventListener('click', () => reassign(b.dataset.verdict, b.dataset.class === undefined ? undefined : Number(b.dataset.class)));
  }
  bar.replaceChildren(...buttons);
  builtBar = true;
}

// ---- the whole page --------------------------------------------------------------------

function applySlide(s) {
  const first = slide === null;
  slide = s;
  classes = Array.isArray(s.classes) ? s.classes.slice().sort((a, b) => a.index - b.index) : [];
  cellsById.clear();
  for (const c of s.cells || []) cellsById.set(c.id, c);

  document.body.classList.add('loaded');
  setSlideLabel(s.id);
  document.title = `Review ${s.id} · leukoscope`;
  $('review-title').textContent = `Slide ${s.id}`;
  const st = $('state');
  st.className = `badge st-${s.state}`;
  st.textContent = s.state === 'running' ? 'scanning' : s.state === 'signed_off' ? 'signed off' : 'to review';

  renderCounts($('machine-counts'), s.machine, null);
  renderCounts($('reviewed-counts'), s.reviewed, s.machine);
  renderFlag($('machine-flag'), s.machine && s.machine.flag);
  renderFlag($('reviewed-flag'), s.reviewed && s.reviewed.flag);
  const n = s.corrections || 0;
  $('corrections').textContent = n ? `${n} ${n === 1 ? 'cell' : 'cells'} reviewed by hand` : 'No cells reviewed by hand yet';
  $('report-link').href = s.report || `/slides/${encodeURIComponent(s.id)}/report`;

  // Sign-off.
  const signed = signedOff();
  document.body.classList.toggle('signed-off', signed);
  $('sign-form').hidden = signed;
  const line = $('signed');
  line.hidden = !signed;
  if (signed) {
    line.replaceChildren(`Signed off by ${s.sign_off.initials} at `,
      el('time', { datetime: s.sign_off.at, title: s.sign_off.at }, fmtTime(s.sign_off.at)), '. Read-only.');
  } else {
    const running = s.state === 'running';
    $('sign-off-button').disabled = running;
    $('sign-hint').textContent = running
      ? 'Scanning is still running: sign-off is possible once the slide has ended.'
      : 'Signing off confirms the reviewed counts; the slide then becomes read-only.';
  }

  if (!builtBar) buildClassBar();
  for (const b of $('class-bar').querySelectorAll('button')) b.disabled = signed;

  renderGallery(s.cells || []);
  if (selected !== null && (!tiles.has(selected) || signed)) select(null);
  if (first && selected === null && !signed) move(0, { focus: false, scroll: false });
  schedulePoll();
}

function schedulePoll() {
  clearTimeout(pollTimer);
  pollTimer = null;
  if (slide && slide.state === 'running') pollTimer = setTimeout(refresh, 2000);
}

async function refresh() {
  const seq = postSeq;
  try {
    const s = await getJSON(apiBase);
    clearError('poll');
    // A correction sent meanwhile answers with newer data; this answer may predate it.
    if (inflight === 0 && seq === postSeq) applySlide(s);
    else schedulePoll();
  } catch (e) {
    if (e.status === 401) return;
    showError(e.message, 'poll');
    if (slide === null) {
      $('gallery').replaceChildren(el('p', { class: 'empty' }, 'Could not load this slide. ',
        el('a', { href: '/slides' }, 'Back to the slide list'), '.'));
      if (e.status === 404 || e.status === 400) return;
    }
    clearTimeout(pollTimer);
    pollTimer = setTimeout(refresh, 2000);
  }
}

async function signOff() {
  const input = $('initials');
  const v = input.value.trim();
  if (!validInitials(v)) {
    input.setAttribute('aria-invalid', 'true');
    showError(INITIALS_HELP);
    input.focus();
    return;
  }
  input.removeAttribute('aria-invalid');
  const button = $('sign-off-button');
  button.disabled = true;
  await queue; // corrections already sent go first
  try {
    const s = await post(`${apiBase}/sign-off`, { initials: v });
    clearError();
    applySlide(s);
    toast(`Slide ${s.id} signed off by ${v}`);
  } catch (e) {
    showError(`Not signed off: ${e.message}`);
    button.disabled = !!(slide && slide.state === 'running');
  }
}

function onKey(ev) {
  if (ev.ctrlKey || ev.altKey || ev.metaKey) return;
  const t = ev.target;
  if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
  const k = ev.key;
  let done = true;
  if (k === 'ArrowRight' || k === 'j') move(1);
  else if (k === 'ArrowLeft' || k === 'k') move(-1);
  else if (k === 'ArrowDown') { if (selected === null) move(0); else moveVertical(1); }
  else if (k === 'ArrowUp') { if (selected === null) move(0); else moveVertical(-1); }
  else if (/^[1-9]$/.test(k) && Number(k) - 1 < classes.length) reassign('class', classes[Number(k) - 1].index);
  else if (k === '0') reassign('unidentified');
  else if (k === 'x' || k === 'X') reassign('not_a_cell');
  else done = false;
  if (done) ev.preventDefault();
}

document.addEventListener('DOMContentLoaded', () => {
  const raw = location.pathname.replace(/^\/review\//, '');
  try { slideId = decodeURIComponent(raw); } catch (e) { slideId = raw; }
  apiBase = `/api/slides/${encodeURIComponent(slideId)}`;
  setSlideLabel(slideId);
  $('review-title').textContent = `Slide ${slideId}`;
  $('sign-off-button').addEventListener('click', signOff);
  $('initials').addEventListener('keydown', (ev) => { if (ev.key === 'Enter') { ev.preventDefault(); signOff(); } });
  $('initials').addEventListener('input', () => $('initials').removeAttribute('aria-invalid'));
  document.addEventListener('keydown', onKey);
  refresh();
  // The board's model decides the demonstration banner.
  getJSON('/api/state').then((s) => setDemonstration(!!s.demonstration)).catch(() => {});
});
