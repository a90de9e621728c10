// The map: offline by default. Sources and open incidents are drawn in SVG on a plain
// equirectangular projection fitted to their bounding box. When the server configures a
// tile_url (a local tile server), the projection is Web Mercator so tiles line up.

import { get } from './api.js';
import { h, s, debounce, sevRank } from './dom.js';
import { t } from './i18n.js';
import * as live from './live.js';
import { errorText } from './dialogs.js';
import { kindLabel, severityLabel, sourceKindLabel, stateLabel } from './format.js';

const MARGIN = 0.1; // of the span on each side
const MIN_SPAN_DEG = 0.01; // about 1 km, so one point alone still gets a sensible view
const TILE = 256;
const SEV_RADIUS = { critical: 11, high: 9, medium: 8, low: 7, info: 6 };

const mercX = (lon) => (lon + 180) / 360;
const mercY = (lat) => {
  const r = (Math.max(-85.05, Math.min(85.05, lat)) * Math.PI) / 180;
  return (1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2;
};

const validPoint = (p) => p && Number.isFinite(+p.lat) && Number.isFinite(+p.lon);

/**
 * A projection lon/lat -> screen pixels fitted to `points` in a W×H viewport.
 * Equirectangular (x scaled by cos of the middle latitude, so shapes are not stretched),
 * or Web Mercator when tiles are drawn.
 */
function fit(points, W, H, mercator) {
  let minLat = Infinity, maxLat = -Infinity, minLon = Infinity, maxLon = -Infinity;
  for (const p of points) {
    minLat = Math.min(minLat, p.lat); maxLat = Math.max(maxLat, p.lat);
    minLon = Math.min(minLon, p.lon); maxLon = Math.max(maxLon, p.lon);
  }
  if (!points.length) { minLat = 41.2; maxLat = 41.4; minLon = 69.1; maxLon = 69.4; } // Tashkent
  const padLat = Math.max((maxLat - minLat) * MARGIN, (MIN_SPAN_DEG - (maxLat - minLat)) / 2, 0);
  const padLon = Math.max((maxLon - minLon) * MARGIN, (MIN_SPAN_DEG - (maxLon - minLon)) / 2, 0);
  minLat -= padLat; maxLat += padLat; minLon -= padLon; maxLon += padLon;
  const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const raw = mercator
    ? (lon, lat) => [mercX(lon), mercY(lat)]
    : (lon, lat) => [lon * k, -lat];
  const [x0, y0] = raw(minLon, maxLat);
  const [x1, y1] = raw(maxLon, minLat);
  const scale = Math.min(W / (x1 - x0 || 1e-9), H / (y1 - y0 || 1e-9));
  const ox = (W - (x1 - x0) * scale) / 2 - x0 * scale;
  const oy = (H - (y1 - y0) * scale) / 2 - y0 * scale;
  return { scale, ox, oy, project: (lon, lat) => { const [x, y] = raw(lon, lat); return [x * scale + ox, y * scale + oy]; } };
}

/** Tiles under a mercator view: zoom from the scale, each tile placed and scaled to fit. */
function tiles(template, view, W, H) {
  const z = Math.max(0, Math.min(19, Math.round(Math.log2(view.scale / TILE))));
  const n = 2 ** z;
  const size = view.scale / n; // one tile in screen pixels
  const fromX = Math.floor(-view.ox / size), toX = Math.floor((W - view.ox) / size);
  const fromY = Math.max(0, Math.floor(-view.oy / size)), toY = Math.min(n - 1, Math.floor((H - view.oy) / size));
  const out = [];
  if (toX - fromX > 40 || toY - fromY > 40) return out; // a config mistake; don't flood the tile server
  for (let ty = fromY; ty <= toY; ty++) {
    for (let tx = fromX; tx <= toX; tx++) {
      const wx = ((tx % n) + n) % n;
      const href = template.replace('{z}', z).replace('{x}', wx).replace('{y}', ty);
      out.push(s('image', { href, x: tx * size + view.ox, y: ty * size + view.oy, width: size + 0.5, height: size + 0.5 }));
    }
  }
  return out;
}

export function mountMap(container, { open }) {
  let alive = true;
  let data = null;
  const status = h('span', { class: 'queue-status', role: 'status' }, t('common.loading'));
  const holder = h('div', { class: 'map-holder', testid: 'map' });
  const legend = h('div', { class: 'legend' },
    ['critical', 'high', 'medium', 'low', 'info'].map((sv) =>
      h('span', { class: 'legend-item' }, h('span', { class: ['dot', `sev-${sv}`] }), severityLabel(sv))),
    h('span', { class: 'legend-item' }, h('span', { class: 'square' }), t('map.source')),
    h('span', { class: 'legend-item' }, h('span', { class: 'square muted-src' }), t('map.source_muted')));
  container.replaceChildren(h('section', { class: 'map-view' },
    h('div', { class: 'view-head' }, h('h1', {}, t('nav.map')), legend, status), holder));

  function draw() {
    if (!data || !alive) return;
    const W = holder.clientWidth || 800;
    const H = holder.clientHeight || 600;
    const sources = (data.sources || []).filter((x) => validPoint(x.location));
    const incidents = (data.incidents || []).filter((x) => validPoint(x.place) && x.workflow?.state !== 'resolved');
    const pts = [...sources.map((x) => x.location), ...incidents.map((x) => x.place)].map((p) => ({ lat: +p.lat, lon: +p.lon }));
    const mercator = !!data.tile_url;
    const view = fit(pts, W, H, mercator);
    const layers = [];
    if (mercator) layers.push(s('g', { class: 'tiles' }, tiles(data.tile_url, view, W, H)));

    layers.push(s('g', { class: 'sources' }, sources.map((src) => {
      const [x, y] = view.project(+src.location.lon, +src.location.lat);
      const muted = !!src.muted;
      const name = src.name || src.id;
      return s('g', { class: ['source', muted && 'muted'], testid: 'map-source', transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` },
        s('title', {}, `${sourceKindLabel(src.kind)}: ${name} (${src.site})${muted ? ` — ${t('map.source_muted')}` : ''}`),
        s('rect', { x: -5, y: -5, width: 10, height: 10 }),
        s('text', { x: 8, y: 4 }, name));
    })));

    // Least severe first so critical circles are drawn on top.
    const sorted = [...incidents].sort((a, b) => sevRank(b.severity) - sevRank(a.severity));
    layers.push(s('g', { class: 'incidents' }, sorted.map((inc) => {
      const [x, y] = view.project(+inc.place.lon, +inc.place.lat);
      const g = s('g', { class: ['incident-dot', `sev-${inc.severity}`], testid: 'map-incident', tabindex: 0, role: 'link',
        'data-incident-id': inc.id, transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` },
        s('title', {}, `${severityLabel(inc.severity)} · ${kindLabel(inc.kind)} · ${inc.site} · ${stateLabel(inc.workflow?.state)}`),
        s('circle', { r: SEV_RADIUS[inc.severity] || 7 }));
      g.addEventListener('click', () => open(inc.id));
      g.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(inc.id); });
      return g;
    })));

    const svg = s('svg', { class: 'map-svg', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': t('nav.map') }, layers);
    holder.replaceChildren(svg);
    status.textContent = !pts.length ? t('map.empty') : t('map.counts', { sources: sources.length, incidents: incidents.length });
  }

  async function load() {
    try {
      data = await get('/api/v1/map');
      status.classList.remove('error');
      draw();
    } catch (err) {
      if (!alive || err.status === 401) return;
      status.textContent = errorText(err);
      status.classList.add('error');
    }
  }

  const reload = debounce(load, 1500); // a burst of incident updates -> one fetch
  const offLive = live.on('incident', () => alive && reload());
  const offOpen = live.on('open', () => alive && reload());
  const timer = setInterval(load, 30000);
  const ro = new ResizeObserver(debounce(draw, 100));
  ro.observe(holder);
  load();

  return () => {
    alive = false;
    offLive();
    offOpen();
    clearInterval(timer);
    reload.cancel();
    ro.disconnect();
  };
}
