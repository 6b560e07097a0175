// Map page: heatmap tiles at every zoom (/tiles/…, Leaflet tile layer), the cells themselves
// on a canvas at the highest zooms, POI dots, click-to-score side panel. The base layer is the
// engine's own streets (/tiles/streets/…, from the imported walk network) unless a tile URL is
// configured (NBI_TILE_URL), which then replaces it.
// Leaflet is loaded as a classic script (window.L) from /vendor/leaflet/.
import { api, SCALE, colourFor, debounce, fmtDistance, h, parseBounds } from './common.js';

const L = window.L;
if (!L) {
  // Leaflet did not load (its <script> shows the banner too): say so instead of a grey page.
  document.getElementById('load-error').hidden = false;
  document.getElementById('load-error-detail').textContent =
    'Leaflet (/vendor/leaflet/leaflet.js) did not load.';
  throw new Error('Leaflet did not load: /vendor/leaflet/leaflet.js');
}
const DEFAULT_ATTRIBUTION = '© OpenStreetMap contributors';
const POI_MIN_ZOOM = 14; // below this the dots hide the streets and the heat (and the request is huge)
const TILE_MAX_ZOOM = 16; // heat tiles up to here; above it the cells are drawn themselves
const CELL_MIN_ZOOM = 13; // cells of the view are loaded (level=auto) from here on
const LOW_COLOUR = '#94a3b8'; // cells below 30, drawn faintly when asked for (tiles: kLowRgba)
const OUTLINE_COLOUR = '#334155'; // the outline of the computed area (tiles: kOutlineRgba)
// What each model's score measures (SPEC §4), for the line under the legend.
const MODEL_MEANING = {
  grocery: 'groceries',
  blend: 'groceries, restaurants and parks',
  'grocery-walk': 'groceries',
  'blend-walk': 'groceries, restaurants and parks',
};
const $ = (id) => document.getElementById(id);

// State exposed to the browser tests (tests/browser/run.mjs).
const nbi = (window.__nbi = {
  ready: false,
  map: null,
  cellsDrawn: 0, // cells painted on the heat canvas by the last redraw
  heatmapLoads: 0, // finished /api/heatmap requests (ok or error)
  heatmapLoading: false,
  lastHeatmapError: null, // error code of the last failed /api/heatmap request
  cells: [], // the cells (or overview cells) of the view, from zoom CELL_MIN_ZOOM on
  cellLevel: null, // their overview level (0: the stored cells)
  tilesLoaded: 0, // heat tiles loaded with pixels (a 204 empty tile does not count)
  tilesEmpty: 0, // heat tiles answered 204 (nothing to draw)
  tileErrors: 0,
  tilesIdle: false, // every heat tile of the view has loaded (Leaflet's 'load')
  initialView: null, // how the first view was chosen: point, bounds, city, extent, world
  baseLayer: null, // 'streets' (the engine's own, /tiles/streets) or 'url' (NBI_TILE_URL)
  streetTilesLoaded: 0, // street tiles loaded with pixels
  streetTilesEmpty: 0, // street tiles answered 204
  streetTilesIdle: true, // every street tile of the view has loaded (or none is shown here)
  citiesWithCells: [], // slugs the city picker offers (cities with cells of the model and step)
  poisDrawn: 0,
  lastScoreRequest: null, // {lat, lng, model, url} as sent to /api/score
  lastScore: null, // the last /api/score response JSON
});

const params = new URLSearchParams(location.search);
const state = {
  gridStep: 0.0025,
  model: 'grocery',
  cities: [],
  showLow: params.get('low') === '1', // draw the cells below 30 faintly
  coverageJob: null, // id of the job polled for the clicked point's coverage
};

// ------------------------------------------------------------------ map + layers
const map = L.map('map', { preferCanvas: true, worldCopyJump: true, minZoom: 2, maxZoom: 20 });
nbi.map = map;
map.attributionControl.setPrefix(false);
map.attributionControl.addAttribution(DEFAULT_ATTRIBUTION); // shown even if /api/config fails
map.attributionControl.getContainer().dataset.testid = 'attribution';
const canvasRenderer = L.canvas({ padding: 0.1 });

// Heat cells sit under the POI dots and above tiles.
map.createPane('heat').style.zIndex = 350;

// A full-view canvas redrawn after each move: much faster than one L.rectangle per cell.
// Each cell (lat, lng) is a grid point; it is drawn as the step-sized square around it.
const HeatLayer = L.Layer.extend({
  initialize() {
    this._cells = [];
    this._step = 0;
  },
  onAdd(m) {
    // leaflet-zoom-hide: Leaflet hides it during zoom animations; moveend redraws it.
    this._canvas = L.DomUtil.create('canvas', 'heat-canvas leaflet-zoom-hide');
    this._canvas.dataset.testid = 'heat-canvas';
    m.getPane('heat').appendChild(this._canvas);
    m.on('moveend resize', this.redraw, this);
    this.redraw();
  },
  onRemove(m) {
    L.DomUtil.remove(this._canvas);
    m.off('moveend resize', this.redraw, this);
  },
  setCells(cells, step) {
    this._cells = cells;
    this._step = step;
    this.redraw();
  },
  redraw() {
    const m = this._map;
    if (!m) return;
    const size = m.getSize();
    const canvas = this._canvas;
    // The pane moves while panning: put the canvas back over the visible area.
    L.DomUtil.setPosition(canvas, m.containerPointToLayerPoint([0, 0]));
    canvas.width = size.x; // resizing also clears it
    canvas.height = size.y;
    const ctx = canvas.getContext('2d');
    const half = this._step / 2;
    const byColour = new Map(); // one fillStyle change per colour band
    for (const c of this._cells) {
      const colour = colourFor(c.score) || (state.showLow ? LOW_COLOUR : null);
      if (!colour) continue;
      if (!byColour.has(colour)) byColour.set(colour, []);
      byColour.get(colour).push(c);
    }
    let drawn = 0;
    for (const [colour, cells] of byColour) {
      ctx.fillStyle = colour;
      for (const c of cells) {
        const nw = m.latLngToContainerPoint([c.lat + half, c.lng - half]);
        const se = m.latLngToContainerPoint([c.lat - half, c.lng + half]);
        // Rounded corners make neighbours share edges exactly (no seams or overlaps).
        const x = Math.round(nw.x), y = Math.round(nw.y);
        const w = Math.max(1, Math.round(se.x) - x), hh = Math.max(1, Math.round(se.y) - y);
        if (x >= size.x || y >= size.y || x + w <= 0 || y + hh <= 0) continue;
        ctx.globalAlpha = colour === LOW_COLOUR ? 0.55 : 1;
        ctx.fillRect(x, y, w, hh);
        drawn++;
      }
    }
    ctx.globalAlpha = 1;
    this.outline(ctx, half);
    nbi.cellsDrawn = drawn;
  },
  // The computed area's outline: the sides of cells that have no neighbouring cell (as the
  // tiles draw it below this zoom), so an area whose cells are all below 30 still shows.
  outline(ctx, half) {
    const m = this._map;
    const step = this._step;
    if (!step || !this._cells.length) return;
    const key = (lat, lng) => `${Math.round(lat / step)},${Math.round(lng / step)}`;
    const have = new Set(this._cells.map((c) => key(c.lat, c.lng)));
    ctx.strokeStyle = OUTLINE_COLOUR;
    ctx.lineWidth = 2;
    ctx.beginPath();
    const side = (a, b) => {
      const p = m.latLngToContainerPoint(a), q = m.latLngToContainerPoint(b);
      ctx.moveTo(p.x, p.y);
      ctx.lineTo(q.x, q.y);
    };
    for (const c of this._cells) {
      const n = c.lat + half, s = c.lat - half, w = c.lng - half, e = c.lng + half;
      if (!have.has(key(c.lat + step, c.lng))) side([n, w], [n, e]);
      if (!have.has(key(c.lat - step, c.lng))) side([s, w], [s, e]);
      if (!have.has(key(c.lat, c.lng - step))) side([n, w], [s, w]);
      if (!have.has(key(c.lat, c.lng + step))) side([n, e], [s, e]);
    }
    ctx.stroke();
  },
});
const heat = new HeatLayer().addTo(map);

// Tiles of this server (heat and streets), fetched so that an empty tile (204) is simply left
// blank and the browser's cache revalidates each tile with its ETag. `count` names the
// __nbi counters: [loaded, empty].
const FetchedTiles = L.TileLayer.extend({
  createTile(coords, done) {
    const img = document.createElement('img');
    img.alt = '';
    img.setAttribute('role', 'presentation');
    img.className = this.options.tileClass;
    const [loaded, empty] = this.options.count;
    fetch(this.getTileUrl(coords)).then(async (res) => {
      if (res.status === 204) {
        img.dataset.empty = '1';
        img.style.visibility = 'hidden'; // no image: nothing to draw (not even a frame)
        nbi[empty]++;
        return done(null, img);
      }
      if (!res.ok) throw new Error(`tile ${res.status}`);
      const blob = await res.blob();
      img.onload = () => {
        URL.revokeObjectURL(img.src);
        nbi[loaded]++;
        done(null, img);
      };
      img.onerror = () => done(new Error('tile image'), img);
      img.src = URL.createObjectURL(blob);
    }).catch((e) => {
      nbi.tileErrors++;
      done(e, img);
    });
    return img;
  },
});
let heatTiles = null;
let tileTemplate = '/tiles/{model}/{gridStep}/{z}/{x}/{y}.png';
function resetHeatTiles() {
  heatTiles?.remove();
  const url = tileTemplate.replace('{model}', state.model).replace('{gridStep}', String(state.gridStep)) +
    (state.showLow ? '?low=1' : '');
  heatTiles = new FetchedTiles(url, {
    // Leaflet sets the layer's opacity inline (a CSS opacity would be overridden): the
    // streets show through the heat.
    pane: 'heat', className: 'heat-tiles', maxZoom: TILE_MAX_ZOOM, minZoom: 0, opacity: 0.6,
    tileClass: 'heat-tile', count: ['tilesLoaded', 'tilesEmpty'],
  });
  nbi.tilesIdle = false;
  heatTiles.on('loading', () => { nbi.tilesIdle = false; });
  heatTiles.on('load', () => { nbi.tilesIdle = true; });
  heatTiles.addTo(map);
}
const poiLayer = L.layerGroup().addTo(map);
let clickMarker = null;

// ------------------------------------------------------------------ legend
const Legend = L.Control.extend({
  options: { position: 'bottomleft' }, // the score panel takes the right side
  onAdd() {
    return h('div', { class: 'legend', dataset: { testid: 'legend' } },
      h('div', { class: 'legend-title' }, 'Score'),
      SCALE.map(([, colour, label]) =>
        h('div', { class: 'legend-row' }, h('i', { style: `background:${colour}` }), label)),
      h('label', { class: 'legend-row muted', title: 'Cells below 30 are transparent unless shown here' },
        h('input', { type: 'checkbox', id: 'show-low', dataset: { testid: 'show-low' }, checked: state.showLow,
                     onchange: (e) => setShowLow(e.target.checked) }),
        '< 30: show faintly'),
      h('div', { class: 'legend-row muted' }, h('i', { class: 'outline' }), 'computed area'),
      h('div', { class: 'legend-distance muted', id: 'legend-distance', dataset: { testid: 'legend-distance' } },
        distanceLabel(state.model)),
      h('div', { class: 'legend-meaning muted', id: 'legend-meaning', dataset: { testid: 'legend-meaning' } },
        meaningLabel()));
  },
});
// What a score means, and which model and grid step the map shows.
function meaningLabel() {
  const what = MODEL_MEANING[state.model] || 'everyday places';
  return `A score (0–100) says how many ${what} are near and how close. ` +
    `Shown: ${state.model} at ${state.gridStep}° (about ${Math.round(state.gridStep * 111320)} m).`;
}
function setShowLow(on) {
  state.showLow = on;
  resetHeatTiles();
  loadHeatmap();
}
// Which distance a model measures (SPEC §4a: the -walk models walk along streets).
function distanceLabel(model) {
  return String(model).endsWith('-walk') ? 'Distance: walked along streets' : 'Distance: straight line';
}
function updateLegend() {
  const el = document.getElementById('legend-distance');
  if (el) el.textContent = distanceLabel(state.model);
  const meaning = document.getElementById('legend-meaning');
  if (meaning) meaning.textContent = meaningLabel();
}
new Legend().addTo(map);

// ------------------------------------------------------------------ view helpers
const clampLat = (v) => Math.max(-90, Math.min(90, v));
const clampLng = (v) => Math.max(-180, Math.min(180, v));

/** The view box (padded by half a step so edge squares are included), clamped to valid ranges. */
function viewBox(pad = 0) {
  const b = map.getBounds();
  return {
    minLat: clampLat(b.getSouth() - pad).toFixed(6),
    minLng: clampLng(b.getWest() - pad).toFixed(6),
    maxLat: clampLat(b.getNorth() + pad).toFixed(6),
    maxLng: clampLng(b.getEast() + pad).toFixed(6),
  };
}

const toLatLngBounds = (b) => L.latLngBounds([b.minLat, b.minLng], [b.maxLat, b.maxLng]);

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
}

// ------------------------------------------------------------------ heatmap + POIs
// The status line over the cells of the view: those drawn in colour (score 30 or more), and of
// how many computed when every cell was asked for, so that an area computed with every cell
// below 30 does not read as "0 cells".
function cellsStatus(data, every) {
  const cells = data.cells || [];
  const total = data.count ?? cells.length;
  const level = data.level ? ` (overview level ${data.level})` : '';
  if (!every) return `${total} cells ≥ 30${level}`;
  return `${cells.filter((c) => c.score >= 30).length} cells ≥ 30 of ${total} computed${level}`;
}

let heatAbort = null;
async function loadHeatmap() {
  heatAbort?.abort();
  const ctrl = (heatAbort = new AbortController());
  const step = state.gridStep;
  nbi.heatmapLoading = true;
  if (map.getZoom() < CELL_MIN_ZOOM) {
    // Tiles alone: no cells to fetch at this zoom.
    nbi.cells = [];
    nbi.cellLevel = null;
    heat.setCells([], step);
    setStatus('');
  } else {
    // Above the tiles' zooms the canvas draws the area's outline too: it needs every cell; so
    // does the status with the cells below 30 shown, as it then counts the computed ones.
    const every = map.getZoom() > TILE_MAX_ZOOM || state.showLow;
    const q = new URLSearchParams({ ...viewBox(step / 2), gridStep: step, minScore: every ? 0 : 30,
                                    model: state.model, level: 'auto' });
    try {
      const { data } = await api(`/api/heatmap?${q}`, { signal: ctrl.signal });
      nbi.cells = data.cells || [];
      nbi.cellLevel = data.level ?? 0;
      // Drawn only above the tiles' zooms (the tiles show them below).
      heat.setCells(map.getZoom() > TILE_MAX_ZOOM ? nbi.cells : [], data.cellStep || step);
      nbi.lastHeatmapError = null;
      setStatus(cellsStatus(data, every));
    } catch (e) {
      if (e.name === 'AbortError') return; // superseded by a newer request
      heat.setCells([], step);
      nbi.lastHeatmapError = e.code || 'error';
      setStatus(`Heatmap: ${e.message}`, true);
    }
  }
  if (ctrl === heatAbort) {
    nbi.heatmapLoading = false;
    nbi.heatmapLoads++;
  }
}

let poiAbort = null;
async function loadPois() {
  poiAbort?.abort();
  if (map.getZoom() < POI_MIN_ZOOM) {
    poiLayer.clearLayers();
    nbi.poisDrawn = 0;
    return;
  }
  const ctrl = (poiAbort = new AbortController());
  try {
    const { data } = await api(`/api/pois?${new URLSearchParams(viewBox())}`, { signal: ctrl.signal });
    poiLayer.clearLayers();
    for (const p of data.pois || []) {
      L.circleMarker([p.lat, p.lng], {
        renderer: canvasRenderer, radius: 2.5, weight: 1, color: '#fff',
        fillColor: '#1e293b', fillOpacity: 0.9,
      }).bindTooltip(() => h('span', {}, `${p.name || '(unnamed)'} · ${p.category}`)).addTo(poiLayer); // text, not HTML
    }
    nbi.poisDrawn = (data.pois || []).length;
  } catch (e) {
    if (e.name !== 'AbortError') setStatus(`POIs: ${e.message}`, true);
  }
}

function updateScheduleLink() {
  const b = viewBox();
  const q = new URLSearchParams({
    bounds: [b.minLat, b.minLng, b.maxLat, b.maxLng].join(','),
    gridStep: state.gridStep,
    model: state.model,
  });
  $('schedule-link').href = `/jobs?${q}`;
}

const refresh = debounce(() => {
  loadHeatmap();
  loadPois();
}, 250);
map.on('moveend', () => {
  updateScheduleLink();
  selectCityInView();
  refresh();
});

// ------------------------------------------------------------------ score panel
let scoreSeq = 0;
map.on('click', (e) => showScore(e.latlng));
$('panel-close').addEventListener('click', () => {
  $('panel').hidden = true;
  state.coverageJob = null;
  clickMarker?.remove();
});

async function showScore(latlng) {
  const seq = ++scoreSeq;
  const lat = latlng.lat.toFixed(6);
  const lng = L.Util.wrapNum(latlng.lng, [-180, 180], true).toFixed(6);
  const url = `/api/score?${new URLSearchParams({ lat, lng, model: state.model })}`;
  nbi.lastScoreRequest = { lat, lng, model: state.model, url };

  clickMarker?.remove();
  clickMarker = L.circleMarker(latlng, {
    renderer: canvasRenderer, radius: 7, weight: 3, color: '#0f172a', fill: false, interactive: false,
  }).addTo(map);
  $('panel').hidden = false;
  $('panel').setAttribute('aria-busy', 'true');
  $('overall').textContent = '…';
  $('score-where').textContent = `${lat}, ${lng}`;
  $('score-error').hidden = true;

  try {
    const { data } = await api(url);
    if (seq !== scoreSeq) return; // a newer click won
    renderScore(data);
    nbi.lastScore = data;
  } catch (e) {
    if (seq !== scoreSeq) return;
    $('overall').textContent = '–';
    $('categories').replaceChildren();
    $('pois').replaceChildren();
    $('coverage').hidden = true;
    $('score-error').textContent = e.message;
    $('score-error').hidden = false;
  } finally {
    if (seq === scoreSeq) $('panel').removeAttribute('aria-busy');
  }
}

function renderScore(s) {
  const overall = $('overall');
  overall.textContent = Number.isInteger(s.overall) ? String(s.overall) : Number(s.overall).toFixed(1);
  overall.dataset.value = String(s.overall);
  overall.style.background = colourFor(s.overall) || '#e2e8f0';

  const cats = s.categories || [];
  $('categories').replaceChildren(...cats.map((c) =>
    h('tr', { dataset: { testid: 'score-category', category: c.id } },
      h('td', {}, c.id),
      h('td', { class: 'num' }, c.score),
      h('td', { class: 'num' }, c.count),
      h('td', { class: 'num' }, fmtDistance(c.nearestDistance)))));

  // Nearest places over all categories, closest first.
  const pois = cats.flatMap((c) => (c.pois || []).map((p) => ({ ...p, category: c.id })))
    .sort((a, b) => a.distance - b.distance).slice(0, 10);
  $('pois').replaceChildren(...(pois.length ? pois.map((p) =>
    h('li', { dataset: { testid: 'score-poi' } },
      h('span', { class: 'poi-name' }, p.name || '(unnamed)'),
      h('span', { class: 'muted' }, ` ${p.category} · ${fmtDistance(p.distance)}${s.distance === 'walking' ? ' walk' : ''}`)))
    : [h('li', { class: 'muted' }, 'None nearby')]));
  const nearestHead = document.querySelector('#panel .categories th:last-child');
  if (nearestHead) nearestHead.textContent = s.distance === 'walking' ? 'Nearest (walk)' : 'Nearest';

  if (s.coverageJobId) watchCoverageJob(s.coverageJobId);
  else if (state.coverageJob === null) $('coverage').hidden = true;
}

/** Polls /api/jobs/N every second until the job ends; then reloads the cells. */
async function watchCoverageJob(id) {
  if (state.coverageJob === id) return; // already polling it
  state.coverageJob = id;
  const notice = $('coverage');
  notice.hidden = false;
  notice.dataset.jobId = id;
  notice.textContent = `Heatmap for this area is being computed (job #${id})`;
  while (state.coverageJob === id) {
    let job = null;
    try {
      ({ data: job } = await api(`/api/jobs/${id}`));
    } catch (e) {
      notice.textContent = `Heatmap job #${id}: ${e.message}`;
    }
    if (state.coverageJob !== id) return; // another point/job or panel closed
    if (job?.status === 'completed') {
      notice.textContent = `Heatmap for this area is ready (job #${id})`;
      state.coverageJob = null;
      // Show the job's cells: switch to its grid step if the selector offers it.
      const step = job.metadata?.gridStep;
      if (step && step !== state.gridStep && [...$('grid-step').options].some((o) => Number(o.value) === step)) {
        state.gridStep = step;
        $('grid-step').value = String(step);
        updateScheduleLink();
      }
      loadHeatmap();
      return;
    }
    if (job && (job.status === 'failed' || job.status === 'cancelled')) {
      notice.textContent = `Heatmap job #${id} ${job.status}${job.error ? `: ${job.error}` : ''}`;
      state.coverageJob = null;
      return;
    }
    if (job) notice.textContent = `Heatmap for this area is being computed (job #${id}) – ${job.progress ?? 0}%`;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// ------------------------------------------------------------------ selectors + start
function fillSelect(sel, values, selected, label = String) {
  sel.replaceChildren(...values.map((v) => h('option', { value: v, selected: String(v) === String(selected) }, label(v))));
}

// The city picker offers the cities that have cells of the model and step shown.
async function loadCityPicker() {
  const q = new URLSearchParams({ model: state.model, gridStep: state.gridStep });
  let cities = [];
  try {
    ({ data: { cities = [] } } = await api(`/api/heatmap/cities?${q}`));
  } catch (e) {
    setStatus(`Cities: ${e.message}`, true);
  }
  nbi.citiesWithCells = cities.map((c) => c.slug);
  const sel = $('city');
  sel.replaceChildren(h('option', { value: '' }, '–'),
    ...cities.map((c) => h('option', { value: c.slug }, c.name)));
  selectCityInView();
}

// Selects the offered city the view is on: of those whose bounds hold the view's centre, the
// one whose bounds match the view best (intersection over union), so a country in view wins
// over a town in its middle, and the town once the view is on it.
function selectCityInView() {
  const sel = $('city');
  const centre = map.getCenter();
  const v = map.getBounds();
  const view = { minLat: v.getSouth(), minLng: v.getWest(), maxLat: v.getNorth(), maxLng: v.getEast() };
  const area = (b) => Math.max(0, b.maxLat - b.minLat) * Math.max(0, b.maxLng - b.minLng);
  const match = (b) => {
    const inter = area({ minLat: Math.max(b.minLat, view.minLat), minLng: Math.max(b.minLng, view.minLng),
                         maxLat: Math.min(b.maxLat, view.maxLat), maxLng: Math.min(b.maxLng, view.maxLng) });
    return inter / (area(b) + area(view) - inter || 1);
  };
  const offered = state.cities.filter((c) => nbi.citiesWithCells.includes(c.slug) &&
    toLatLngBounds(c.bounds).contains(centre));
  offered.sort((a, b) => match(b.bounds) - match(a.bounds));
  sel.value = offered[0]?.slug || '';
}

// The base layer: the configured raster tiles, or the engine's own streets.
function addBaseLayer(config) {
  if (config.tileUrl) {
    nbi.baseLayer = 'url';
    L.tileLayer(config.tileUrl, { attribution: config.attribution || DEFAULT_ATTRIBUTION, maxZoom: 19 }).addTo(map);
    return;
  }
  nbi.baseLayer = 'streets';
  const streets = new FetchedTiles(config.streetTiles || '/tiles/streets/{z}/{x}/{y}.png', {
    minZoom: config.streetMinZoom ?? 11, maxZoom: 20, className: 'street-tiles',
    tileClass: 'street-tile', count: ['streetTilesLoaded', 'streetTilesEmpty'],
  });
  streets.on('loading', () => { nbi.streetTilesIdle = false; });
  streets.on('load', () => { nbi.streetTilesIdle = true; });
  streets.addTo(map);
}

async function start() {
  let config = {};
  try {
    ({ data: config } = await api('/api/config'));
  } catch (e) {
    setStatus(`Config: ${e.message}`, true);
  }
  try {
    ({ data: { cities: state.cities = [] } } = await api('/api/cities'));
  } catch (e) {
    setStatus(`Cities: ${e.message}`, true);
  }

  addBaseLayer(config);
  if (config.attribution && config.attribution !== DEFAULT_ATTRIBUTION) {
    map.attributionControl.removeAttribution(DEFAULT_ATTRIBUTION);
    map.attributionControl.addAttribution(config.attribution);
  }

  const steps = config.gridSteps?.length ? config.gridSteps : [0.0025, 0.001, 0.0005];
  const urlStep = Number(params.get('gridStep'));
  state.gridStep = steps.includes(urlStep) ? urlStep : (config.defaultGridStep ?? steps[0]);
  fillSelect($('grid-step'), steps, state.gridStep, (v) => `${v}°`);
  const models = config.models?.length ? config.models : ['grocery', 'blend'];
  state.model = models.includes(params.get('model')) ? params.get('model') : models[0];
  fillSelect($('model'), models, state.model);
  updateLegend();

  const citySel = $('city');

  if (config.heatTiles) tileTemplate = config.heatTiles;
  resetHeatTiles();
  $('grid-step').addEventListener('change', (e) => {
    state.gridStep = Number(e.target.value);
    updateLegend();
    updateScheduleLink();
    resetHeatTiles();
    loadHeatmap();
    loadCityPicker();
  });
  $('model').addEventListener('change', (e) => {
    state.model = e.target.value;
    updateLegend();
    updateScheduleLink();
    resetHeatTiles();
    loadHeatmap();
    loadCityPicker();
  });
  citySel.addEventListener('change', () => {
    const city = state.cities.find((c) => c.slug === citySel.value);
    if (city) map.flyToBounds(toLatLngBounds(city.bounds), { duration: 0.8 });
  });

  // Initial view: ?lat&lng[&zoom], ?bounds=, ?city=, else the extent of the stored cells of
  // the chosen model and grid step (else of another step, or without ?model= of another
  // model, which is then chosen), else the first city, else the world.
  const lat = Number(params.get('lat')), lng = Number(params.get('lng'));
  const bounds = parseBounds(params.get('bounds'));
  const city = state.cities.find((c) => c.slug === params.get('city'));
  if (params.has('lat') && params.has('lng') && Number.isFinite(lat) && Number.isFinite(lng)) {
    nbi.initialView = 'point';
    map.setView([lat, lng], Number(params.get('zoom')) || 15);
  } else if (bounds) {
    nbi.initialView = 'bounds';
    map.fitBounds(toLatLngBounds(bounds));
  } else if (city) {
    nbi.initialView = 'city';
    citySel.value = city.slug;
    map.fitBounds(toLatLngBounds(city.bounds));
  } else {
    const ext = await firstExtent(steps, models);
    if (ext) {
      nbi.initialView = 'extent';
      if (ext.gridStep !== state.gridStep || ext.model !== state.model) {
        state.gridStep = ext.gridStep;
        state.model = ext.model;
        $('grid-step').value = String(ext.gridStep);
        $('model').value = ext.model;
        updateLegend();
        resetHeatTiles();
      }
      map.fitBounds(toLatLngBounds(ext.bounds));
    } else if (state.cities[0]) {
      nbi.initialView = 'city';
      citySel.value = state.cities[0].slug;
      map.fitBounds(toLatLngBounds(state.cities[0].bounds));
    } else {
      nbi.initialView = 'world';
      map.setView([20, 0], 2);
    }
  }
  await loadCityPicker();
  nbi.ready = true;
}

// The extent of the stored cells to open on: of the chosen model and step; else of the model
// at another step; else (unless ?model= chose the model) of another model. {model, gridStep, bounds}.
async function firstExtent(steps, models) {
  const tried = params.has('model') ? [state.model] : [state.model, ...models.filter((m) => m !== state.model)];
  for (const model of tried) {
    let extents = [];
    try {
      ({ data: { extents = [] } } = await api(`/api/heatmap/extent?${new URLSearchParams({ model })}`));
    } catch (e) {
      setStatus(`Extent: ${e.message}`, true);
      return null;
    }
    const ext = extents.find((x) => x.gridStep === state.gridStep) ||
      extents.find((x) => steps.includes(x.gridStep));
    if (ext) return { ...ext, model };
  }
  return null;
}

start();
