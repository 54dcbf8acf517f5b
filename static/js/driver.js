// The driver's phone: duty state, the offer to answer, the job in hand, the stand queue and the position.
// The server holds the state: the page draws what GET /api/drivers/me answers or what Socket.IO pushes,
// and fetches it again after any refusal, reconnect or return to the screen (mobile networks drop often).
const data = JSON.parse(document.getElementById('driver-data').textContent);
const text = data.text;
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const lang = document.documentElement.lang;
const numbers = new Intl.NumberFormat(lang);
const decimals = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
const LOGIN = '/driver/login';
const POSITION_EVERY_MS = 5000;

const el = {
  live: document.querySelector('[data-live-state]'),
  notice: document.querySelector('[data-notice]'),
  statusLabel: document.querySelector('[data-status-label]'),
  blocked: document.querySelector('[data-blocked]'),
  statusButtons: [...document.querySelectorAll('[data-status]')],
  gps: document.querySelector('[data-gps]'),
  offer: document.querySelector('[data-offer]'),
  job: document.querySelector('[data-job]'),
  receipt: document.querySelector('[data-receipt]'),
  stand: document.querySelector('[data-stand]'),
  queuePlace: document.querySelector('[data-queue-place]'),
  checkIn: document.querySelector('[data-check-in]'),
  checkOut: document.querySelector('[data-check-out]'),
};

let state = null; // the last state the server sent
let receipt = null; // the trip just ended by this phone, shown until the driver dismisses it
let busy = false; // a tap's request is in flight: further taps wait, so nothing is sent twice
const endedHere = new Set(); // bookings this phone completed or marked no-show
// The offer's countdown runs on the server's clock: a phone's own clock is often minutes off. A difference
// under 2 s is the page's own journey, not the clocks: then the phone's clock is the better one.
let clockOffset = 0;
takeServerTime(Date.parse(data.server_now));

function node(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') element.className = value;
    else if (key.startsWith('on')) element.addEventListener(key.slice(2), value);
    else if (value !== null && value !== undefined && value !== false) element.setAttribute(key, value);
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

// replaceChildren() would print a left-out (null) part as the word "null".
function show(element, ...children) {
  element.replaceChildren(...children.filter((child) => child !== null && child !== undefined));
}

function fill(template, values) {
  return Object.entries(values).reduce((out, [key, value]) => out.replace(`{${key}}`, value), template);
}

function money(amount, currency) {
  if (amount === null || amount === undefined) return '—';
  return `${numbers.format(amount)} ${text[`currency_${currency}`] || currency}`;
}

// One line of news at the top; ``about`` names what it is about, so that it is cleared once that is over.
function notify(message, kind = 'info', about = '') {
  el.notice.textContent = message;
  el.notice.className = `notice notice-${kind}`;
  el.notice.dataset.about = about;
  el.notice.hidden = !message;
}

function reason(result) {
  return (result.body.error && result.body.error.message) || String(result.status);
}

function takeServerTime(serverNow) {
  if (Number.isNaN(serverNow)) return;
  const offset = serverNow - Date.now();
  if (Math.abs(offset - clockOffset) > 2000) clockOffset = Math.abs(offset) > 2000 ? offset : 0;
}

function syncClock(response) {
  // The Date header counts whole seconds: takeServerTime ignores differences that small.
  takeServerTime(Date.parse(response.headers.get('Date') || ''));
}

async function api(method, url, body) {
  let response;
  try {
    response = await fetch(url, {
      method,
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf, Accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, body: {} };
  }
  syncClock(response);
  if (response.status === 401) window.location.assign(LOGIN); // the session ended: log in again
  return { ok: response.ok, status: response.status, body: await response.json().catch(() => ({})) };
}

let retry = null;
async function refresh() {
  const result = await api('GET', '/api/drivers/me');
  if (result.ok) {
    if (el.notice.dataset.about === 'connection') notify('');
    draw(result.body);
    return;
  }
  if (result.status === 0) {
    notify(text.no_connection, 'error', 'connection');
    clearTimeout(retry);
    retry = setTimeout(refresh, 5000);
  }
}

// A tap's request: refused (409 and the like) shows the server's reason and draws the server's state again.
async function act(method, url, body) {
  if (busy) return null;
  busy = true;
  document.body.dataset.busy = 'true';
  const result = await api(method, url, body);
  busy = false;
  delete document.body.dataset.busy;
  if (result.ok) {
    notify('');
    return result;
  }
  if (result.status === 0) notify(text.no_connection, 'error');
  else if (result.status !== 401) notify(fill(text.refused, { reason: reason(result) }), 'error');
  await refresh();
  return null;
}

function draw(next) {
  const previousJob = state && state.job;
  state = next;
  if (previousJob && !(next.job && next.job.id === previousJob.id) && !endedHere.has(previousJob.id)) {
    explainLostJob(previousJob.id);
  }
  drawDuty();
  drawOffer();
  drawJob();
  drawReceipt();
  drawStand();
  followPosition();
}

// The job left the screen without this phone ending it: the customer cancelled, or a dispatcher moved it.
async function explainLostJob(bookingId) {
  const result = await api('GET', `/api/bookings/${bookingId}`);
  if (result.ok && result.body.status === 'cancelled') notify(text.job_cancelled, 'error');
  else if (!result.ok && result.status === 404) notify(text.job_reassigned, 'error');
}

function drawDuty() {
  const status = state.driver.status;
  el.statusLabel.textContent = text[status] || status;
  document.body.dataset.driverStatus = status;
  el.blocked.hidden = !state.blocked;
  el.blocked.textContent = state.blocked ? fill(text.blocked, { reason: state.blocked }) : '';
  el.statusButtons.forEach((button) => {
    button.setAttribute('aria-pressed', String(button.dataset.status === status));
    button.disabled = Boolean(state.job); // the server refuses a change of state while a job is in hand
  });
}

function place(label, stop) {
  return [node('dt', {}, label), node('dd', {}, stop ? stop.text : text.no_dropoff)];
}

function drawOffer() {
  const offer = state.offer;
  el.offer.hidden = !offer;
  if (!offer) {
    el.offer.replaceChildren();
    delete el.offer.dataset.offerId;
    return;
  }
  if (el.offer.dataset.offerId === String(offer.id)) return; // already on screen; the countdown ticks alone
  el.offer.dataset.offerId = offer.id;
  const b = offer.booking;
  const facts = [];
  if (offer.eta_min !== null && offer.eta_min !== undefined) {
    facts.push(fill(text.eta, { minutes: decimals.format(offer.eta_min) }));
  }
  if (b.distance_km) facts.push(fill(text.distance, { km: decimals.format(b.distance_km) }));
  show(el.offer,
    node('h2', {}, text.new_offer),
    node('dl', { class: 'trip' }, ...place(text.pickup, b.pickup), ...place(text.dropoff, b.dropoff),
      node('dt', {}, text.fare), node('dd', { class: 'fare', 'data-fare': '' }, money(b.fare, b.currency))),
    facts.length ? node('p', { class: 'facts' }, facts.join(' · ')) : null,
    b.notes ? node('p', { class: 'notes' }, b.notes) : null,
    node('p', { class: 'countdown', 'data-countdown': offer.expires_at }),
    node('div', { class: 'actions' },
      node('button', { type: 'button', class: 'big primary', 'data-accept': '', onclick: () => accept(offer) },
        text.accept),
      node('button', { type: 'button', class: 'big', 'data-decline': '', onclick: () => decline(offer) },
        text.decline)),
  );
  tick();
  if (navigator.vibrate) navigator.vibrate([300, 150, 300]);
}

async function accept(offer) {
  if (await act('POST', `/api/offers/${offer.id}/accept`)) {
    receipt = null;
    await refresh();
  }
}

async function decline(offer) {
  const result = await act('POST', `/api/offers/${offer.id}/decline`, {});
  if (result) draw(result.body);
}

function navigation(job) {
  // Before the pickup the driver heads there; afterwards to the destination (if the caller gave one).
  const target = job.status === 'assigned' || !job.dropoff ? job.pickup : job.dropoff;
  const to = `${target.lat},${target.lon}`;
  const from = lastFix ? `${lastFix.lat},${lastFix.lon}` : '';
  const route = encodeURIComponent(`${from};${to}`);
  const osm = `https://www.openstreetmap.org/directions?engine=fossgis_osrm_car&route=${route}`;
  return node('div', { class: 'actions links' },
    node('a', { class: 'big button', href: `geo:${to}?q=${encodeURIComponent(to)}`, 'data-navigate': '' },
      text.navigate),
    node('a', { class: 'button', href: osm, target: '_blank', rel: 'noopener noreferrer' }, text.open_map),
    job.phone ? node('a', { class: 'button', href: `tel:${job.phone}`, dir: 'ltr' }, text.call_passenger) : null);
}

const NEXT_STEPS = {
  assigned: [['arrived', 'arrived', 'primary']],
  arrived: [['on_trip', 'start_trip', 'primary'], ['no_show', 'no_show', '']],
  on_trip: [['completed', 'complete', 'primary']],
};

function drawJob() {
  const job = state.job;
  el.job.hidden = !job;
  if (!job) {
    el.job.replaceChildren();
    delete el.job.dataset.key;
    return;
  }
  const key = `${job.id}:${job.status}`;
  if (el.job.dataset.key === key) return; // unchanged: keep the screen still under the driver's thumb
  el.job.dataset.key = key;
  el.job.dataset.status = job.status;
  show(el.job,
    node('h2', {}, text.job, ' · ',
      node('span', { 'data-job-status': '' }, text[`status_${job.status}`] || job.status)),
    node('dl', { class: 'trip' }, ...place(text.pickup, job.pickup), ...place(text.dropoff, job.dropoff),
      node('dt', {}, text.fare), node('dd', { class: 'fare' }, money(job.fare, job.currency))),
    job.notes ? node('p', { class: 'notes' }, `${text.notes}: ${job.notes}`) : null,
    navigation(job),
    node('div', { class: 'actions steps' }, ...(NEXT_STEPS[job.status] || []).map(([status, label, kind]) => node(
      'button',
      { type: 'button', class: `big ${kind}`.trim(), 'data-step': status, onclick: () => progress(job, status) },
      text[label],
    ))),
  );
}

async function progress(job, status) {
  const ending = status === 'completed' || status === 'no_show';
  if (ending) endedHere.add(job.id);
  const result = await act('POST', `/api/bookings/${job.id}/progress`, { status });
  if (!result) {
    endedHere.delete(job.id);
    return;
  }
  if (ending) receipt = result.body;
  await refresh();
}

function drawReceipt() {
  el.receipt.hidden = !receipt;
  if (!receipt) {
    el.receipt.replaceChildren();
    return;
  }
  const b = receipt;
  const completed = b.status === 'completed';
  show(el.receipt,
    node('h2', {}, completed ? text.completed : text.no_show_done),
    completed ? node('p', { class: 'final-fare' }, node('span', {}, text.final_fare),
      node('strong', { 'data-final-fare': '' }, money(b.fare, b.currency))) : null,
    // The breakdown speaks the passenger's language, which may not be the driver's: dir=auto keeps it readable.
    completed && b.breakdown.length ? node('ul', { class: 'breakdown' }, ...b.breakdown.map((line) => node('li', {},
      node('span', { dir: 'auto' }, line.label), node('span', {}, money(line.amount, b.currency))))) : null,
    completed && b.waiting_min
      ? node('p', { class: 'facts' }, fill(text.waiting, { minutes: decimals.format(b.waiting_min) })) : null,
    node('button', { type: 'button', class: 'big', onclick: () => { receipt = null; drawReceipt(); } }, text.dismiss),
  );
}

function drawStand() {
  const queue = state.queue;
  const available = state.driver.status === 'available' && !state.job;
  el.stand.hidden = !queue && !available;
  el.queuePlace.textContent = queue ? fill(text.queue_place, {
    zone: data.zones[String(queue.zone_id)] || `#${queue.zone_id}`,
    place: numbers.format(queue.position),
  }) : text.not_in_queue;
  el.checkIn.hidden = Boolean(queue);
  el.checkIn.disabled = !available;
  el.checkOut.hidden = !queue;
}

el.statusButtons.forEach((button) => {
  button.addEventListener('click', async () => {
    const result = await act('POST', `/api/drivers/${data.driver_id}/status`, { status: button.dataset.status });
    if (result) draw(result.body);
  });
});
el.checkIn.addEventListener('click', async () => {
  const result = await act('POST', `/api/drivers/${data.driver_id}/queue`, {});
  if (result) draw(result.body);
});
el.checkOut.addEventListener('click', async () => {
  const result = await act('DELETE', `/api/drivers/${data.driver_id}/queue`);
  if (result) draw(result.body);
});

// The offer's countdown, on the server's clock. Past the deadline the server closes the offer; if word of
// that is lost on the way, the page asks once more a little later.
let askedAfterExpiry = null;
function tick() {
  const countdown = el.offer.querySelector('[data-countdown]');
  if (!countdown || el.offer.hidden) return;
  const left = Math.floor((Date.parse(countdown.dataset.countdown) - (Date.now() + clockOffset)) / 1000);
  const accept = el.offer.querySelector('[data-accept]');
  if (left > 0) {
    countdown.textContent = fill(text.seconds_left, { seconds: numbers.format(left) });
    countdown.classList.toggle('urgent', left <= 5);
    accept.disabled = false;
    return;
  }
  countdown.textContent = text.time_up;
  accept.disabled = true;
  if (left < -3 && askedAfterExpiry !== state.offer.id) {
    askedAfterExpiry = state.offer.id;
    refresh();
  }
}
setInterval(tick, 1000);

// The phone's position, while on duty: the newest fix goes out at most every 5 s, and again every 5 s
// when standing still (watchPosition is silent then), so the dispatcher never sees the driver go stale.
let watchId = null;
let lastFix = null;
let lastSent = 0;
let sending = false;

function gps(stateName, message) {
  el.gps.dataset.gpsState = stateName;
  el.gps.textContent = message;
}

function followPosition() {
  const onDuty = state.driver.status !== 'offline';
  if (onDuty && watchId === null) {
    if (!('geolocation' in navigator)) {
      gps('error', text.gps_unavailable);
      return;
    }
    gps('waiting', text.gps_waiting);
    const options = { enableHighAccuracy: true, maximumAge: POSITION_EVERY_MS, timeout: 30000 };
    watchId = navigator.geolocation.watchPosition(onFix, onFixError, options);
  } else if (!onDuty && watchId !== null) {
    navigator.geolocation.clearWatch(watchId);
    watchId = null;
    lastFix = null;
    gps('off', text.gps_off);
  }
}

function onFix(position) {
  lastFix = { lat: position.coords.latitude, lon: position.coords.longitude };
  if (Date.now() - lastSent >= POSITION_EVERY_MS) sendPosition();
}

function onFixError(error) {
  gps('error', error.code === 1 ? text.gps_denied : text.gps_unavailable);
}

async function sendPosition() {
  if (sending || !lastFix || watchId === null) return;
  sending = true;
  lastSent = Date.now();
  const result = await api('POST', `/api/drivers/${data.driver_id}/location`, lastFix);
  sending = false;
  if (result.ok) gps('sent', text.gps_sent);
  else if (result.status === 0) gps('error', text.no_connection);
  else gps('error', fill(text.gps_refused, { reason: reason(result) }));
}
setInterval(() => { if (Date.now() - lastSent >= POSITION_EVERY_MS) sendPosition(); }, 1000);

// The live channel: the session cookie authenticates it; the server sends the whole state on each connect.
const socket = window.io('/driver', { transports: ['websocket', 'polling'] });
let everConnected = false;
function connected(yes) {
  el.live.textContent = yes ? text.live : text.reconnecting;
  el.live.classList.toggle('connected', yes);
}
socket.on('connect', () => {
  connected(true);
  if (everConnected) refresh(); // back after a drop: whatever happened meanwhile is in the fresh state
  everConnected = true;
});
socket.on('disconnect', () => connected(false));
socket.on('connect_error', () => connected(false));
socket.on('state', (fresh) => draw(fresh));
socket.on('offer', (offer) => {
  if (!state) {
    refresh();
    return;
  }
  draw({ ...state, offer });
});
socket.on('offer_closed', (closed) => {
  if (!state || !state.offer || state.offer.id !== closed.id) return;
  const message = { expired: text.offer_expired, withdrawn: text.offer_withdrawn }[closed.outcome];
  if (message) notify(message, 'info');
  draw({ ...state, offer: null });
});

// A phone put in a pocket may sleep through events: coming back to the screen asks for the state again.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState !== 'visible') return;
  refresh();
  if (!socket.connected) socket.connect();
});
window.addEventListener('online', refresh);

refresh();
