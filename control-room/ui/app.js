// The control-room app: loads the session, builds the header and nav, keeps the alarm
// queue alive in the background (it is the screen operators return to), and mounts the
// other screens by hash route: #/queue, #/incident/<id>, #/map, #/sources, #/lanes,
// #/nodes, #/requests, #/audit.

import { get, post, put, setCsrf } from './api.js';
import { h, setServerTime, everySecond } from './dom.js';
import { t, setLanguage, language, LANGUAGES, applyI18n, pickBrowserLanguage } from './i18n.js';
import * as live from './live.js';
import { session, isSupervisor } from './session.js';
import { roleLabel } from './format.js';
import { createQueue } from './queue.js';
import { mountIncident } from './incident.js';
import { mountMap } from './map.js';
import { mountSources } from './sources.js';
import { mountLanes } from './lanes.js';
import { mountNodes } from './nodes.js';
import { mountRequests } from './requests.js';
import { mountAudit } from './audit.js';
import { errorText } from './dialogs.js';

const $ = (sel) => document.querySelector(sel);
const openIncident = (id) => { location.hash = `#/incident/${encodeURIComponent(id)}`; };

let queue = null;
let cleanup = null;
let current = null; // {name, arg}

function navItems() {
  const items = [['queue', 'nav.queue'], ['map', 'nav.map'], ['sources', 'nav.sources'], ['lanes', 'nav.lanes'],
    ['nodes', 'nav.nodes']];
  if (isSupervisor()) items.push(['requests', 'nav.requests'], ['audit', 'nav.audit']);
  return items;
}

function renderHeader() {
  const u = session.user;
  const langSel = h('select', { testid: 'language-select', 'aria-label': t('header.language') },
    LANGUAGES.map((l) => h('option', { value: l }, t(`language.${l}`))));
  langSel.value = language();
  langSel.addEventListener('change', async () => {
    const lang = langSel.value;
    try {
      await put('/api/v1/me/language', { language: lang });
    } catch (err) {
      if (err.status === 401) return;
      // Still switch locally: the operator asked for it; it just won't be remembered.
      console.warn('language not saved', err);
    }
    session.user.language = lang;
    setLanguage(lang);
    rerender();
  });
  const logout = h('button', { type: 'button', class: 'btn', testid: 'logout' }, t('header.logout'));
  logout.addEventListener('click', async () => {
    live.disconnect();
    try {
      await post('/api/v1/logout', {});
    } catch { /* the session may already be gone; the login page is right either way */ }
    location.assign('/login');
  });
  const ws = h('span', { class: 'ws-status', testid: 'ws-status', role: 'status' });
  setWsState(ws, live.connectionState());

  $('#header').replaceChildren(
    h('div', { class: 'brand' }, h('span', { class: 'logo' }, 'QOROVUL'), h('span', { class: 'muted' }, t('app.subtitle'))),
    h('nav', { class: 'nav', 'aria-label': t('header.nav') }, navItems().map(([name, key]) =>
      h('a', { href: `#/${name}`, testid: `nav-${name}`, class: current?.name === name ? 'active' : '' }, t(key)))),
    h('div', { class: 'user' },
      ws,
      h('span', { class: 'user-name', testid: 'user-name' }, u.display_name || u.username),
      h('span', { class: 'role', testid: 'user-role' }, roleLabel(u.role)),
      langSel, logout));
}

function setWsState(el, state) {
  el.dataset.state = state;
  el.className = `ws-status ${state}`;
  el.textContent = t(`ws.${state}`);
}

function markNav() {
  for (const a of document.querySelectorAll('#header .nav a')) {
    a.classList.toggle('active', a.getAttribute('href') === `#/${current?.name}`
      || (current?.name === 'incident' && a.getAttribute('href') === '#/queue'));
  }
}

function parseRoute() {
  const m = location.hash.match(/^#\/([a-z]+)(?:\/(.+))?$/);
  const name = m?.[1];
  let arg = m?.[2] ? decodeURIComponent(m[2]) : null;
  const known = ['queue', 'incident', 'map', 'sources', 'lanes', 'nodes', 'requests', 'audit'];
  const allowed = known.includes(name) && (name !== 'incident' || arg)
    && ((name !== 'requests' && name !== 'audit') || isSupervisor());
  if (!allowed) {
    // Unknown or not for this role: the queue, with the address saying so.
    if (location.hash !== '#/queue') history.replaceState(null, '', '#/queue');
    return { name: 'queue', arg: null };
  }
  if (name !== 'incident') arg = null;
  return { name, arg };
}

function route(force = false) {
  const next = parseRoute();
  if (!force && current && current.name === next.name && current.arg === next.arg) return;
  if (cleanup) cleanup();
  cleanup = null;
  current = next;
  const queueEl = $('#queue-view');
  const viewEl = $('#view');
  markNav();
  if (next.name === 'queue') {
    viewEl.replaceChildren();
    viewEl.hidden = true;
    queueEl.hidden = false;
    document.title = `${t('queue.title')} — Qorovul`;
    queue.shown();
    return;
  }
  queueEl.hidden = true;
  viewEl.hidden = false;
  window.scrollTo(0, 0);
  const ctx = { queue, open: openIncident };
  const mounts = {
    incident: () => mountIncident(viewEl, next.arg, ctx),
    map: () => mountMap(viewEl, ctx),
    sources: () => mountSources(viewEl, ctx),
    lanes: () => mountLanes(viewEl, ctx),
    nodes: () => mountNodes(viewEl, ctx),
    requests: () => mountRequests(viewEl, ctx),
    audit: () => mountAudit(viewEl, ctx),
  };
  cleanup = mounts[next.name]();
  document.title = `${next.name === 'incident' ? t('incident.title') : t(`nav.${next.name}`)} — Qorovul`;
}

/** After a language change: everything with words on it. */
function rerender() {
  document.documentElement.lang = language();
  renderHeader();
  markNav();
  queue.relabel();
  route(true);
}

async function boot() {
  let me;
  try {
    me = await get('/api/v1/me');
  } catch (err) {
    if (err.status === 401) return; // api.js is already on the way to /login
    setLanguage(pickBrowserLanguage());
    $('#view').hidden = false;
    $('#view').replaceChildren(h('p', { class: 'form-error', testid: 'boot-error' }, errorText(err)));
    setTimeout(boot, 5000);
    return;
  }
  session.user = me.user;
  setCsrf(me.csrf_token);
  setLanguage(me.user?.language || pickBrowserLanguage());
  document.documentElement.lang = language();
  applyI18n(document.body);

  queue = createQueue($('#queue-view'), { open: openIncident });
  renderHeader();

  live.on('state', (state) => {
    const el = $('[data-testid="ws-status"]');
    if (el) setWsState(el, state);
  });
  live.on('hello', (m) => setServerTime(m.server_time));
  live.on('incident', (m) => queue.push(m.summary));
  // Every (re)connect re-reads the queue, so nothing that happened while offline is missed.
  live.on('open', () => queue.reload());
  live.connect();
  // If the WebSocket is slow to come up, show the queue anyway; 'open' reconciles later.
  setTimeout(() => {
    if (!queue.loadedOnce && !queue.loading) queue.reload();
  }, 3000);
  everySecond(() => queue.tick());

  window.addEventListener('hashchange', () => route());
  // Escape leaves an incident for the queue (an open dialog takes Escape first).
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || e.defaultPrevented || document.querySelector('dialog[open]')) return;
    if (current?.name === 'incident') location.hash = '#/queue';
  });
  route(true);
}

boot();
