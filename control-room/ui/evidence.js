// Evidence images (camera snapshots, X-ray renders) with the alert's object boxes drawn on
// top as SVG, and the "show original" flow: ask with a reason, wait for a supervisor's
// approval, then load the unblurred original for this user only.

import { get, post, getBlob } from './api.js';
import { h, s, shaPath } from './dom.js';
import { t, fmtDateTime } from './i18n.js';
import { reasonDialog } from './dialogs.js';
import { canRequestOriginal, session } from './session.js';
import { sourceKindLabel, kindLabel } from './format.js';

const POLL_MS = 5000;

// The user's own original-view requests, shared by every evidence item on screen and
// fetched at most once per POLL_MS.
let requestsCache = { at: 0, promise: null };
function forgetRequests() {
  requestsCache = { at: 0, promise: null };
}
/** The latest request by this user for `hex`; undefined if none; null if the list is refused. */
async function myRequests(hex) {
  if (!requestsCache.promise || Date.now() - requestsCache.at > POLL_MS - 500) {
    requestsCache = {
      at: Date.now(),
      promise: get('/api/v1/original-requests?state=all').then(
        (list) => (Array.isArray(list) ? list : list?.items || []),
        (err) => (err.status === 403 ? null : Promise.reject(err)),
      ),
    };
  }
  const list = await requestsCache.promise;
  if (list === null) return null;
  const me = session.user?.username;
  return list
    .filter((r) => shaPath(r.sha256) === hex && (!me || r.requested_by === me))
    .sort((a, b) => String(b.requested_at || '').localeCompare(String(a.requested_at || '')))[0];
}

/**
 * A box in pixels from `objects[].bbox`. The alert contract (pipeline/src/alert.rs,
 * AlertObject::bbox, and what the rules emit) is corners `[x1, y1, x2, y2]`, normalised
 * 0..1. Change only this function if the server sends `[x, y, w, h]` instead.
 */
export function bboxRect(b, W, H) {
  const [x1, y1, x2, y2] = b.map(Number);
  return { x: x1 * W, y: y1 * H, w: Math.max(0, x2 - x1) * W, h: Math.max(0, y2 - y1) * H };
}

function drawBoxes(svg, objects, W, H) {
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  const stroke = Math.max(2, W / 400);
  const font = Math.max(12, W / 28); // the image is usually shown smaller than its pixels
  const kids = [];
  for (const o of objects || []) {
    if (!Array.isArray(o.bbox) || o.bbox.length !== 4) continue;
    const r = bboxRect(o.bbox, W, H);
    const label = `${o.class ?? '?'} ${Number.isFinite(+o.score) ? (+o.score).toFixed(2) : ''}`.trim();
    const ty = r.y > font + 4 ? r.y - 4 : r.y + r.h + font;
    kids.push(s('g', { class: 'bbox', testid: 'evidence-box' },
      s('rect', { x: r.x, y: r.y, width: r.w, height: r.h, 'stroke-width': stroke }),
      s('text', { x: r.x + 2, y: ty, 'font-size': font }, label)));
  }
  svg.replaceChildren(...kids);
}

/** An image with its boxes; the SVG takes the image's own pixel size once it has loaded. */
function frame(src, objects, testid) {
  const svg = s('svg', { class: 'overlay', preserveAspectRatio: 'none', 'aria-hidden': 'true' });
  const img = h('img', { src, alt: t('evidence.alt'), testid, decoding: 'async' });
  const box = h('div', { class: 'evidence-frame' }, img, svg);
  const draw = () => drawBoxes(svg, objects, img.naturalWidth || 1, img.naturalHeight || 1);
  img.addEventListener('load', draw);
  img.addEventListener('error', () => box.replaceChildren(h('p', { class: 'muted' }, t('evidence.load_failed'))));
  if (img.complete && img.naturalWidth) draw();
  return { box, img, redraw: (objs) => { objects = objs; if (img.naturalWidth) draw(); } };
}

/**
 * One evidence item: `ev` from the incident detail, `alert` the alert it belongs to (may
 * be null), `summary` the incident. Returns {el, cleanup}.
 */
export function evidenceFigure(ev, alert, summary) {
  const sha = ev.sha256;
  const url = `/api/v1/evidence/${shaPath(sha)}`;
  const objects = alert?.objects || [];
  const isVideo = /clip|video/i.test(ev.kind || '');
  const isXray = alert?.source?.kind === 'xray' || /xray/i.test(ev.kind || '');
  let pollTimer = null;
  let blobUrl = null;
  let alive = true;
  let originalButton = null;

  const fig = h('figure', { class: ['evidence', isXray && 'xray'], testid: 'evidence', dataset: { sha256: sha } });
  const caption = h('figcaption', {},
    h('span', { class: 'tag' }, isXray ? t('evidence.xray') : ev.kind ? t('evidence.kind', { kind: ev.kind }) : t('evidence.snapshot')),
    alert ? ` ${sourceKindLabel(alert.source?.kind)}/${alert.source?.id ?? ''} · ${kindLabel(alert.kind)} · ${fmtDateTime(alert.event_ts)}` : '');

  if (ev.available === false) {
    fig.append(h('div', { class: 'evidence-missing', testid: 'evidence-pending' }, t('evidence.not_available')), caption);
    return { el: fig, cleanup() {} };
  }

  if (isVideo) fig.append(h('video', { src: url, controls: true, preload: 'metadata', testid: 'evidence-video' }));
  else fig.append(frame(url, objects, 'evidence-image').box);
  fig.append(caption);
  if (objects.length && !isVideo) {
    fig.append(h('ul', { class: 'findings' }, objects.map((o) =>
      h('li', {}, `${o.class ?? '?'} ${Number.isFinite(+o.score) ? `${Math.round(+o.score * 100)}%` : ''}`))));
  }

  // ---- originals -----------------------------------------------------------------------
  // Where a request stands comes from GET /api/v1/original-requests?state=all (the user's
  // own requests); the original itself is fetched once, when approved (each view is audited).
  const status = h('span', { class: 'original-status', testid: 'original-status', role: 'status' });
  const originalSlot = h('div', { class: 'original-slot' });
  const setStatus = (state, text) => {
    status.dataset.state = state;
    status.textContent = text;
  };

  async function loadOriginal() {
    const { blob } = await getBlob(`${url}/original`);
    if (!alive) return true;
    if (!blob) return false;
    setStatus('approved', t('original.approved'));
    originalButton?.remove(); // asked and granted: nothing more to ask for
    blobUrl = URL.createObjectURL(blob);
    const f = frame(blobUrl, objects, 'evidence-original');
    originalSlot.replaceChildren(h('p', { class: 'tag warn' }, t('original.label')), f.box);
    return true;
  }

  /** Checks this evidence's latest request by me; polls while it is pending. */
  async function check(first) {
    if (!alive) return;
    let again = false;
    try {
      const mine = await myRequests(shaPath(sha));
      if (!alive) return;
      if (mine === null) {
        // The list is not available to this user: ask for the original itself.
        again = !first && !(await loadOriginal());
      } else if (mine) {
        const expired = mine.expires_at && Date.parse(mine.expires_at) < Date.now();
        if (mine.state === 'approved' && !expired) {
          if (!(await loadOriginal())) setStatus('expired', t('original.expired'));
        } else if (mine.state === 'approved') {
          setStatus('expired', t('original.expired'));
        } else {
          setStatus('pending', t('original.pending'));
          again = true;
        }
      }
    } catch {
      again = !first; // network: try again later
    }
    if (alive && again) pollTimer = setTimeout(() => check(false), POLL_MS);
  }

  // Only evidence with an unblurred original can be asked for (`has_original`).
  if (!isVideo && ev.has_original !== false && canRequestOriginal(summary)) {
    const btn = h('button', { type: 'button', class: 'btn small', testid: 'action-original' }, t('original.show'));
    originalButton = btn;
    btn.addEventListener('click', () => reasonDialog({
      title: t('original.title'),
      submitLabel: t('original.request'),
      onSubmit: async (reason) => {
        const req = await post(`${url}/original-requests`, { reason });
        forgetRequests();
        setStatus('pending', t('original.pending'));
        clearTimeout(pollTimer);
        if (req?.state === 'approved') check(false);
        else pollTimer = setTimeout(() => check(false), POLL_MS);
        return req;
      },
    }));
    fig.append(h('div', { class: 'evidence-actions' }, btn, status), originalSlot);
    check(true); // a request made earlier: pick up where it stands
  }

  return {
    el: fig,
    cleanup() {
      alive = false;
      clearTimeout(pollTimer);
      if (blobUrl) URL.revokeObjectURL(blobUrl);
    },
  };
}
