// A report's chart, drawn with Chart.js (served from static/vendor) from the JSON the page carries; the zones
// report colours the office's zones on a Leaflet map instead. Dates follow the user's calendar and language.
const settings = JSON.parse(document.getElementById('report-settings').textContent);
const lang = document.documentElement.lang;
const rtl = document.documentElement.dir === 'rtl';
const numbers = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
const calendar = `${lang}-u-ca-${settings.calendar}`;
const dayFormat = new Intl.DateTimeFormat(calendar, { timeZone: 'UTC', month: 'short', day: 'numeric' });
const monthFormat = new Intl.DateTimeFormat(calendar, { timeZone: 'UTC', year: 'numeric', month: 'short' });
// One colour per series, distinct enough on a wall screen and in print.
const COLOURS = ['#1f6feb', '#f2a900', '#2e7d32', '#c62828', '#7b1fa2', '#00838f', '#5d4037', '#8e8e8e'];

function label(value, kind) {
  if (kind === 'day') return dayFormat.format(new Date(`${value}T00:00:00Z`));
  if (kind === 'month') return monthFormat.format(new Date(`${value}-01T00:00:00Z`));
  return value;
}

function drawChart(canvas, chart) {
  // Series on different scales (a 1–5 rating beside a percentage) each get their own axis: the first on the
  // reading side's start, the others on the far side.
  const axisIds = [...new Set(chart.series.map((series) => series.axis || 'y'))];
  const datasets = chart.series.map((series, i) => ({
    label: series.label,
    data: series.data,
    backgroundColor: COLOURS[i % COLOURS.length],
    borderColor: COLOURS[i % COLOURS.length],
    spanGaps: true,
    yAxisID: series.axis || 'y',
  }));
  const axes = { x: { stacked: Boolean(chart.stacked), reverse: rtl, ticks: { autoSkip: true, maxRotation: 0 } } };
  axisIds.forEach((id, i) => {
    const start = rtl ? 'right' : 'left';
    const end = rtl ? 'left' : 'right';
    axes[id] = {
      axis: 'y',
      type: 'linear',
      position: i === 0 ? start : end,
      stacked: Boolean(chart.stacked),
      beginAtZero: true,
      grid: { drawOnChartArea: i === 0 },
      ticks: { callback: (v) => numbers.format(v) },
    };
  });
  return new window.Chart(canvas, {
    type: chart.type,
    data: { labels: chart.labels.map((value) => label(value, chart.x)), datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      locale: lang,
      scales: axes,
      plugins: { legend: { rtl, position: 'bottom' }, tooltip: { rtl } },
    },
  });
}

async function drawMap(box, chart) {
  const L = window.L;
  const map = L.map(box, { attributionControl: false, zoomSnap: 0.25 });
  const response = await fetch(box.dataset.zonesUrl, { credentials: 'same-origin' });
  const zones = await response.json();
  const values = new Map(chart.zones.map((zone) => [zone.id, zone]));
  const top = Math.max(1, ...chart.zones.map((zone) => zone.value));
  const layer = L.geoJSON(zones, {
    style: (feature) => {
      const zone = values.get(feature.properties.id);
      const heat = zone ? zone.value / top : 0;
      return { color: '#1d2433', weight: 1, fillColor: '#1f6feb', fillOpacity: 0.08 + 0.72 * heat };
    },
    onEachFeature: (feature, shape) => {
      const zone = values.get(feature.properties.id) || { value: 0, trips: 0 };
      // Leaflet puts a string tooltip in with innerHTML: a zone's name typed by people goes in as a text node.
      const tip = document.createElement('span');
      tip.textContent = `${feature.properties.name}: ${numbers.format(zone.value)} · ${numbers.format(zone.trips)}`;
      shape.bindTooltip(tip);
    },
  }).addTo(map);
  if (layer.getBounds().isValid()) map.fitBounds(layer.getBounds());
  box.dataset.drawn = String(zones.features.length);
}

for (const canvas of document.querySelectorAll('[data-report-chart]')) {
  const chart = JSON.parse(canvas.parentElement.nextElementSibling.textContent);
  canvas.chart = drawChart(canvas, chart);
  canvas.dataset.drawn = String(chart.series.length);
}
for (const box of document.querySelectorAll('[data-report-map]')) {
  drawMap(box, JSON.parse(box.nextElementSibling.textContent));
}
