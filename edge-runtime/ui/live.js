// Live page: polls /api/state, shows the latest annotated frame, quality, counts and progress.
'use strict';

const POLL_MS = 500;
let shownVersion = 0; // frame_version of the image on screen (or being loaded)
let frameLoading = false;
let lastState = null;
let busy = false; // a start/stop request is in flight

// The frames' scale: measured from the red cells (with its uncertainty) or given.
function scaleText(scale) {
  if (!scale || typeof scale.um_per_px !== 'number') return '';
  const um = scale.um_per_px.toFixed(4);
  if (scale.from === 'red_cells') {
    return `Scale ${um} µm/px ± ${(100 * scale.uncertainty).toFixed(1)} % from ${scale.red_cells} red cells`;
  }
  return `Scale ${um} µm/px (set on the board)`;
}

function renderQuality(q, scale) {
  const box = $('quality');
  box.replaceChildren();
  if (!q) {
    box.className = 'quality q-wait';
    box.append(el('strong', { class: 'q-head' }, 'Waiting for the first frame'));
    return;
  }
  const ok = q.verdict === 'accepted';
  box.className = 'quality ' + (ok ? 'q-ok' : 'q-bad');
  box.append(el('strong', { class: 'q-head' }, ok ? 'Frame OK' : `Frame rejected: ${q.problem || 'poor quality'}`));
  if (!ok && q.remedy) box.append(el('span', { class: 'q-detail' }, q.remedy));
  const total = (q.accepted_frames || 0) + (q.rejected_frames || 0);
  const focus = typeof q.focus === 'number' ? q.focus.toFixed(2) : '–';
  const clipped = typeof q.clipped_fraction === 'number' ? pct(q.clipped_fraction, 1) : '–';
  box.append(el('span', { class: 'q-detail' },
    `Focus ${focus} · clipped ${clipped} · ${q.accepted_frames || 0} of ${total} frames accepted (${total ? pct(q.accepted_frames / total) : '–'})`));
  if (q.unreadable_frames) {
    box.append(el('span', { class: 'q-detail q-unreadable' },
      `${q.unreadable_frames} frames could not be read (${q.unreadable})`));
  }
  const line = scaleText(scale);
  if (line) box.append(el('span', { class: 'q-detail q-scale' }, line));
}

function renderCounts(s) {
  const body = $('counts').tBodies[0];
  const rows = [];
  const classified = s.classified || 0;
  (s.counts || []).forEach((c, i) => {
    rows.push(el('tr', { 'data-class': i },
      el('td', {}, el('span', { class: 'swatch', style: `background:${classColour(i)}` }), c.name),
      el('td', { class: 'count num' }, c.cells),
      el('td', { class: 'num' }, classified ? pct(c.cells / classified) : '–')));
  });
  rows.push(el('tr', { 'data-class': 'unidentified' },
    el('td', {}, el('span', { class: 'swatch', style: `background:${classColour(null)}` }), 'Unidentified'),
    el('td', { class: 'count num' }, s.unidentified || 0), el('td', { class: 'num' }, '')));
  if (s.unfamiliar) {
    rows.push(el('tr', { 'data-class': 'unfamiliar', title: 'Unlike the cells the model learnt from: not classified' },
      el('td', {}, el('span', { class: 'swatch', style: `background:${classColour(null)}` }), 'Unfamiliar'),
      el('td', { class: 'count num' }, s.unfamiliar), el('td', { class: 'num' }, '')));
  }
  if (s.partial) {
    rows.push(el('tr', { 'data-class': 'partial', title: 'Cut by the frame\'s edge wherever seen: not classified' },
      el('td', {}, 'Partial (cut by the edge)'),
      el('td', { class: 'count num' }, s.partial), el('td', { class: 'num' }, '')));
  }
  body.replaceChildren(...rows);
  $('malignant-share').textContent = classified ? pct(s.malignant_share) : '–';
}

function setBar(bar, text, value, max, unit) {
  if (typeof max === 'number' && max > 0) {
    bar.max = max; bar.value = Math.min(value, max); bar.hidden = false;
    text.textContent = `${value} of ${max}${unit}`;
  } else {
    bar.hidden = true;
    text.textContent = `${value}${unit}`;
  }
}

function render(s) {
  lastState = s;
  setDemonstration(!!s.demonstration);
  setSlideLabel(s.slide);
  renderQuality(s.quality, s.scale);
  renderCounts(s);
  setBar($('cells-bar'), $('cells-text'), s.classified || 0, s.stop_after_cells, ' cells');
  setBar($('fields-bar'), $('fields-text'), s.fields || 0, s.max_fields, '');

  const flag = $('flag');
  if (s.flag && s.flag.text) {
    flag.hidden = false;
    flag.className = 'flag ' + flagClass(s.flag.kind);
    flag.textContent = flagText(s.flag);
  } else flag.hidden = true;

  $('start').disabled = busy || !s.can_start;
  $('stop').disabled = busy || !s.running;

  const ended = $('ended');
  if (s.ended && s.slide && !s.running) {
    ended.hidden = false;
    $('ended-text').textContent = `Slide ${s.slide} ended: ${s.ended}.`;
    $('review-link').href = '/review/' + encodeURIComponent(s.slide);
  } else ended.hidden = true;

  const modes = { demo: 'Demonstration run on synthetic slides', run: 'Camera', replay: 'Replay of recorded frames' };
  $('mode').textContent = `Source: ${modes[s.mode] || s.mode || '–'}${s.frame ? ` · frame ${s.frame}` : ''}`;

  maybeLoadFrame(s.frame_version);
}

// The boxes of the frame being loaded, and of the one on screen: labels are drawn in the
// page (crisp at any size) over the boxes the server drew into the JPEG.
let loadingBoxes = null;
let shownBoxes = null;

function maybeLoadFrame(version) {
  if (!version || version === shownVersion || frameLoading) return;
  frameLoading = true;
  shownVersion = version;
  loadingBoxes = lastState && lastState.frame_version === version
    ? { size: lastState.frame_size, boxes: lastState.boxes || [] } : null;
  // The <img> keeps showing the old frame until the new one has arrived, so no flicker.
  $('live-frame').src = '/api/live/frame.jpg?v=' + encodeURIComponent(version);
}

function onFrameDone(ok) {
  frameLoading = false;
  if (ok) {
    $('live-frame').hidden = false;
    $('frame-empty').hidden = true;
    shownBoxes = loadingBoxes;
    drawLabels();
  }
  // A newer frame may have been announced while this one loaded.
  if (ok && lastState) maybeLoadFrame(lastState.frame_version);
}

// A label above each cell counted in the frame on screen, placed where object-fit:
// contain put the picture.
function drawLabels() {
  const layer = $('frame-labels');
  layer.replaceChildren();
  const img = $('live-frame');
  if (!shownBoxes || !shownBoxes.size || img.hidden) return;
  const [fw, fh] = shownBoxes.size;
  const scale = Math.min(img.clientWidth / fw, img.clientHeight / fh);
  const dx = img.offsetLeft + (img.clientWidth - fw * scale) / 2;
  const dy = img.offsetTop + (img.clientHeight - fh * scale) / 2;
  for (const b of shownBoxes.boxes) {
    if (!b.new) continue;
    const [x, y] = b.box;
    const label = el('span', { class: 'frame-label' }, b.label);
    label.style.left = `${Math.round(dx + x * scale)}px`;
    label.style.top = `${Math.max(0, Math.round(dy + y * scale) - 22)}px`;
    label.style.background = classColour(b.class);
    label.style.color = textOn(b.class);
    layer.append(label);
    // Cells enter at the frame's edges: keep their labels on the picture.
    const right = dx + fw * scale;
    if (label.offsetLeft + label.offsetWidth > right) {
      label.style.left = `${Math.max(dx, right - label.offsetWidth)}px`;
    }
  }
}

async function poll() {
  try {
    const s = await getJSON('/api/state', { timeoutMs: 8000 });
    clearError('poll');
    render(s);
  } catch (e) {
    if (e.status !== 401) showError(e.message, 'poll');
  } finally {
    setTimeout(poll, document.hidden ? 2000 : POLL_MS);
  }
}

async function action(url, what) {
  if (busy) return;
  busy = true;
  $('start').disabled = true;
  $('stop').disabled = true;
  try {
    const s = await post(url, {});
    clearError();
    toast(what);
    busy = false;
    render(s);
  } catch (e) {
    showError(e.message);
  } finally {
    busy = false;
    if (lastState) render(lastState);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  const img = $('live-frame');
  img.addEventListener('load', () => onFrameDone(true));
  img.addEventListener('error', () => onFrameDone(false));
  window.addEventListener('resize', drawLabels);
  $('start').addEventListener('click', () => action('/api/slide/start', 'New slide started'));
  $('stop').addEventListener('click', () => action('/api/slide/stop', 'Slide stopped'));
  document.addEventListener('keydown', (ev) => {
    if (ev.ctrlKey || ev.altKey || ev.metaKey) return;
    if (ev.key === 's' && !$('start').disabled) $('start').click();
    else if (ev.key === 'x' && !$('stop').disabled) $('stop').click();
    else if (ev.key === 'r' && !$('ended').hidden) location.assign($('review-link').href);
  });
  poll();
});
