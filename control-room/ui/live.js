// The live feed: one WebSocket to /api/v1/ws, reconnected with backoff (1 s doubling to
// 30 s). Listeners subscribe per message type; `open` listeners run on every (re)connect
// so callers can re-fetch what they might have missed while disconnected.

import { get } from './api.js';

const MIN_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;

const listeners = new Map(); // type -> Set<fn>; types: message types plus 'open', 'state'
let socket = null;
let delay = MIN_DELAY_MS;
let retryTimer = null;
let stopped = false;
let state = 'reconnecting';

function emit(type, arg) {
  for (const fn of listeners.get(type) || []) {
    try {
      fn(arg);
    } catch (e) {
      console.error(`live listener for ${type}`, e);
    }
  }
}

/** Subscribes to a message type ('incident', 'node', 'hello', …) or to 'open' / 'state'. */
export function on(type, fn) {
  if (!listeners.has(type)) listeners.set(type, new Set());
  listeners.get(type).add(fn);
  return () => listeners.get(type).delete(fn);
}

export const connectionState = () => state;

function setState(s) {
  if (s === state) return;
  state = s;
  emit('state', s);
}

export function connect() {
  stopped = false;
  clearTimeout(retryTimer);
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let ws;
  try {
    ws = new WebSocket(`${proto}//${location.host}/api/v1/ws`);
  } catch {
    scheduleRetry();
    return;
  }
  socket = ws;
  ws.addEventListener('open', () => {
    delay = MIN_DELAY_MS;
    setState('live');
    emit('open');
  });
  ws.addEventListener('message', (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (msg && typeof msg.type === 'string') emit(msg.type, msg);
  });
  ws.addEventListener('close', () => {
    if (socket !== ws) return;
    socket = null;
    setState('reconnecting');
    if (!stopped) scheduleRetry();
  });
  // 'error' is always followed by 'close'; nothing to do here.
}

function scheduleRetry() {
  const wait = delay;
  delay = Math.min(delay * 2, MAX_DELAY_MS);
  retryTimer = setTimeout(async () => {
    // A WebSocket handshake refused for an expired session looks like any other failure;
    // asking /me turns it into a 401, which sends the browser to the login page.
    try {
      await get('/api/v1/me');
    } catch {
      /* server down: keep retrying */
    }
    if (!stopped) connect();
  }, wait);
}

export function disconnect() {
  stopped = true;
  clearTimeout(retryTimer);
  if (socket) socket.close();
  socket = null;
}
