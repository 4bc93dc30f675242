// Slides page: every slide on the board, newest first, each a big link to its review.
'use strict';

function reviewerInitials(r) {
  if (!r) return null;
  if (typeof r === 'string') return r;
  return r.initials || null;
}

// Slides that cannot be opened for review, and what the badge calls them.
const UNREVIEWABLE = {
  report_missing: 'report missing',
  interrupted: 'interrupted',
  unreadable: 'cannot be read',
};

function stateBadge(slide) {
  let text = 'to review';
  if (UNREVIEWABLE[slide.state]) text = UNREVIEWABLE[slide.state];
  else if (slide.state === 'running') text = 'scanning';
  else if (slide.state === 'signed_off') {
    const who = reviewerInitials(slide.reviewer);
    text = who ? `signed off by ${who}` : 'signed off';
  }
  return el('span', { class: `badge st-${slide.state}` }, text);
}

let lastJson = null;

function render(list) {
  // Re-render only on a change, so a tap in progress is never lost to a redraw.
  const json = JSON.stringify(list);
  if (json === lastJson) return;
  lastJson = json;
  const box = $('slide-list');
  if (!list.length) {
    box.replaceChildren(el('p', { class: 'empty' },
      'No slides yet. Start one on the ', el('a', { href: '/live' }, 'Live'), ' page.'));
    return;
  }
  const head = el('div', { class: 'slide-head', 'aria-hidden': 'true' },
    el('span', {}, 'Slide'), el('span', {}, 'State'), el('span', { style: 'text-align:right' }, 'Cells'),
    el('span', {}, 'Flag'), el('span', { style: 'text-align:right' }, 'Corrections'));
  const rows = list.map((s) => {
    if (UNREVIEWABLE[s.state]) return problemRow(s);
    const corr = s.corrections || 0;
    return el('a', { class: 'slide-row', href: '/review/' + encodeURIComponent(s.id), 'data-slide': s.id },
      el('span', { class: 'sid' }, s.id),
      el('span', {}, stateBadge(s)),
      el('span', { class: 'n', title: `${s.unidentified || 0} unidentified, ${s.unfamiliar || 0} unfamiliar` }, `${s.classified || 0} cells`),
      s.flag && s.flag.text ? el('span', { class: 'flag ' + flagClass(s.flag.kind) }, flagText(s.flag)) : el('span', {}, ''),
      el('span', { class: 'n' }, corr ? `${corr} corrected` : '–'));
  });
  box.replaceChildren(head, ...rows);
}

// A slide that is listed, never hidden, even when it cannot be reviewed: why, and for a
// finished slide whose report was lost, the button that writes it again.
function problemRow(s) {
  const action = s.can_rebuild
    ? el('button', { type: 'button', class: 'rebuild', 'data-slide': s.id }, 'Write the report again')
    : el('span', {}, '');
  if (s.can_rebuild) action.addEventListener('click', () => rebuild(s.id, action));
  return el('div', { class: 'slide-row problem', 'data-slide': s.id },
    el('span', { class: 'sid' }, s.id),
    el('span', {}, stateBadge(s)),
    el('span', { class: 'why' }, s.error || ''),
    action);
}

async function rebuild(id, button) {
  button.disabled = true;
  try {
    await post(`/api/slides/${encodeURIComponent(id)}/report`);
    toast(`Report of ${id} written again`);
    lastJson = null;
    const data = await getJSON('/api/slides');
    render(Array.isArray(data.slides) ? data.slides : []);
  } catch (e) {
    if (e.status !== 401) showError(e.message);
    button.disabled = false;
  }
}

async function load() {
  let again = 5000;
  try {
    const data = await getJSON('/api/slides');
    clearError('poll');
    const list = Array.isArray(data.slides) ? data.slides : [];
    render(list);
    if (list.some((s) => s.state === 'running')) again = 2000;
  } catch (e) {
    if (e.status !== 401) showError(e.message, 'poll');
  }
  setTimeout(load, again);
}

document.addEventListener('DOMContentLoaded', () => {
  load();
  // The board's model decides the demonstration banner.
  getJSON('/api/state').then((s) => setDemonstration(!!s.demonstration)).catch(() => {});
});
