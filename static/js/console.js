// The agent console: waiting calls with their timers, the screen pop, answering, wrap-up, presence.
// Everything arrives pushed over Socket.IO; after a reconnect the server sends a fresh snapshot.
import { bookFrom, formText, setCaller } from './booking-form.js';
import { watchHealth } from './health-banner.js';

const text = JSON.parse(document.getElementById('console-text').textContent);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const lang = document.documentElement.lang;
const digits = new Intl.NumberFormat(lang, { minimumIntegerDigits: 2, useGrouping: false });

const el = {
  state: document.querySelector('[data-live-state]'),
  queue: document.querySelector('[data-call-queue]'),
  queueEmpty: document.querySelector('[data-queue-empty]'),
  queueCount: document.querySelector('[data-queue-count]'),
  pop: document.querySelector('[data-screen-pop]'),
  wrapUp: document.querySelector('[data-wrap-up]'),
  missed: document.querySelector('[data-missed]'),
  missedEmpty: document.querySelector('[data-missed-empty]'),
  presenceLabel: document.querySelector('[data-presence-label]'),
};

const waiting = new Map(); // call id → card
const missed = new Map();
let myCall = null;
let selected = null;

function node(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') element.className = value;
    else if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value);
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

function waited(since) {
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 1000));
  return `${digits.format(Math.floor(seconds / 60))}:${digits.format(seconds % 60)}`;
}

function who(card) {
  if (card.subscriber) return card.subscriber.name;
  return card.withheld ? text.withheld : card.caller;
}

async function post(url, body = {}) {
  const response = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf },
    body: JSON.stringify(body),
  });
  return { ok: response.ok, status: response.status, body: await response.json().catch(() => ({})) };
}

function renderQueue() {
  const cards = [...waiting.values()].sort((a, b) => Date.parse(a.queued_at) - Date.parse(b.queued_at));
  el.queue.replaceChildren(...cards.map((card) => node('li', {
    class: `queued-call${card.id === selected ? ' selected' : ''}`, 'data-call-id': card.id,
  },
  node('button', { type: 'button', class: 'call-pick', onclick: () => select(card.id) },
    node('strong', {}, who(card)),
    card.subscriber ? node('span', { class: `tier tier-${card.subscriber.tier}` }, text[`tier_${card.subscriber.tier}`]) : null,
    node('span', { class: 'wait', 'data-since': card.queued_at }, waited(card.queued_at))),
  node('button', { type: 'button', class: 'primary answer', onclick: () => answer(card.id) }, text.answer))));
  el.queueEmpty.hidden = cards.length > 0;
  el.queueCount.textContent = digits.format(cards.length);
}

function list(title, items, render) {
  if (!items || items.length === 0) return null;
  return node('section', { class: 'pop-section' }, node('h4', {}, title), node('ul', {}, ...items.map((item) => node('li', {}, render(item)))));
}

// Who the booking form books for: the popped caller, with the call's id once it is the agent's own.
function callerOf(card) {
  const s = card.subscriber;
  return {
    subscriber_id: s ? s.id : null,
    name: s ? s.name : '',
    phone: card.caller || '',
    phones: card.caller ? [card.caller] : [],
    addresses: s ? s.addresses : [],
    barred: Boolean(s && s.barred),
    call_id: myCall && myCall.id === card.id ? card.id : null,
  };
}

function addressLine(card, a) {
  return node('span', {}, `${a.label} — ${a.text}${a.unit ? '، ' + a.unit : ''}${a.driver_notes ? ' (' + a.driver_notes + ')' : ''} `,
    node('button', {
      type: 'button', class: 'small', 'data-book-address': a.id,
      onclick: () => { setCaller(callerOf(card), { force: true }); bookFrom(a.id); },
    }, formText.book_from_here));
}

function renderPop(card) {
  if (!card) return;
  setCaller(callerOf(card), { force: Boolean(myCall && myCall.id === card.id) });
  const s = card.subscriber;
  const parts = [];
  if (card.recent_booking) {
    const b = card.recent_booking;
    parts.push(node('div', { class: 'recent-booking', 'data-recent-booking': b.id },
      node('strong', {}, text.recent_booking), node('p', {}, `${b.pickup} → ${b.dropoff || '—'} · ${b.status}`)));
  }
  if (s) {
    parts.push(node('header', { class: 'record-head' },
      node('h3', {}, node('a', { href: s.url }, s.name)),
      node('span', { class: `tier tier-${s.tier}` }, text[`tier_${s.tier}`]),
      s.barred ? node('span', { class: 'badge danger' }, text.barred) : null));
    if (card.caller) parts.push(node('p', { dir: 'ltr', class: 'caller-number' }, card.caller));
    if (s.notes) parts.push(node('p', { class: 'notes' }, s.notes));
    parts.push(list(text.notes, s.recent_notes, (n) => n.body));
    parts.push(list(text.addresses, s.addresses, (a) => addressLine(card, a)));
    parts.push(list(text.last_trips, s.last_trips, (t) => `${t.pickup} → ${t.dropoff || '—'} · ${t.status}`));
    parts.push(list(text.open_complaints, s.open_complaints, (c) => `${c.category} · ${c.status}`));
  } else {
    parts.push(node('h3', {}, card.withheld ? text.withheld : card.caller));
    parts.push(node('p', {}, text.unknown));
    if (card.new_subscriber_url) parts.push(node('a', { href: card.new_subscriber_url, class: 'button' }, text.new_subscriber));
  }
  if (card.status === 'queued') {
    parts.push(node('button', { type: 'button', class: 'primary answer', onclick: () => answer(card.id) }, text.answer));
  } else if (myCall && card.id === myCall.id) {
    parts.push(node('p', { class: 'call-state' }, card.status === 'ringing' ? text.ringing : text.on_call));
  }
  el.pop.replaceChildren(...parts.filter(Boolean));
}

function select(callId) {
  selected = callId;
  renderQueue();
  renderPop(waiting.get(callId) || (myCall && myCall.id === callId ? myCall : null));
}

function showMyCall(card) {
  myCall = card;
  selected = card ? card.id : selected;
  if (card) renderPop(card);
  // Once the line has ended the agent wraps up; until then the form stays hidden.
  el.wrapUp.hidden = !(card && ['completed', 'abandoned'].includes(card.status));
}

async function answer(callId) {
  const result = await post(`/console/calls/${callId}/answer`);
  if (result.ok) return;
  const message = result.status === 409 ? text.taken_elsewhere : text.could_not_connect;
  el.pop.prepend(node('p', { class: 'flash flash-error', role: 'alert' }, message));
}

function renderMissed() {
  el.missed.replaceChildren(...[...missed.values()].map((card) => node('li', { 'data-missed-id': card.id },
    node('span', {}, `${who(card)} · ${text[card.status] || card.status}`),
    node('button', { type: 'button', onclick: () => callBack(card) }, text.call_back),
    node('button', { type: 'button', onclick: () => markHandled(card.id) }, text.done))));
  el.missedEmpty.hidden = missed.size > 0;
}

async function callBack(card) {
  const result = await post('/console/call-back', { number: card.caller_e164, call_id: card.id });
  if (result.ok) { missed.delete(card.id); renderMissed(); }
}

async function markHandled(callId) {
  const result = await post(`/console/calls/${callId}/handled`);
  if (result.ok) { missed.delete(callId); renderMissed(); }
}

function showPresence(state) {
  el.presenceLabel.textContent = text[`state_${state}`] || state;
  el.presenceLabel.dataset.state = state;
}

document.querySelectorAll('[data-presence]').forEach((button) => {
  button.addEventListener('click', () => post('/console/presence', { state: button.dataset.presence }));
});

el.wrapUp.addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!myCall) return;
  const form = new FormData(el.wrapUp);
  const result = await post(`/console/calls/${myCall.id}/wrap-up`, Object.fromEntries(form));
  if (result.ok) { el.wrapUp.reset(); showMyCall(null); el.pop.replaceChildren(); setCaller(null); }
});

// The session cookie authenticates the socket; the server refuses roles without the console.
const socket = window.io('/console', { transports: ['websocket', 'polling'] });
watchHealth(socket);
function connected(yes) {
  el.state.textContent = yes ? text.live : text.reconnecting;
  el.state.classList.toggle('connected', yes);
}
socket.on('connect', () => connected(true));
socket.on('disconnect', () => connected(false));
socket.on('connect_error', () => connected(false));

socket.on('snapshot', (snapshot) => {
  waiting.clear();
  snapshot.calls.forEach((card) => waiting.set(card.id, card));
  missed.clear();
  snapshot.missed.forEach((card) => missed.set(card.id, card));
  renderQueue();
  renderMissed();
  showPresence(snapshot.presence);
  showMyCall(snapshot.my_call);
});
socket.on('call_waiting', (card) => {
  waiting.set(card.id, card);
  renderQueue();
  if (selected === null || selected === card.id) select(card.id);
});
socket.on('call_update', (update) => {
  if (update.status !== 'queued') waiting.delete(update.id);
  if (myCall && myCall.id === update.id) showMyCall({ ...myCall, ...update });
  if (selected === update.id && !(myCall && myCall.id === update.id)) {
    selected = null;
    setCaller(null);
    el.pop.replaceChildren(node('p', { class: 'empty' }, text.taken_by.replace('{name}', update.agent_name || '')));
  }
  renderQueue();
});
socket.on('missed_call', (card) => { missed.set(card.id, card); renderMissed(); });
socket.on('my_call', (card) => { waiting.delete(card.id); renderQueue(); showMyCall(card); });
socket.on('presence', (update) => showPresence(update.state));

// The heartbeat tells the server this tab is still here (a tab on a dead web process stops beating).
setInterval(() => { if (socket.connected) socket.emit('heartbeat'); }, 30000);

// Wait timers tick in the page; the queue itself only changes when the server says so.
setInterval(() => {
  document.querySelectorAll('[data-since]').forEach((span) => { span.textContent = waited(span.dataset.since); });
}, 1000);
