// The zone pages' maps. On the list: every zone, a click opens it. On a zone's form: the zone's polygon
// drawn and edited with Leaflet-Geoman, kept in step with the GeoJSON textarea both ways, so the form
// also works by pasting GeoJSON, and without this script at all.
// Works without a tile server: the zones themselves are the backdrop.
const L = window.L;
const DEFAULT_VIEW = [[35.70, 51.39], 11];
// Views are set without animation: the map is still at once, and its handles are where they are drawn.
const ZONE_STYLE = { color: '#1f6feb', weight: 2, fillOpacity: 0.15 };
const OTHER_STYLE = { color: '#5b6475', weight: 1, fillOpacity: 0.05 };
const INACTIVE_STYLE = { color: '#8a94a6', weight: 1, fillOpacity: 0.02, dashArray: '4 4' };

// Leaflet puts a string tooltip in with innerHTML: names typed by people go in as text nodes only.
function textNode(value) {
  const span = document.createElement('span');
  span.textContent = value;
  return span;
}

function baseMap(box) {
  const map = L.map(box, { attributionControl: Boolean(box.dataset.tiles) });
  map.setView(...DEFAULT_VIEW);
  if (box.dataset.tiles) {
    L.tileLayer(box.dataset.tiles, { maxZoom: 19, attribution: box.dataset.attribution || '' }).addTo(map);
  }
  return map;
}

async function loadZones(url) {
  const response = await fetch(url, { credentials: 'same-origin' });
  return response.ok ? response.json() : { type: 'FeatureCollection', features: [] };
}

function label(feature) {
  return `${feature.properties.code} · ${feature.properties.name}`;
}

// The zones list: all zones, inactive ones dashed; a click on a zone opens its form.
async function overview(box) {
  const map = baseMap(box);
  const zones = await loadZones(box.dataset.zones);
  const layer = L.geoJSON(zones, {
    style: (feature) => (feature.properties.active ? ZONE_STYLE : INACTIVE_STYLE),
    onEachFeature: (feature, item) => {
      item.bindTooltip(textNode(label(feature)), { sticky: true });
      item.on('click', () => { window.location.href = `${box.dataset.edit}/${feature.properties.id}`; });
    },
  }).addTo(map);
  if (zones.features.length) map.fitBounds(layer.getBounds(), { animate: false });
  box.dataset.ready = 'true';
}

// The polygons of a GeoJSON text: a Polygon or MultiPolygon, bare or in a Feature or a one-feature
// collection (as geojson.io exports them). null when it is not one, or not JSON yet.
function polygonsOf(text) {
  let data;
  try { data = JSON.parse(text); } catch { return null; }
  if (data && data.type === 'FeatureCollection' && Array.isArray(data.features) && data.features.length === 1) {
    [data] = data.features;
  }
  if (data && data.type === 'Feature') data = data.geometry;
  if (!data || !Array.isArray(data.coordinates)) return null;
  if (data.type === 'Polygon') return [data.coordinates];
  if (data.type === 'MultiPolygon') return data.coordinates;
  return null;
}

function editor(form, box) {
  const textarea = form.querySelector('#boundary');
  const state = form.querySelector('[data-map-state]');
  // The shared .map height suits the address form's pin; drawing a district wants more room.
  box.style.height = '30rem';
  const map = baseMap(box);
  const zoneId = Number(box.dataset.zoneId) || null;
  const parts = L.featureGroup().addTo(map);

  map.pm.setLang(box.dataset.lang === 'fa' ? 'fa' : 'en');
  map.pm.addControls({
    position: 'topleft',
    drawMarker: false,
    drawCircleMarker: false,
    drawPolyline: false,
    drawCircle: false,
    drawText: false,
    drawRectangle: true,
    drawPolygon: true,
    editMode: true,
    dragMode: true,
    cutPolygon: false,
    rotateMode: false,
    removalMode: true,
  });
  // Self-crossing borders are refused on the server too; here a drag that would cross is undone at once.
  // Snapping lets a new border follow a neighbour's vertices, so zones touch without overlapping.
  map.pm.setGlobalOptions({
    allowSelfIntersection: false,
    snappable: true,
    snapDistance: 12,
    layerGroup: parts,
    pathOptions: ZONE_STYLE,
  });

  function say(message) {
    if (message) state.textContent = message;
  }

  // Map → textarea: one part is a Polygon, several a MultiPolygon.
  function writeBoundary() {
    const polygons = [];
    parts.eachLayer((layer) => {
      const { geometry } = layer.toGeoJSON(7);
      if (geometry.type === 'Polygon') polygons.push(geometry.coordinates);
      else if (geometry.type === 'MultiPolygon') polygons.push(...geometry.coordinates);
    });
    if (!polygons.length) textarea.value = '';
    else if (polygons.length === 1) textarea.value = JSON.stringify({ type: 'Polygon', coordinates: polygons[0] });
    else textarea.value = JSON.stringify({ type: 'MultiPolygon', coordinates: polygons });
    say(box.dataset.drawn);
  }

  function watch(layer) {
    layer.on('pm:edit pm:dragend', writeBoundary);
  }

  // Textarea → map: redraw the parts; the text itself is left as typed.
  function drawBoundary(fit) {
    const polygons = polygonsOf(textarea.value);
    if (!polygons) {
      if (textarea.value.trim()) say(box.dataset.unreadable);
      return false;
    }
    let layers;
    try {
      layers = polygons.map((rings) => L.polygon(L.GeoJSON.coordsToLatLngs(rings, 1), ZONE_STYLE));
    } catch {
      say(box.dataset.unreadable);
      return false;
    }
    const editing = map.pm.globalEditModeEnabled();
    if (editing) map.pm.disableGlobalEditMode();
    parts.clearLayers();
    layers.forEach((layer) => { layer.addTo(parts); watch(layer); });
    if (editing) map.pm.enableGlobalEditMode();
    if (fit && layers.length) map.fitBounds(parts.getBounds(), { maxZoom: 15, animate: false });
    return true;
  }

  map.on('pm:create', (event) => { watch(event.layer); writeBoundary(); });
  map.on('pm:remove', writeBoundary);
  textarea.addEventListener('input', () => drawBoundary(false));

  const drawn = drawBoundary(true);
  if (drawn) map.pm.enableGlobalEditMode(); // an existing zone opens ready for its vertices to be dragged

  // The other zones, for orientation and snapping; Geoman leaves them alone (pmIgnore).
  loadZones(box.dataset.zones).then((zones) => {
    const others = L.geoJSON(zones, {
      pmIgnore: true,
      snapIgnore: false,
      filter: (feature) => feature.properties.id !== zoneId,
      style: (feature) => (feature.properties.active ? OTHER_STYLE : INACTIVE_STYLE),
      onEachFeature: (feature, layer) => layer.bindTooltip(textNode(label(feature)), { sticky: true }),
    }).addTo(map);
    others.bringToBack();
    if (!drawn && others.getLayers().length) map.fitBounds(others.getBounds(), { animate: false });
    box.dataset.ready = 'true';
  });
}

if (L) {
  const overviewBox = document.querySelector('[data-zones-overview]');
  if (overviewBox) overview(overviewBox);
  const form = document.querySelector('[data-zone-form]');
  const editorBox = form && form.querySelector('[data-zone-map]');
  if (editorBox && L.PM) editor(form, editorBox);
}
