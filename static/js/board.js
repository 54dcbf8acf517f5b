// The dispatcher board: waiting jobs with their age, offers counting down, trips under way, pre-bookings,
// drivers on the map coloured by state, stand queues. Everything is pushed over Socket.IO: the whole board
// on every (re)connection, then each change; drivers' positions every few seconds. The buttons call the
// JSON API with the session cookie; the board changes only when the server says something changed.
import { watchHealth } from './health-banner.js';
const text = JSON.parse(document.getElementById('board-text').textContent);
const settings = JSON.parse(document.getElementById('board-settings').textContent);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const lang = document.documentElement.lang;
const L = window.L;

const numbers = new Intl.NumberFormat(lang);
const two = new Intl.NumberFormat(lang, { minimumIntegerDigits: 2, useGrouping: false });
const oneDecimal = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
const calendarLocale = `${lang}-u-ca-${settings.calendar}`;
const shortTime = { timeZone: settings.time_zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
const clock = new Intl.DateTimeFormat(calendarLocale, shortTime);
const dayAndClock = new Intl.DateTimeFormat(calendarLocale, { ...shortTime, month: 'short', day: 'numeric' });
// datetime-local inputs speak "YYYY-MM-DDTHH:MM" on the office clock, whatever the page language.
const inputClock = new Intl.DateTimeFormat('en-CA', { ...shortTime, year: 'numeric', month: '2-digit', day: '2-digit' });

const LIVE = ['requested', 'offered', 'assigned', 'arrived', 'on_trip', 'scheduled'];
const WAITING_TOO_LONG_S = 300;
const OFFER_ALMOST_OVER_S = 5;
const LABELS_FROM_ZOOM = 11;

const board = { bookings: new Map(), offers: new Map(), drivers: new Map(), queues: [], zones: new Map() };
let skew = 0; // the server's clock minus this browser's, in ms: ages and countdowns follow the server

const el = {
  state: document.querySelector('[data-live-state]'),
  message: document.querySelector('[data-board-message]'),
  mapBox: document.querySelector('[data-board-map]'),
  assign: document.querySelector('[data-assign-dialog]'),
  cancel: document.querySelector('[data-cancel-dialog]'),
};

function node(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') element.className = value;
    else if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value);
  }
  element.append(...children.filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => values[key]);
}

function serverNow() {
  return Date.now() + skew;
}

function elapsed(since) {
  const seconds = Math.max(0, Math.floor((serverNow() - Date.parse(since)) / 1000));
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return { seconds, label: `${two.format(minutes)}:${two.format(seconds % 60)}` };
  return { seconds, label: `${numbers.format(Math.floor(minutes / 60))}:${two.format(minutes % 60)}:${two.format(seconds % 60)}` };
}

function remaining(until) {
  return Math.ceil((Date.parse(until) - serverNow()) / 1000);
}

function ageSpan(since) {
  return node('span', { class: 'age', 'data-since': since }, elapsed(since).label);
}

function countdownSpan(until) {
  return node('span', { class: 'countdown', 'data-until': until }, '');
}

function tick() {
  document.querySelectorAll('[data-since]').forEach((span) => {
    const { seconds, label } = elapsed(span.dataset.since);
    span.textContent = label;
    span.classList.toggle('long', seconds > WAITING_TOO_LONG_S && span.closest('[data-list="waiting"]') !== null);
  });
  document.querySelectorAll('[data-until]').forEach((span) => {
    const left = remaining(span.dataset.until);
    span.textContent = left > 0 ? `${numbers.format(left)}″` : text.expired;
    span.classList.toggle('late', left <= OFFER_ALMOST_OVER_S);
  });
}

function showMessage(message) {
  el.message.textContent = message;
  el.message.hidden = false;
  clearTimeout(showMessage.timer);
  showMessage.timer = setTimeout(() => { el.message.hidden = true; }, 10000);
}

async function post(url, body = {}) {
  try {
    const response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf },
      body: JSON.stringify(body),
    });
    return { ok: response.ok, status: response.status, body: await response.json().catch(() => ({})) };
  } catch {
    return { ok: false, status: 0, body: {} };
  }
}

function problem(result) {
  if (result.status === 0) return text.unreachable;
  const message = (result.body.error && result.body.error.message) || '';
  return `${result.status === 409 ? text.refused : text.invalid}: ${message}`;
}

// An action straight from a button: the board itself changes when the server pushes the result.
async function act(url, body = {}) {
  const result = await post(url, body);
  if (!result.ok) showMessage(problem(result));
  return result;
}

// ---- rows ----

function zoneName(zoneId) {
  if (zoneId === null) return text.no_zone;
  const zone = board.zones.get(zoneId);
  return zone ? zone.name : '';
}

function money(amount, currency) {
  if (amount === null || amount === undefined) return null;
  return node('span', { class: 'money' }, `${numbers.format(amount)} ${currency === 'IRR' ? text.rials : currency}`);
}

function bookingNumber(b) {
  return node('strong', { class: 'job-number' }, `#${numbers.format(b.id)}`);
}

function routeOf(b) {
  return node('p', { class: 'job-route' }, node('span', { class: 'pickup' }, b.pickup),
    b.dropoff ? node('span', { class: 'dropoff' }, b.dropoff) : null);
}

function metaOf(b) {
  return node('p', { class: 'job-meta' },
    node('span', {}, zoneName(b.zone_id)),
    node('span', {}, text[`class_${b.vehicle_class}`] || b.vehicle_class),
    b.phone ? node('bdi', { dir: 'ltr' }, b.phone) : null,
    money(b.fare, b.currency));
}

function button(label, action, onclick, extra = {}) {
  return node('button', { type: 'button', 'data-action': action, onclick, ...extra }, label);
}

function offerOf(bookingId) {
  return [...board.offers.values()].find((offer) => offer.booking_id === bookingId) || null;
}

function waitingItem(b) {
  return node('li', { class: 'job', 'data-booking-id': b.id, 'data-status': b.status },
    node('div', { class: 'job-head' }, bookingNumber(b),
      b.offer_tries ? node('span', { class: 'badge' }, fill(text.tries, { n: numbers.format(b.offer_tries) })) : null,
      b.auto_dispatch ? null : node('span', { class: 'badge' }, text.manual),
      ageSpan(b.waiting_since)),
    routeOf(b), metaOf(b),
    node('div', { class: 'job-actions' },
      button(text.dispatch_now, 'dispatch', () => act(`/api/bookings/${b.id}/dispatch`)),
      button(text.assign, 'assign', () => openAssign(b)),
      button(text.cancel, 'cancel', () => openCancel(b))));
}

function offerItem(b) {
  const offer = offerOf(b.id);
  return node('li', { class: 'job', 'data-booking-id': b.id, 'data-status': b.status },
    node('div', { class: 'job-head' }, bookingNumber(b),
      node('span', { class: 'driver-call-sign' }, (offer && offer.driver) || b.driver || ''),
      offer && offer.eta_min !== null ? node('span', { class: 'badge' }, `${oneDecimal.format(offer.eta_min)}′`) : null,
      offer ? countdownSpan(offer.expires_at) : null),
    routeOf(b), metaOf(b),
    node('div', { class: 'job-actions' },
      button(text.reassign, 'assign', () => openAssign(b)),
      button(text.cancel, 'cancel', () => openCancel(b))));
}

const STATUS_SINCE = { assigned: 'assigned_at', arrived: 'arrived_at', on_trip: 'started_at' };

function activeItem(b) {
  const since = b[STATUS_SINCE[b.status]];
  const actions = [];
  if (b.status === 'assigned') actions.push(button(text.reassign, 'assign', () => openAssign(b)));
  if (b.status === 'arrived') {
    actions.push(button(text.no_show, 'no-show', () => {
      if (window.confirm(fill(text.confirm_no_show, { id: numbers.format(b.id) }))) {
        act(`/api/bookings/${b.id}/progress`, { status: 'no_show' });
      }
    }));
  }
  if (b.status === 'assigned' || b.status === 'arrived') actions.push(button(text.cancel, 'cancel', () => openCancel(b)));
  return node('li', { class: 'job', 'data-booking-id': b.id, 'data-status': b.status },
    node('div', { class: 'job-head' }, bookingNumber(b),
      node('span', { class: 'driver-call-sign' }, b.driver || ''),
      node('span', { class: `badge status-${b.status}` }, text[`status_${b.status}`] || b.status),
      since ? ageSpan(since) : null),
    routeOf(b), metaOf(b),
    actions.length ? node('div', { class: 'job-actions' }, ...actions) : null);
}

function inputValue(iso) {
  const parts = Object.fromEntries(inputClock.formatToParts(new Date(iso)).map((part) => [part.type, part.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

function scheduledItem(b) {
  if (b.heading) return node('li', { class: 'group-heading' }, b.heading);
  const input = node('input', { type: 'datetime-local', value: inputValue(b.pickup_at), 'aria-label': text.status_scheduled, required: 'required' });
  const error = node('p', { class: 'field-error', role: 'alert', hidden: 'hidden' });
  const form = node('form', { class: 'job-actions pickup-time' }, input, node('button', { type: 'submit' }, text.save));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const result = await post(`/dispatch/bookings/${b.id}/pickup-time`, { pickup_at: input.value });
    error.hidden = result.ok;
    error.textContent = result.ok ? '' : problem(result);
  });
  return node('li', { class: 'job', 'data-booking-id': b.id, 'data-status': b.status },
    node('div', { class: 'job-head' }, bookingNumber(b), node('time', { datetime: b.pickup_at }, dayAndClock.format(new Date(b.pickup_at)))),
    routeOf(b), metaOf(b), form, error,
    node('div', { class: 'job-actions' },
      button(text.assign, 'assign', () => openAssign(b)),
      button(text.cancel, 'cancel', () => openCancel(b))));
}

// Keyed rendering: an unchanged row keeps its element, so a pickup time being typed or a focused
// button survives the pushes that keep arriving for other rows.
const rendered = new Map();

function renderList(name, rows, build) {
  const list = document.querySelector(`[data-list="${name}"]`);
  const before = rendered.get(name) || new Map();
  const after = new Map();
  const elements = rows.map((row) => {
    const signature = JSON.stringify(row);
    const previous = before.get(row.id);
    const element = previous && previous.signature === signature ? previous.element : build(row);
    after.set(row.id, { signature, element });
    return element;
  });
  rendered.set(name, after);
  elements.forEach((element, index) => {
    if (list.children[index] !== element) list.insertBefore(element, list.children[index] || null);
  });
  while (list.children.length > elements.length) list.lastElementChild.remove();
  const count = document.querySelector(`[data-count="${name}"]`);
  const real = rows.filter((row) => !row.heading).length;
  if (count) count.textContent = numbers.format(real);
  document.querySelector(`[data-empty="${name}"]`).hidden = real > 0;
}

function byPickup(a, b) {
  return Date.parse(a.pickup_at) - Date.parse(b.pickup_at) || a.id - b.id;
}

function bookingsIn(...statuses) {
  return [...board.bookings.values()].filter((b) => statuses.includes(b.status)).sort(byPickup);
}

function renderJobs() {
  renderList('waiting', bookingsIn('requested'), waitingItem);
  // An offer's row carries its offer too, so a new countdown redraws it.
  renderList('offers', bookingsIn('offered').map((b) => ({ ...b, offer: offerOf(b.id) })), offerItem);
  renderList('active', bookingsIn('assigned', 'arrived', 'on_trip'), activeItem);
  const dayAhead = serverNow() + 24 * 3600 * 1000;
  const scheduled = bookingsIn('scheduled');
  const soon = scheduled.filter((b) => Date.parse(b.pickup_at) <= dayAhead);
  const later = scheduled.filter((b) => Date.parse(b.pickup_at) > dayAhead);
  renderList('scheduled', [
    ...(soon.length ? [{ id: 'soon', heading: text.next_day }, ...soon] : []),
    ...(later.length ? [{ id: 'later', heading: text.later }, ...later] : []),
  ], scheduledItem);
  renderPickups();
  tick();
}

function renderQueues() {
  const queues = [...board.queues].sort((a, b) => zoneName(a.zone_id).localeCompare(zoneName(b.zone_id), lang));
  renderList('queues', queues.map((q) => ({ ...q, id: q.zone_id, name: zoneName(q.zone_id) })), (q) => node('li', { 'data-zone-id': q.zone_id },
    node('strong', {}, q.name),
    node('ol', { class: 'queue-drivers' }, ...q.drivers.map((callSign) => node('li', {}, callSign)))));
}

// ---- drivers and the map ----

function driverState(driver) {
  if (driver.stale) return 'stale';
  if ([...board.offers.values()].some((offer) => offer.driver_id === driver.id)) return 'offered';
  return driver.status;
}

function textNode(value) {
  const span = document.createElement('span');
  span.textContent = value;
  return span;
}

const map = L ? L.map(el.mapBox, { center: [35.70, 51.39], zoom: 11, zoomSnap: 0.5, attributionControl: Boolean(el.mapBox.dataset.tiles) }) : null;
const zoneLayer = map ? L.layerGroup().addTo(map) : null;
const pickupLayer = map ? L.layerGroup().addTo(map) : null;
const driverLayer = map ? L.layerGroup().addTo(map) : null;
const markers = new Map();
let fittedToWork = false;

if (map) {
  if (el.mapBox.dataset.tiles) {
    L.tileLayer(el.mapBox.dataset.tiles, { maxZoom: 19, attribution: el.mapBox.dataset.attribution || '' }).addTo(map);
  }
  fetch(el.mapBox.dataset.zones, { credentials: 'same-origin' })
    .then((response) => (response.ok ? response.json() : null))
    .then((zones) => {
      if (!zones || zones.features.length === 0) return;
      const layer = L.geoJSON(zones, {
        style: { color: '#1f6feb', weight: 1, fillOpacity: 0.04 },
        onEachFeature: (feature, shape) => shape.bindTooltip(textNode(feature.properties.name), { sticky: true }),
      }).addTo(zoneLayer);
      if (!fittedToWork) map.fitBounds(layer.getBounds(), { padding: [8, 8] });
    });
  // Call signs over every car help in the city; in an overview they only make a blot.
  const labelsByZoom = () => el.mapBox.classList.toggle('labels-hidden', map.getZoom() < LABELS_FROM_ZOOM);
  map.on('zoomend', labelsByZoom);
  labelsByZoom();
}

// Once, on the first board with anything to show, the map frames the drivers and the waiting pickups
// (not the zones, where an airport far out of town would shrink the city to a corner).
function fitToWork() {
  if (!map || fittedToWork) return;
  const points = [...board.drivers.values()].filter((d) => d.lat !== null).map((d) => [d.lat, d.lon]);
  bookingsIn('requested', 'offered').forEach((b) => points.push([b.pickup_lat, b.pickup_lon]));
  if (points.length === 0) return;
  map.fitBounds(L.latLngBounds(points).pad(0.1), { maxZoom: 14 });
  fittedToWork = true;
}

function renderPickups() {
  if (!map) return;
  pickupLayer.clearLayers();
  bookingsIn('requested', 'offered').forEach((b) => {
    L.circleMarker([b.pickup_lat, b.pickup_lon], { radius: 5, className: 'job-dot', interactive: true })
      .bindTooltip(textNode(`#${numbers.format(b.id)} ${b.pickup}`))
      .addTo(pickupLayer);
  });
}

function placeDriver(driver) {
  let marker = markers.get(driver.id);
  if (driver.lat === null || driver.lat === undefined) {
    if (marker) { marker.remove(); markers.delete(driver.id); }
    return;
  }
  if (!marker) {
    marker = L.circleMarker([driver.lat, driver.lon], { radius: 7, className: `driver-dot driver-${driver.id}` });
    marker.bindTooltip(textNode(driver.call_sign), {
      permanent: true, direction: 'top', offset: [0, -6], className: 'driver-label',
    });
    // Built when opened, from the row as it is then.
    marker.bindPopup(() => driverCard(board.drivers.get(driver.id) || driver));
    marker.addTo(driverLayer);
    markers.set(driver.id, marker);
  } else {
    marker.setLatLng([driver.lat, driver.lon]);
  }
  marker.getElement().setAttribute('data-state', driverState(driver));
  marker.getElement().setAttribute('data-call-sign', driver.call_sign);
}

function driverCard(driver) {
  const state = driverState(driver);
  return node('div', { class: 'driver-card' },
    node('strong', {}, driver.call_sign), ' ', node('span', {}, driver.name),
    node('p', {}, node('span', { class: 'swatch', 'data-state': state }), text[`state_${state}`] || state,
      driver.stale && driver.status !== 'available' ? ` (${text[`state_${driver.status}`] || driver.status})` : ''),
    node('p', {}, text[`class_${driver.vehicle_class}`] || driver.vehicle_class || '',
      driver.plate ? ' · ' : null, driver.plate ? node('bdi', {}, driver.plate) : null),
    driver.queue ? node('p', {}, `${zoneName(driver.queue.zone_id)} · ${fill(text.queue_place, { place: numbers.format(driver.queue.place) })}`) : null,
    driver.blocked ? node('p', { class: 'field-error', title: driver.blocked, 'data-blocked': '' }, text.blocked, ': ', node('bdi', {}, driver.blocked)) : null,
    driver.seen_at ? node('p', { class: 'muted' }, clock.format(new Date(driver.seen_at * 1000))) : null);
}

function renderDrivers() {
  const tally = { available: 0, offered: 0, busy: 0, break: 0, stale: 0 };
  for (const driver of board.drivers.values()) {
    const state = driverState(driver);
    if (state in tally) tally[state] += 1;
    if (map) placeDriver(driver);
  }
  if (map) {
    for (const [driverId, marker] of markers) {
      if (!board.drivers.has(driverId)) { marker.remove(); markers.delete(driverId); }
    }
  }
  for (const [state, count] of Object.entries(tally)) {
    document.querySelector(`[data-tally="${state}"]`).textContent = numbers.format(count);
  }
}

// ---- dialogs: assign (or reassign) and cancel ----

function distanceKm(lat1, lon1, lat2, lon2) {
  const rad = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * rad) / 2) ** 2
    + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(((lon2 - lon1) * rad) / 2) ** 2;
  return 12742 * Math.asin(Math.sqrt(a));
}

// Available drivers nearest the pickup first (those not heard from at the end); busy ones would be refused.
function candidatesFor(b) {
  const offered = new Set([...board.offers.values()].filter((o) => o.booking_id !== b.id).map((o) => o.driver_id));
  return [...board.drivers.values()]
    .filter((d) => d.status === 'available' && !d.blocked && !offered.has(d.id) && d.id !== b.driver_id)
    .map((d) => ({ driver: d, km: d.lat === null ? null : distanceKm(b.pickup_lat, b.pickup_lon, d.lat, d.lon) }))
    .sort((x, y) => (x.driver.stale - y.driver.stale)
      || ((x.km ?? Infinity) - (y.km ?? Infinity))
      || x.driver.call_sign.localeCompare(y.driver.call_sign));
}

function candidateLabel({ driver, km }) {
  const parts = [driver.call_sign];
  if (km !== null) parts.push(fill(text.km, { km: oneDecimal.format(km) }));
  if (driver.vehicle_class) parts.push(text[`class_${driver.vehicle_class}`] || driver.vehicle_class);
  if (driver.queue) parts.push(`${zoneName(driver.queue.zone_id)} ${fill(text.queue_place, { place: numbers.format(driver.queue.place) })}`);
  if (driver.stale) parts.push(text.state_stale);
  return parts.join(' · ');
}

function openDialog(dialog, title, b) {
  dialog.querySelector('[data-dialog-title]').textContent = fill(title, { id: numbers.format(b.id) });
  dialog.querySelector('[data-dialog-job]').replaceChildren(...routeOf(b).childNodes);
  const error = dialog.querySelector('[data-dialog-error]');
  error.hidden = true;
  error.textContent = '';
  dialog.dataset.bookingId = b.id;
  dialog.showModal();
}

function openAssign(b) {
  const select = el.assign.querySelector('[data-assign-driver]');
  const candidates = candidatesFor(b);
  select.replaceChildren(...(candidates.length
    ? candidates.map((c) => node('option', { value: c.driver.id, 'data-call-sign': c.driver.call_sign }, candidateLabel(c)))
    : [node('option', { value: '', disabled: 'disabled' }, text.no_driver)]));
  if (candidates.length) select.value = String(candidates[0].driver.id);
  el.assign.querySelector('[name="reason"]').value = '';
  openDialog(el.assign, text.assign_title, b);
}

function openCancel(b) {
  el.cancel.querySelector('[name="reason"]').value = '';
  openDialog(el.cancel, text.cancel_title, b);
}

async function submitDialog(dialog, url, body) {
  const result = await post(url, body);
  if (result.ok) {
    dialog.close();
    return;
  }
  const error = dialog.querySelector('[data-dialog-error]');
  error.textContent = problem(result);
  error.hidden = false;
}

el.assign.querySelector('form').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const driverId = Number(form.get('driver_id'));
  if (!driverId) return;
  submitDialog(el.assign, `/api/bookings/${el.assign.dataset.bookingId}/assign`, { driver_id: driverId, reason: form.get('reason') || '' });
});

el.cancel.querySelector('form').addEventListener('submit', (event) => {
  event.preventDefault();
  const reason = String(new FormData(event.target).get('reason') || '').trim();
  if (!reason) return;
  submitDialog(el.cancel, `/api/bookings/${el.cancel.dataset.bookingId}/cancel`, { reason });
});

document.querySelectorAll('[data-dialog-close]').forEach((closer) => {
  closer.addEventListener('click', () => closer.closest('dialog').close());
});

// ---- the live channel ----

function applySnapshot(snapshot) {
  skew = Date.parse(snapshot.now) - Date.now();
  board.zones = new Map(snapshot.zones.map((zone) => [zone.id, zone]));
  board.bookings = new Map([...snapshot.waiting, ...snapshot.scheduled, ...snapshot.active].map((b) => [b.id, b]));
  board.offers = new Map(snapshot.offers.map((offer) => [offer.id, offer]));
  board.drivers = new Map(snapshot.drivers.map((driver) => [driver.id, driver]));
  board.queues = snapshot.queues;
  renderJobs();
  renderDrivers();
  renderQueues();
  fitToWork();
}

// The session cookie authenticates the socket; the server refuses roles without the board.
const socket = window.io('/dispatch', { transports: ['websocket', 'polling'] });
watchHealth(socket);

function connected(yes) {
  el.state.textContent = yes ? text.live : text.reconnecting;
  el.state.classList.toggle('connected', yes);
}

socket.on('connect', () => connected(true));
socket.on('disconnect', () => connected(false));
socket.on('connect_error', () => connected(false));
socket.on('snapshot', applySnapshot);

socket.on('booking', (row) => {
  if (LIVE.includes(row.status)) board.bookings.set(row.id, row);
  else board.bookings.delete(row.id);
  if (row.status !== 'offered') {
    // An accepted offer is not "closed": the booking leaving "offered" ends it on the board.
    for (const [offerId, offer] of board.offers) if (offer.booking_id === row.id) board.offers.delete(offerId);
  }
  renderJobs();
  renderDrivers();
});

socket.on('offer', (offer) => {
  board.offers.set(offer.id, offer);
  renderJobs();
  renderDrivers();
});

socket.on('offer_closed', (closed) => {
  board.offers.delete(closed.offer_id);
  renderJobs();
  renderDrivers();
});

socket.on('driver', (row) => {
  if (row.status === 'offline') board.drivers.delete(row.id);
  else board.drivers.set(row.id, row);
  renderDrivers();
});

socket.on('queues', (queues) => {
  board.queues = queues;
  renderQueues();
});

socket.on('positions', (update) => {
  for (const [driverId, lat, lon, seenAt, stale] of update.items) {
    const driver = board.drivers.get(driverId);
    if (driver) Object.assign(driver, { lat, lon, seen_at: seenAt, stale });
  }
  renderDrivers();
  fitToWork();
});

// A tab that slept may have missed pushes: it asks for the whole board again when shown.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && socket.connected) socket.emit('snapshot', applySnapshot);
});

// Ages and countdowns tick in the page; the lists themselves change only when the server says so.
setInterval(tick, 1000);
