// The live view: starts from GET api/state, then applies the Server-Sent
// Events of api/events. On every `hello` (the first connection, and again
// after the engine restarted or the connection dropped) it refetches the
// state; events that arrive while that fetch is under way are held and
// applied on top of the new state.
import { api, ApiError } from './api.js';
import { fmtDuration, none } from './format.js';
import { setText } from './dom.js';

const EVENT_TYPES = ['hello', 'seat', 'queue', 'call', 'call-ended', 'figures', 'ticket', 'case-closed', 'callbacks', 'bans'];

/** Whether ticket `a` is a later word on its ticket than `b` (a re-sent ticket, then seq, then steps). */
export function ticketNewer(a, b) {
  if (!b) return true;
  if (!a) return false;
  if ((a.sent_ms || 0) !== (b.sent_ms || 0)) return (a.sent_ms || 0) > (b.sent_ms || 0);
  if (Number.isFinite(a.seq) && Number.isFinite(b.seq) && a.seq !== b.seq) return a.seq > b.seq;
  return ((a.history || []).length) >= ((b.history || []).length);
}

export class LiveModel {
  constructor() {
    this.seats = new Map();
    this.queues = new Map();
    this.calls = new Map();
    this.figures = null;
    /** Tickets by id: the open ones from the state, and every one an event told about since. */
    this.tickets = new Map();
    /** Cases closed (`case-closed`) since the last state: case -> closed_ms. */
    this.closed = new Map();
    /** How many cases wait for a call back (null: not told). */
    this.callbacks = null;
    /** Password-guessing bans in force (supervisors only): the first ones, and how many in all. */
    this.bans = [];
    this.bansTotal = 0;
    this.offset = 0; // server clock minus ours, in ms
    this.ready = false;
  }

  /** The server's clock, from our own plus the offset learnt from now_ms. */
  now() {
    return Date.now() + this.offset;
  }

  setServerNow(ms) {
    if (Number.isFinite(ms)) this.offset = ms - Date.now();
  }

  snapshot(state) {
    this.setServerNow(state.now_ms);
    this.seats = new Map((state.seats || []).map((s) => [s.seat, s]));
    this.queues = new Map((state.queues || []).map((q) => [q.queue, q]));
    this.calls = new Map((state.calls || []).map((c) => [c.case, c]));
    this.figures = state.figures || null;
    this.tickets = new Map();
    for (const tk of state.tickets || []) this.putTicket(tk);
    for (const c of this.calls.values()) for (const tk of c.tickets || []) this.putTicket(tk);
    this.closed = new Map();
    this.callbacks = Number.isFinite(state.callbacks) ? state.callbacks : null;
    this.bans = state.bans || [];
    this.bansTotal = Number.isFinite(state.bans_total) ? state.bans_total : this.bans.length;
    this.ready = true;
  }

  /** Keeps `tk` unless what we have is newer. Returns whether it was taken. */
  putTicket(tk) {
    if (!tk || !tk.ticket) return false;
    const cur = this.tickets.get(tk.ticket);
    if (cur && !ticketNewer(tk, cur)) return false;
    this.tickets.set(tk.ticket, tk);
    return true;
  }

  apply(type, data) {
    switch (type) {
      case 'seat':
        if (data && data.seat) this.seats.set(data.seat, data);
        break;
      case 'queue':
        if (data && data.queue) this.queues.set(data.queue, data);
        break;
      case 'call':
        if (data && data.case) {
          this.calls.set(data.case, data);
          for (const tk of data.tickets || []) this.putTicket(tk);
        }
        break;
      case 'call-ended':
        if (data && data.case) this.calls.delete(data.case);
        break;
      case 'figures':
        this.figures = data;
        break;
      case 'ticket':
        this.putTicket(data);
        break;
      case 'case-closed':
        if (data && data.case) this.closed.set(data.case, data.closed_ms);
        break;
      case 'callbacks':
        if (data && Number.isFinite(data.count)) this.callbacks = data.count;
        break;
      case 'bans':
        if (data && Array.isArray(data.bans)) {
          this.bans = data.bans;
          this.bansTotal = Number.isFinite(data.total) ? data.total : data.bans.length;
        }
        break;
      default:
        break;
    }
  }
}

/**
 * Starts the live view. Callbacks:
 *   onSnapshot(model)            after each GET api/state
 *   onEvent(type, data, model)   after each event applied
 *   onConnection(state, err)     'connecting' | 'live' | 'reconnecting' | 'error'
 * Options: resyncMs: also refetch the state this often (a safety net for a wall screen).
 */
export function startLive({ onSnapshot, onEvent, onConnection, resyncMs = 0 }) {
  const model = new LiveModel();
  let es = null;
  let fetching = false;
  let again = false;
  let buffer = [];
  let backoff = 1000;
  let gotHello = false;
  const status = (s, e) => onConnection && onConnection(s, e);

  async function refetch() {
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    buffer = [];
    try {
      const state = await api('GET', 'api/state');
      model.snapshot(state);
      for (const [type, data] of buffer) {
        if (stale(type, data, model, state)) continue;
        model.apply(type, data);
      }
      onSnapshot(model);
      status(es && es.readyState === EventSource.OPEN ? 'live' : 'reconnecting');
    } catch (e) {
      status('error', e);
      if (!(e instanceof ApiError) || e.status !== 401) setTimeout(refetch, 3000);
    } finally {
      fetching = false;
      buffer = [];
      if (again) {
        again = false;
        refetch();
      }
    }
  }

  function handle(type, data) {
    if (type === 'hello') {
      gotHello = true;
      model.setServerNow(data && data.now_ms);
      refetch();
      return;
    }
    if (fetching) {
      buffer.push([type, data]);
      return;
    }
    if (!model.ready) return;
    model.apply(type, data);
    onEvent(type, data, model);
  }

  async function reconnectLater() {
    status('reconnecting');
    try {
      // A stream refused for good may mean the session is gone: a 401 here goes to the login page.
      await api('GET', 'api/me');
    } catch {
      /* engine down: keep trying */
    }
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, 15000);
  }

  function connect() {
    status(model.ready ? 'reconnecting' : 'connecting');
    es = new EventSource('api/events');
    es.onopen = () => {
      backoff = 1000;
      if (model.ready && !fetching) status('live');
    };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        reconnectLater();
      } else {
        status('reconnecting');
      }
    };
    for (const type of EVENT_TYPES) {
      es.addEventListener(type, (ev) => {
        let data;
        try {
          data = JSON.parse(ev.data);
        } catch {
          return;
        }
        handle(type, data);
      });
    }
  }

  connect();
  // Should the stream never say hello (a proxy that buffers it), show the state anyway.
  setTimeout(() => {
    if (!gotHello && !model.ready) refetch();
  }, 4000);
  if (resyncMs > 0) setInterval(() => { if (model.ready) refetch(); }, resyncMs);
  return model;
}

/** An event received during the state fetch that the state already supersedes. */
function stale(type, data, model, state) {
  if (Number.isFinite(state.seq) && data && Number.isFinite(data.seq)) return data.seq <= state.seq;
  if (type === 'seat' && data && model.seats.has(data.seat)) {
    const cur = model.seats.get(data.seat);
    return Number.isFinite(cur.since_ms) && Number.isFinite(data.since_ms) && data.since_ms < cur.since_ms;
  }
  return false;
}

/** Marks `el` as a timer from `fromMs` to `toMs` (or to now, ticking). */
export function setTimer(el, fromMs, toMs, model) {
  if (!Number.isFinite(fromMs)) {
    delete el.dataset.timerFrom;
    delete el.dataset.timerTo;
    setText(el, none());
    return;
  }
  el.dataset.timerFrom = String(fromMs);
  if (Number.isFinite(toMs)) el.dataset.timerTo = String(toMs);
  else delete el.dataset.timerTo;
  setText(el, fmtDuration((Number.isFinite(toMs) ? toMs : model.now()) - fromMs));
}

export function clearTimer(el, text = none()) {
  delete el.dataset.timerFrom;
  delete el.dataset.timerTo;
  setText(el, text);
}

/** Updates every [data-timer-from] on the page twice a second; `hooks` run on each tick. */
export function startTicker(model, ...hooks) {
  const tick = () => {
    const now = model.now();
    for (const el of document.querySelectorAll('[data-timer-from]')) {
      const from = Number(el.dataset.timerFrom);
      const to = el.dataset.timerTo ? Number(el.dataset.timerTo) : now;
      setText(el, fmtDuration(to - from));
    }
    for (const f of hooks) f(now);
  };
  setInterval(tick, 500);
  return tick;
}
