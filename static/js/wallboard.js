// The wallboard: every figure arrives over Socket.IO (the whole floor on connecting, then every few seconds);
// between pushes the longest wait and the clock tick here, from the server's own times.
import { watchHealth } from './health-banner.js';

const settings = JSON.parse(document.getElementById('wallboard-settings').textContent);
const text = JSON.parse(document.getElementById('wallboard-text').textContent);
const lang = document.documentElement.lang;
const numbers = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 1 });
const clock = new Intl.DateTimeFormat(`${lang}-u-ca-${lang === 'fa' ? 'persian' : 'gregory'}`, {
  timeZone: settings.time_zone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

const state = document.querySelector('[data-live-state]');
const longest = document.querySelector('[data-longest-wait]');
const clockBox = document.querySelector('[data-clock]');
const zoneList = document.querySelector('[data-free-drivers]');
const noDrivers = document.querySelector('[data-no-free-drivers]');
let skew = 0; // the server's clock minus this browser's, in ms

function pick(data, path) {
  return path.split('.').reduce((value, key) => (value == null ? value : value[key]), data);
}

function show(value, kind) {
  if (value === null || value === undefined) return '—';
  if (kind === 'percent') return percent.format(value / 100);
  if (kind === 'seconds') return numbers.format(Math.round(value));
  return numbers.format(value);
}

// Which level each figure's box takes: the server says, with the office's marks.
const LEVEL_OF = {
  'today.service_level': 'service_level', 'last_hour.service_level': 'service_level_hour',
  'today.abandoned_rate': 'abandoned', 'last_hour.abandoned_rate': 'abandoned_hour',
  'today.asa': 'asa', 'complaints.sla_breaches': 'sla_breaches',
};

function draw(floor) {
  skew = Date.parse(floor.at) - Date.now();
  for (const box of document.querySelectorAll('[data-figure]')) {
    box.textContent = show(pick(floor, box.dataset.figure), box.dataset.kind);
    const level = LEVEL_OF[box.dataset.figure];
    if (level) box.dataset.level = floor.levels[level] || 'ok';
  }
  longest.dataset.since = floor.waiting.since[0] || '';
  longest.dataset.level = floor.levels.longest_wait;
  zoneList.replaceChildren(...floor.free_drivers.map((zone) => {
    const item = document.createElement('li');
    const name = document.createElement('span');
    name.textContent = (lang === 'fa' ? zone.name_fa : zone.name_en) || (zone.code === '?' ? text.unknown : text.outside);
    const count = document.createElement('strong');
    count.textContent = numbers.format(zone.count);
    item.append(name, ' ', count);
    return item;
  }));
  noDrivers.hidden = floor.free_drivers.length > 0;
  tick();
}

function tick() {
  const now = Date.now() + skew;
  clockBox.textContent = clock.format(now);
  const since = longest.dataset.since;
  const seconds = since ? Math.max(0, (now - Date.parse(since)) / 1000) : 0;
  longest.textContent = numbers.format(Math.floor(seconds));
  const [amber, red] = settings.longest_wait_marks;
  longest.dataset.level = seconds >= red ? 'red' : seconds >= amber ? 'amber' : 'ok';
}

function connected(yes) {
  state.textContent = yes ? text.connected : text.disconnected;
  state.classList.toggle('connected', yes);
}

const socket = window.io('/wallboard', { transports: ['websocket', 'polling'] });
watchHealth(socket);
socket.on('connect', () => connected(true));
socket.on('disconnect', () => connected(false));
socket.on('floor', draw);
setInterval(tick, 1000);
tick();
