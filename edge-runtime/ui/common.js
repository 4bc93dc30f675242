// leukoscope technician UI: helpers shared by every page (no framework, no build step).
'use strict';

// Class colours by taxonomy index: report.rs's PALETTE (Okabe-Ito, told apart with the
// common colour-vision deficiencies), so a class has one colour on the live boxes, these
// pages and the printed report. Names always come from the API; only colours live here.
const CLASS_COLOURS = [
  [230, 159, 0], [86, 180, 233], [0, 158, 115], [240, 228, 66],
  [0, 114, 178], [213, 94, 0], [204, 121, 167], [255, 0, 255],
];
const UNIDENTIFIED_COLOUR = [128, 128, 128];
const NOT_A_CELL_COLOUR = [34, 34, 34];

function rgb(c) { return `rgb(${c[0]},${c[1]},${c[2]})`; }

// The colour of a class index (a number), or of 'unidentified' / 'not_a_cell' / null.
function classColour(cls) {
  if (typeof cls === 'number' && cls >= 0) return rgb(CLASS_COLOURS[cls % CLASS_COLOURS.length]);
  if (cls === 'not_a_cell') return rgb(NOT_A_CELL_COLOUR);
  return rgb(UNIDENTIFIED_COLOUR);
}

// Black or white text, whichever contrasts more with the class colour behind it.
function textOn(cls) {
  let c = UNIDENTIFIED_COLOUR;
  if (typeof cls === 'number' && cls >= 0) c = CLASS_COLOURS[cls % CLASS_COLOURS.length];
  else if (cls === 'not_a_cell') c = NOT_A_CELL_COLOUR;
  const lin = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const l = 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]);
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? '#000' : '#fff';
}

// el('div', {class: 'x', onclick: f}, child, 'text', ...) builds DOM without innerHTML.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'style') e.style.cssText = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function $(id) { return document.getElementById(id); }

function pct(x, digits = 0) {
  if (typeof x !== 'number' || !isFinite(x)) return '–';
  return `${(x * 100).toFixed(digits)}%`;
}

// A time as YYYY-MM-DD HH:MM in the board's browser's time zone (unambiguous everywhere).
function fmtTime(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

function goLogin() {
  if (location.pathname === '/login') return;
  location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
}

// Fetches JSON; any failure becomes an ApiError whose message is fit for the technician.
async function request(url, init = {}, opts = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), opts.timeoutMs || 15000);
  let res;
  try {
    res = await fetch(url, { credentials: 'same-origin', cache: 'no-store', signal: ctrl.signal, ...init });
  } catch (e) {
    clearTimeout(timer);
    throw new ApiError('Cannot reach the board. Check the connection; retrying.', 0);
  }
  let text = '';
  try { text = await res.text(); } catch (e) { /* treated as empty below */ }
  clearTimeout(timer);
  if (res.status === 401 && !opts.no401Redirect) {
    goLogin();
    throw new ApiError('Please log in.', 401);
  }
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch (e) { /* not JSON */ } }
  if (!res.ok) {
    const msg = data && typeof data.error === 'string' && data.error
      ? data.error : `The board answered ${res.status} ${res.statusText || ''}`.trim();
    throw new ApiError(msg, res.status);
  }
  if (data === null && !text) return {};
  if (data === null) throw new ApiError('The board sent an answer this page cannot read.', res.status);
  return data;
}

function getJSON(url, opts) { return request(url, {}, opts); }

// Every state-changing request: POST with both headers the server's CSRF guard wants.
function post(url, body, opts) {
  return request(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Leukoscope': '1' },
    body: JSON.stringify(body === undefined ? {} : body),
  }, opts);
}

// The error banner (role="alert"). `key` lets a poller clear only its own message.
let bannerKey = null;
function showError(message, key = 'action') {
  const b = $('banner');
  if (!b) { console.error(message); return; }
  bannerKey = key;
  b.querySelector('.banner-text').textContent = message;
  b.hidden = false;
}
function clearError(key) {
  const b = $('banner');
  if (!b || b.hidden || (key && key !== bannerKey)) return;
  b.hidden = true;
  bannerKey = null;
}

let toastTimer = null;
function toast(message) {
  const t = $('toast');
  if (!t) return;
  t.textContent = message;
  t.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove('show'), 2600);
}

function setSlideLabel(slide) {
  const s = $('top-slide');
  if (!s) return;
  s.textContent = slide ? `Slide ${slide}` : '';
  s.hidden = !slide;
}

function setDemonstration(on) {
  const d = $('demo-banner');
  if (d) d.hidden = !on;
}

// The flag's words, with the blasts' B-ALL subtype when the slide names one.
function flagText(flag) {
  return flag.subtype ? `${flag.text} · ${flag.subtype}` : flag.text;
}

function flagClass(kind) {
  const classes = { suspicious_refer: 'flag-refer', no_evidence: 'flag-clear', unfamiliar: 'flag-unfamiliar' };
  return classes[kind] || 'flag-insufficient';
}

// Only a path of this UI may follow the login. The browser's own URL parser decides, as
// it will when the page goes there: it drops tabs and newlines and reads '\' as '/', so
// prefix checks alone let '/<tab>/evil.example' or '/\evil.example' leave the board.
function safeNext(next) {
  if (typeof next !== 'string' || !next.startsWith('/') || /[\u0000-\u001f\u007f\\]/.test(next)) {
    return '/live';
  }
  let url;
  try {
    url = new URL(next, location.origin);
  } catch (e) {
    return '/live';
  }
  if (url.origin !== location.origin || url.pathname.startsWith('/login')) return '/live';
  // Whole, not as a path: '/..//evil.example' resolves to the path '//evil.example', which
  // on its own would name another host.
  return url.href;
}

document.addEventListener('DOMContentLoaded', () => {
  const b = $('banner');
  if (b) b.querySelector('.banner-close').addEventListener('click', () => { b.hidden = true; bannerKey = null; });
  for (const a of document.querySelectorAll('.top nav a')) {
    if (location.pathname === a.getAttribute('href')) a.setAttribute('aria-current', 'page');
  }
});
