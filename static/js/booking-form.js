// The booking form (the console's screen pop and the subscriber's page). Pickup and dropoff come from a
// saved address, the place search or a click on the map; the fare is quoted as the fields change, and
// Book sends the booking to the JSON API with the page's session and CSRF token.
// The console tells the form who is calling with setCaller(); "book from here" buttons call bookFrom().
const form = document.querySelector('[data-booking-form]');
const data = form ? JSON.parse(document.getElementById('booking-form-data').textContent) : null;
const text = data ? data.text : {};
const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
const lang = document.documentElement.lang;
const numbers = new Intl.NumberFormat(lang);
const decimals = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
const STOPS = ['pickup', 'dropoff'];
const QUOTE_DELAY = 300; // ms after the last change: agents change several fields in a row
const SEARCH_DELAY = 250;

const NOBODY = { subscriber_id: null, name: '', phone: '', phones: [], addresses: [], call_id: null, barred: false };
let caller = { ...NOBODY };
const points = { pickup: null, dropoff: null }; // a found place or a map click: { lat, lon, text }
let quoteTimer = null;
let quoteRound = 0;
let sending = false;
let map = null;
const markers = {};

const el = form && {
  who: form.querySelector('[data-booking-for]'),
  error: form.querySelector('[data-booking-error]'),
  phone: form.querySelector('[data-booking-phone]'),
  phones: form.querySelector('[data-booking-phones]'),
  vehicleClass: form.querySelector('[data-vehicle-class]'),
  notes: form.querySelector('[data-booking-notes]'),
  when: [...form.querySelectorAll('[data-when]')],
  pickupAt: form.querySelector('[data-pickup-at]'),
  book: form.querySelector('[data-book]'),
  result: form.querySelector('[data-booking-result]'),
  fare: form.querySelector('[data-quote-fare]'),
  quoteState: form.querySelector('[data-quote-state]'),
  quoteLines: form.querySelector('[data-quote-lines]'),
  mapBox: form.querySelector('[data-booking-map-box]'),
  map: form.querySelector('[data-booking-map]'),
  pinFor: [...form.querySelectorAll('[data-pin-for]')],
  stops: Object.fromEntries(STOPS.map((stop) => {
    const box = form.querySelector(`[data-stop="${stop}"]`);
    return [stop, {
      choice: box.querySelector('[data-stop-choice]'),
      search: box.querySelector('[data-stop-search]'),
      results: box.querySelector('[data-stop-results]'),
    }];
  })),
};

function node(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, value);
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

// The spellings people type for one word (Arabic or Persian yeh and kaf, with or without the ZWNJ).
function fold(value) {
  return value.toLowerCase().replace(/ي/g, 'ی').replace(/ك/g, 'ک').replace(/\u200c/g, ' ').replace(/\s+/g, ' ').trim();
}

function money(amount, currency) {
  return `${numbers.format(amount)} ${text.currency[currency] || currency}`;
}

// The API speaks English; the refusals agents meet every day are shown in the page language.
function say(message) {
  const known = text.known.find(([prefix]) => (message || '').startsWith(prefix));
  return known ? known[1] : message || text.failed;
}

// Which field a refusal without a field name is about (the fare engine names the place first).
function fieldOf(message) {
  if (!message) return null;
  if (message.startsWith('pickup')) return 'pickup';
  if (message.includes('time')) return 'pickup_at';
  if (message.includes('dropoff')) return 'dropoff';
  return message.includes('vehicle class') ? 'vehicle_class' : null;
}

async function post(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf },
    body: JSON.stringify(body),
  });
  return { ok: response.ok, status: response.status, body: await response.json().catch(() => ({})) };
}

// --- the two stops -------------------------------------------------------------------------------

function addressById(id) {
  return caller.addresses.find((a) => a.id === id) || null;
}

function stopValue(stop) {
  const value = el.stops[stop].choice.value;
  if (value.startsWith('a:')) return { address_id: Number(value.slice(2)) };
  if (value === 'p' && points[stop]) return { ...points[stop] };
  return null;
}

function stopPoint(stop) {
  const value = el.stops[stop].choice.value;
  if (value.startsWith('a:')) return addressById(Number(value.slice(2)));
  return value === 'p' ? points[stop] : null;
}

function renderChoices(stop) {
  const select = el.stops[stop].choice;
  const current = select.value;
  const options = [node('option', { value: '' }, text.choose)];
  caller.addresses.forEach((a) => options.push(node('option', { value: `a:${a.id}` }, `${a.label} — ${a.text}`)));
  const point = points[stop];
  if (point) {
    const where = `${point.lat.toFixed(5)}, ${point.lon.toFixed(5)}`;
    options.push(node('option', { value: 'p' }, point.text || `${text.map_point} (${where})`));
  }
  select.replaceChildren(...options);
  select.value = [...select.options].some((o) => o.value === current) ? current : '';
}

function choose(stop, value) {
  el.stops[stop].choice.value = value;
  changed(stop);
}

function choosePoint(stop, lat, lon, name = '') {
  points[stop] = { lat, lon, text: name };
  renderChoices(stop);
  choose(stop, 'p');
}

function showResults(stop, own, places) {
  const { results } = el.stops[stop];
  const pick = (action) => () => {
    action();
    results.replaceChildren();
    el.stops[stop].search.value = '';
    // The next thing the agent needs: the dropoff after the pickup, then Book.
    (stop === 'pickup' ? el.stops.dropoff.search : el.book).focus();
  };
  results.replaceChildren(
    ...own.map((a) => node('li', {}, Object.assign(node('button', { type: 'button', 'data-address-id': a.id },
      `${a.label} — ${a.text} `, node('small', {}, `(${text.saved})`)), { onclick: pick(() => choose(stop, `a:${a.id}`)) }))),
    ...places.map((p) => node('li', {}, Object.assign(node('button', { type: 'button' }, p.name),
      { onclick: pick(() => choosePoint(stop, p.lat, p.lon, p.name)) }))),
  );
}

function wireSearch(stop) {
  const { search, results } = el.stops[stop];
  let pending = null;
  search.addEventListener('input', () => {
    clearTimeout(pending);
    const query = search.value.trim();
    if (query.length < 2) { results.replaceChildren(); return; }
    // The caller's own addresses answer at once; the gazetteer and geocoder a moment later.
    const words = fold(query).split(' ');
    const own = caller.addresses.filter((a) => words.every((w) => fold(`${a.label} ${a.text}`).includes(w)));
    showResults(stop, own, []);
    pending = setTimeout(async () => {
      const url = new URL(data.places_url, window.location.href);
      url.searchParams.set('q', query);
      const response = await fetch(url, { credentials: 'same-origin' });
      if (!response.ok || search.value.trim() !== query) return;
      showResults(stop, own, (await response.json()).items);
    }, SEARCH_DELAY);
  });
  // Enter takes the first match (it would otherwise send the form); arrows walk the list; Escape closes it.
  search.addEventListener('keydown', (event) => {
    const first = results.querySelector('button');
    if (event.key === 'Enter' && first) { event.preventDefault(); first.click(); }
    if (event.key === 'ArrowDown' && first) { event.preventDefault(); first.focus(); }
    if (event.key === 'Escape') results.replaceChildren();
  });
  results.addEventListener('keydown', (event) => {
    const buttons = [...results.querySelectorAll('button')];
    const at = buttons.indexOf(document.activeElement);
    if (event.key === 'ArrowDown' && at < buttons.length - 1) { event.preventDefault(); buttons[at + 1].focus(); }
    if (event.key === 'ArrowUp') { event.preventDefault(); (at > 0 ? buttons[at - 1] : search).focus(); }
    if (event.key === 'Escape') { results.replaceChildren(); search.focus(); }
  });
}

// --- the map (drawn the first time it is opened: Leaflet measures its box when created) -----------

function label(value) {
  // Leaflet puts a string tooltip in with innerHTML: names typed by people go in as text nodes only.
  return node('span', {}, value);
}

function drawMarkers() {
  if (!map) return;
  STOPS.forEach((stop) => {
    const point = stopPoint(stop);
    if (markers[stop]) { markers[stop].remove(); delete markers[stop]; }
    if (!point) return;
    const colour = stop === 'pickup' ? '#2e7d32' : '#c62828';
    markers[stop] = window.L.circleMarker([point.lat, point.lon], { radius: 8, color: colour, fillOpacity: 0.6 })
      .addTo(map).bindTooltip(label(point.text || point.label || ''));
  });
}

function openMap() {
  const L = window.L;
  if (!L || !el.mapBox.open) return;
  if (!map) {
    map = L.map(el.map, { center: [35.70, 51.39], zoom: 11, attributionControl: Boolean(data.tiles) });
    if (data.tiles) {
      L.tileLayer(data.tiles, { maxZoom: 19, attribution: data.attribution || '' }).addTo(map);
    } else {
      // No tile server: the office's zones are the backdrop.
      fetch(data.zones_url, { credentials: 'same-origin' })
        .then((response) => (response.ok ? response.json() : null))
        .then((zones) => zones && L.geoJSON(zones, {
          style: { color: '#1f6feb', weight: 1, fillOpacity: 0.05 },
          onEachFeature: (feature, layer) => layer.bindTooltip(label(feature.properties.name), { sticky: true }),
        }).addTo(map));
    }
    map.on('click', (event) => {
      const stop = el.pinFor.find((radio) => radio.checked)?.value || 'pickup';
      choosePoint(stop, event.latlng.lat, event.latlng.lng);
      // The usual order is pickup then dropoff: the next click sets the dropoff.
      if (stop === 'pickup') el.pinFor.forEach((radio) => { radio.checked = radio.value === 'dropoff'; });
    });
  }
  map.invalidateSize();
  drawMarkers();
}

// --- errors next to their fields ----------------------------------------------------------------

function fieldBox(name) {
  return form.querySelector(`[data-field="${name}"]`);
}

function setError(name, message) {
  const box = fieldBox(name);
  const slot = box.querySelector('[data-error]');
  slot.textContent = message;
  slot.hidden = !message;
  box.classList.toggle('has-error', Boolean(message));
  box.querySelectorAll('input, select').forEach((control) => {
    if (message) control.setAttribute('aria-invalid', 'true');
    else control.removeAttribute('aria-invalid');
  });
}

function clearErrors() {
  form.querySelectorAll('[data-field]').forEach((box) => setError(box.dataset.field, ''));
  el.error.hidden = true;
  el.error.textContent = '';
}

function formError(message) {
  el.error.textContent = message;
  el.error.hidden = false;
}

// A 400 names its field (or its message does); the message goes next to it and the cursor there too.
function showRefusal(error) {
  const message = say(error.message);
  const named = Object.keys(error.fields || {});
  const fields = (named.length ? named : [fieldOf(error.message)]).filter((name) => name && fieldBox(name));
  if (fields.length === 0) { formError(message); return; }
  fields.forEach((name) => setError(name, message));
  const box = fieldBox(fields[0]);
  (box.querySelector('select, input:not([type=radio]):not([disabled])') || box.querySelector('input'))?.focus();
}

// --- time, quote, booking -----------------------------------------------------------------------

function later() {
  return el.when.find((radio) => radio.checked)?.value === 'later';
}

function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function showWhen() {
  const on = later();
  el.pickupAt.hidden = !on;
  el.pickupAt.disabled = !on;
  if (on && !el.pickupAt.value) {
    // An hour ahead, on the quarter: the usual pre-booking, quickest to adjust.
    const soon = new Date(Date.now() + 60 * 60 * 1000);
    soon.setMinutes(Math.ceil(soon.getMinutes() / 15) * 15, 0, 0);
    el.pickupAt.value = localInput(soon);
  }
  el.pickupAt.min = localInput(new Date());
  if (on) el.pickupAt.focus();
}

function showQuote(quote, state) {
  el.fare.textContent = quote ? money(quote.fare, quote.currency) : '—';
  el.quoteState.textContent = quote
    ? text.trip.replace('{km}', decimals.format(quote.distance_km)).replace('{min}', numbers.format(Math.round(quote.duration_min)))
    : state;
  el.quoteLines.replaceChildren(...(quote ? quote.breakdown : []).map((line) => node('tr', {},
    node('td', {}, line.label), node('td', { class: 'money' }, money(line.amount, quote.currency)))));
}

function quoteSoon() {
  clearTimeout(quoteTimer);
  quoteRound += 1; // an answer to an older round is dropped
  quoteTimer = setTimeout(quote, QUOTE_DELAY);
}

async function quote() {
  const round = quoteRound;
  const pickup = stopValue('pickup');
  const dropoff = stopValue('dropoff');
  if (!pickup || !dropoff) { showQuote(null, pickup ? text.no_dropoff : text.quote_hint); return; }
  const body = { pickup, dropoff, vehicle_class: el.vehicleClass.value };
  if (later() && el.pickupAt.value) body.pickup_at = el.pickupAt.value;
  if (caller.subscriber_id) body.subscriber_id = caller.subscriber_id; // the loyalty discount, as the booking gets it
  el.quoteState.textContent = text.quoting;
  const result = await post('/api/quotes', body).catch(() => null);
  if (round !== quoteRound) return;
  if (result && result.ok) showQuote(result.body);
  else if (result && result.body.error) showQuote(null, text.no_quote.replace('{reason}', say(result.body.error.message)));
  else showQuote(null, text.quote_failed);
}

function changed(name) {
  setError(name, '');
  el.result.hidden = true;
  if (STOPS.includes(name)) drawMarkers();
  quoteSoon();
}

function showBooked(booking) {
  const number = node('strong', { 'data-booking-number': booking.id }, text.booked.replace('{number}', numbers.format(booking.id)));
  const parts = [number, ` · ${text.status[booking.status] || booking.status}`];
  parts.push(` · ${booking.pickup.text} → ${booking.dropoff ? booking.dropoff.text : '—'}`);
  if (booking.fare !== null) parts.push(` · ${money(booking.fare, booking.currency)}`);
  el.result.replaceChildren(...parts);
  el.result.hidden = false;
}

// The subscriber's page lists recent trips and the timeline: fetch the page again and take those two.
async function refreshRecord() {
  const lists = ['[data-trips]', '[data-timeline]'].filter((selector) => document.querySelector(selector));
  if (lists.length === 0) return;
  const response = await fetch(window.location.href, { credentials: 'same-origin' });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), 'text/html');
  lists.forEach((selector) => {
    const list = fresh.querySelector(selector);
    if (list) document.querySelector(selector).replaceWith(document.adoptNode(list));
  });
}

function resetTrip() {
  STOPS.forEach((stop) => {
    points[stop] = null;
    renderChoices(stop);
    el.stops[stop].choice.value = '';
    el.stops[stop].search.value = '';
    el.stops[stop].results.replaceChildren();
  });
  el.notes.value = '';
  el.when.forEach((radio) => { radio.checked = radio.value === 'now'; });
  el.pickupAt.value = '';
  showWhen();
  drawMarkers();
  clearTimeout(quoteTimer);
  quoteRound += 1;
  showQuote(null, text.quote_hint);
}

async function book(event) {
  event.preventDefault();
  if (sending) return; // a second Enter while the first is on its way must not book twice
  clearErrors();
  el.result.hidden = true;
  const pickup = stopValue('pickup');
  if (!pickup) { setError('pickup', text.pickup_required); el.stops.pickup.choice.focus(); return; }
  if (later() && !el.pickupAt.value) { setError('pickup_at', text.time_required); el.pickupAt.focus(); return; }
  const body = { pickup, vehicle_class: el.vehicleClass.value, notes: el.notes.value };
  const dropoff = stopValue('dropoff');
  if (dropoff) body.dropoff = dropoff;
  if (later()) body.pickup_at = el.pickupAt.value;
  if (el.phone.value.trim()) body.phone = el.phone.value.trim();
  if (caller.subscriber_id) body.subscriber_id = caller.subscriber_id;
  if (caller.call_id) body.call_id = caller.call_id;
  sending = true;
  el.book.disabled = true;
  try {
    const result = await post('/api/bookings', body);
    if (result.status === 201) {
      showBooked(result.body);
      resetTrip();
      refreshRecord();
    } else if (result.status === 400) {
      showRefusal(result.body.error || {});
    } else {
      const error = result.body.error || {};
      // 409 "barred" carries the office's reason after the colon: keep it beside the translated words.
      const reason = error.code === 'barred' ? (error.message || '').split(': ').slice(1).join(': ') : '';
      formError(reason ? `${say(error.message)} (${reason})` : say(error.message));
    }
  } catch {
    formError(text.failed);
  } finally {
    sending = false;
    el.book.disabled = false;
  }
}

// --- who the form books for ---------------------------------------------------------------------

function started() {
  return STOPS.some((stop) => el.stops[stop].choice.value) || el.notes.value.trim() !== '';
}

function showCaller() {
  // Each name and number in its own <bdi>: a Persian name beside digits would otherwise swap places.
  const who = [];
  if (caller.name) who.push(node('bdi', {}, caller.name));
  if (caller.phone) who.push(...(who.length ? [' · '] : []), node('bdi', { dir: 'ltr' }, caller.phone));
  const [before, after] = text.for_caller.split('{who}');
  const parts = who.length ? [before, ...who, after] : [text.nobody];
  if (caller.call_id) parts.push(` · ${text.on_call}`);
  if (caller.barred) parts.push(' ', node('span', { class: 'badge danger' }, text.barred));
  el.who.replaceChildren(...parts);
}

/**
 * Book for this caller: ``{subscriber_id, name, phone, phones, addresses, call_id, barred}`` or null.
 * A caller only previewed does not replace a booking the agent has started; the agent's own call
 * (``force``) and a "book from here" click do.
 */
export function setCaller(next, { force = false } = {}) {
  if (!form) return;
  const incoming = { ...NOBODY, ...(next || {}) };
  const same = incoming.subscriber_id === caller.subscriber_id && incoming.phone === caller.phone;
  if (!same && !force && started()) return;
  caller = incoming;
  if (!same) {
    el.phone.value = caller.phone;
    el.phones.replaceChildren(...caller.phones.map((phone) => node('option', { value: phone })));
    clearErrors();
    el.result.hidden = true;
    resetTrip();
  }
  showCaller();
}

/** The form's words (the console's pop labels its "book from here" buttons with them). */
export const formText = text;

/** Pick the caller's saved address as the pickup ("book from here") and go on to the dropoff. */
export function bookFrom(addressId) {
  if (!form || !addressById(addressId)) return;
  choose('pickup', `a:${addressId}`);
  form.scrollIntoView({ block: 'nearest' });
  el.stops.dropoff.search.focus();
}

if (form) {
  STOPS.forEach((stop) => {
    wireSearch(stop);
    el.stops[stop].choice.addEventListener('change', () => changed(stop));
  });
  el.vehicleClass.addEventListener('change', () => changed('vehicle_class'));
  el.when.forEach((radio) => radio.addEventListener('change', () => { showWhen(); changed('pickup_at'); }));
  el.pickupAt.addEventListener('input', () => changed('pickup_at'));
  el.phone.addEventListener('input', () => setError('phone', ''));
  el.notes.addEventListener('input', () => setError('notes', ''));
  el.mapBox.addEventListener('toggle', openMap);
  form.addEventListener('submit', book);
  // "Book from here" buttons the server rendered (the subscriber's page).
  document.addEventListener('click', (event) => {
    const button = event.target.closest('[data-book-from]');
    if (button) bookFrom(Number(button.dataset.bookFrom));
  });
  setCaller(data.caller, { force: true });
}
