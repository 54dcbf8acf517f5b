// A finished trip on a small map: pickup and drop-off joined by a line, over the office's zones (no tiles needed).
const box = document.querySelector('[data-trip-map]');
const L = window.L;

if (box && L) {
  const map = L.map(box, { zoomControl: true, attributionControl: Boolean(box.dataset.tiles) });
  if (box.dataset.tiles) {
    L.tileLayer(box.dataset.tiles, { maxZoom: 19, attribution: box.dataset.attribution || '' }).addTo(map);
  } else if (box.dataset.zones) {
    fetch(box.dataset.zones, { credentials: 'same-origin' })
      .then((response) => (response.ok ? response.json() : null))
      .then((zones) => zones && L.geoJSON(zones, { style: { color: '#1f6feb', weight: 1, fillOpacity: 0.05 } }).addTo(map));
  }
  const points = JSON.parse(box.dataset.points);
  points.forEach((point, index) => {
    L.circleMarker([point.lat, point.lon], { radius: 7, color: index === 0 ? '#1a7f37' : '#cf222e' }).addTo(map);
  });
  if (points.length > 1) {
    L.polyline(points.map((p) => [p.lat, p.lon]), { color: '#5b6475', dashArray: '4 6' }).addTo(map);
    map.fitBounds(points.map((p) => [p.lat, p.lon]), { padding: [30, 30], maxZoom: 15 });
  } else {
    map.setView([points[0].lat, points[0].lon], 14);
  }
}
