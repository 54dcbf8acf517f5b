// The address form's map: a pin placed by a click or by picking a found place fills lat/lon.
// Works without a tile server: the office's zones are drawn as the backdrop instead.
const form = document.querySelector('[data-address-form]');
const mapBox = form && form.querySelector('[data-map]');
const L = window.L;

if (form && mapBox && L) {
  const latField = form.querySelector('[data-lat]');
  const lonField = form.querySelector('[data-lon]');
  const pinState = form.querySelector('[data-pin-state]');
  const textField = form.querySelector('#text');
  const search = form.querySelector('[data-place-search]');
  const results = form.querySelector('[data-place-results]');
  const map = L.map(mapBox, { center: [35.70, 51.39], zoom: 11, attributionControl: Boolean(mapBox.dataset.tiles) });
  let pin = null;

  // Leaflet puts a string tooltip in with innerHTML: names typed by people go in as text nodes only.
  function textNode(value) {
    const span = document.createElement('span');
    span.textContent = value;
    return span;
  }

  if (mapBox.dataset.tiles) {
    L.tileLayer(mapBox.dataset.tiles, { maxZoom: 19, attribution: mapBox.dataset.attribution || '' }).addTo(map);
  } else {
    fetch(mapBox.dataset.zones, { credentials: 'same-origin' })
      .then((response) => (response.ok ? response.json() : null))
      .then((zones) => {
        if (!zones) return;
        L.geoJSON(zones, {
          style: { color: '#1f6feb', weight: 1, fillOpacity: 0.05 },
          onEachFeature: (feature, layer) => layer.bindTooltip(textNode(feature.properties.name), { sticky: true }),
        }).addTo(map);
      });
  }

  // The subscriber's saved addresses, for orientation.
  document.querySelectorAll('[data-addresses] [data-lat]').forEach((item) => {
    const point = [Number(item.dataset.lat), Number(item.dataset.lon)];
    L.circleMarker(point, { radius: 5, color: '#5b6475' }).addTo(map).bindTooltip(textNode(item.querySelector('strong').textContent));
  });

  function placePin(lat, lon, label) {
    latField.value = lat.toFixed(6);
    lonField.value = lon.toFixed(6);
    if (pin) pin.setLatLng([lat, lon]);
    else pin = L.marker([lat, lon], { draggable: true }).addTo(map).on('dragend', () => {
      const moved = pin.getLatLng();
      placePin(moved.lat, moved.lng);
    });
    pinState.textContent = `${label ? label + ' · ' : ''}${lat.toFixed(5)}, ${lon.toFixed(5)}`;
    pinState.classList.add('placed');
  }

  map.on('click', (event) => placePin(event.latlng.lat, event.latlng.lng));

  // Leaflet measures its box when created; the form may have been folded away then.
  form.closest('details')?.addEventListener('toggle', () => map.invalidateSize());

  let pending = null;
  search.addEventListener('input', () => {
    clearTimeout(pending);
    const query = search.value.trim();
    if (query.length < 2) { results.replaceChildren(); return; }
    pending = setTimeout(async () => {
      const url = new URL(mapBox.dataset.places, window.location.href);
      url.searchParams.set('q', query);
      const response = await fetch(url, { credentials: 'same-origin' });
      if (!response.ok || search.value.trim() !== query) return;
      const { items } = await response.json();
      results.replaceChildren(...items.map((place) => {
        const item = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.textContent = place.name;
        button.addEventListener('click', () => {
          placePin(place.lat, place.lon, place.name);
          map.setView([place.lat, place.lon], 16);
          if (textField && !textField.value) textField.value = place.name;
          results.replaceChildren();
        });
        item.append(button);
        return item;
      }));
    }, 250);
  });
}
