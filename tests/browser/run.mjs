// Real-browser tests of the map page (/) and the jobs page (/jobs) served by `nearbyindex serve`.
//
//   NBI_BASE_URL=http://127.0.0.1:18080 NBI_TEST_CITY=liechtenstein NBI_TEST_POINT=47.14,9.52 \
//     node tests/browser/run.mjs
//
// The server must hold the city with a computed heatmap and run its embedded worker.
// NBI_TEST_CITY defaults to the first city, NBI_TEST_POINT to the centre of its bounds.
// Drives Debian's /usr/bin/chromium (NBI_CHROMIUM overrides) through playwright-core from
// web/node_modules (npm --prefix web install). Saves web/screenshots/{map,map-zoomed-out,jobs}.png.
// Prints "N passed, N failed"; exits non-zero on any failure.
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// The pixel rule shared with the demo's screenshot, and the colours it knows.
import { LOW, OUTLINE, PALETTE, countScreenshot } from '../../scripts/map_pixels.mjs';
import { aborted, assert, check, finish } from './harness.mjs';

const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
const { chromium } = createRequire(join(WEB_DIR, 'package.json'))('playwright-core');

const BASE = (process.env.NBI_BASE_URL || '').replace(/\/+$/, '');
if (!BASE) {
  console.error('NBI_BASE_URL is not set (e.g. http://127.0.0.1:18080)');
  process.exit(2);
}
const SHOTS = join(WEB_DIR, 'screenshots');
const VIEWPORT = { width: 1280, height: 800 };
const SMALL_JOB_TIMEOUT = 60_000;

// A second server of the same store started with NBI_TILE_URL, and the port of the tile server
// this test runs for it (run_with_server.sh).
const TILE_URL_BASE = (process.env.NBI_TILE_URL_BASE || '').replace(/\/+$/, '');
const TEST_TILE_PORT = Number(process.env.NBI_TEST_TILE_PORT || 0);

// ------------------------------------------------------------------ helpers
async function getJson(path, init) {
  const res = await fetch(BASE + path, init);
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** Collects console errors and uncaught exceptions of a page; `expected(msg)` filters known ones. */
function watchErrors(page, expected = () => false) {
  const errors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !expected(msg)) errors.push(`${msg.text()} @ ${msg.location().url || '?'}`);
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}
/** A failed-resource console error of an API path answering 4xx on purpose. */
const expected4xx = (pathPrefix) => (msg) =>
  /status of 4\d\d/.test(msg.text()) && (msg.location().url || '').startsWith(BASE + pathPrefix);

// ------------------------------------------------------------------ setup
const cities = await getJson('/api/cities').then((r) => r.body?.cities || [], (e) => {
  console.log(`FAIL setup: GET ${BASE}/api/cities: ${e.cause?.code || e.message}`);
  return [];
});
const city = cities.find((c) => c.slug === process.env.NBI_TEST_CITY) || cities[0];
if (!city) {
  console.log(`FAIL setup: no city on ${BASE}/api/cities`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const [pLat, pLng] = (process.env.NBI_TEST_POINT ||
  `${(city.bounds.minLat + city.bounds.maxLat) / 2},${(city.bounds.minLng + city.bounds.maxLng) / 2}`)
  .split(',').map(Number);
console.log(`# ${BASE} city=${city.slug} point=${pLat},${pLng}`);

mkdirSync(SHOTS, { recursive: true });
const userDataDir = mkdtempSync(join(tmpdir(), 'nbi-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.NBI_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: VIEWPORT,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
context.setDefaultTimeout(15_000);

try {
  await mapTests();
  await baseLayerTests();
  await jobsTests();
  await loadErrorTests();
} catch (e) {
  aborted(e);
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
finish();

// ------------------------------------------------------------------ map page
async function mapTests() {
  const page = await context.newPage();
  // A 400 too_many_cells of /api/heatmap is the page's normal "zoom in" path.
  const errors = watchErrors(page, expected4xx('/api/heatmap?'));
  // Waits until a heatmap request started after `before` loads finished.
  const heatmapLoaded = (before) => page.waitForFunction(
    (n) => window.__nbi.heatmapLoads > n && !window.__nbi.heatmapLoading, before);
  const loads = () => page.evaluate(() => window.__nbi.heatmapLoads);

  await check('map page loads (ready, legend, attribution, city picker)', async () => {
    await page.goto(`${BASE}/`);
    await page.waitForFunction(() => window.__nbi && window.__nbi.ready === true);
    await heatmapLoaded(0);
    const view = await page.evaluate(() => window.__nbi.initialView);
    assert(view === 'extent', `with no city chosen the first view is "${view}", not the cells' extent`);
    assert(await page.getByTestId('legend').isVisible(), 'legend not visible');
    const attribution = await page.getByTestId('attribution').innerText();
    assert(attribution.includes('© OpenStreetMap contributors'), `attribution is "${attribution}"`);
    const options = await page.getByTestId('city-picker').locator('option').allTextContents();
    assert(options.includes(city.name), `city picker lacks ${city.name}: ${options}`);
    assert(await page.locator('a[href="/jobs"]').count() > 0, 'no link to /jobs');
  });

  await check('the model picker offers the walking models and the legend names the distance', async () => {
    const models = await page.getByTestId('model-select').locator('option').allTextContents();
    for (const m of ['grocery', 'blend', 'grocery-walk', 'blend-walk']) {
      assert(models.includes(m), `model picker lacks ${m}: ${models}`);
    }
    const legend = () => page.getByTestId('legend-distance').innerText();
    assert((await legend()).includes('straight line'), `legend says "${await legend()}" for grocery`);
    let before = await loads();
    await page.getByTestId('model-select').selectOption('grocery-walk');
    await heatmapLoaded(before);
    assert((await legend()).includes('walked along streets'), `legend says "${await legend()}" for grocery-walk`);
    before = await loads();
    await page.getByTestId('model-select').selectOption('grocery');
    await heatmapLoaded(before);
    assert((await legend()).includes('straight line'), 'the legend did not switch back');
  });

  let gridStep = null;
  await check('heatmap cells are drawn (state and canvas pixels)', async () => {
    // Pick the city, then zoom on the test point so any grid step fits under the cell cap.
    let before = await loads();
    await page.getByTestId('city-picker').selectOption(city.slug);
    await heatmapLoaded(before);
    before = await loads();
    // Above the tiles' zooms the cells themselves are drawn on the canvas.
    await page.evaluate(([lat, lng]) => { window.__nbi.map.setView([lat, lng], 17, { animate: false }); }, [pLat, pLng]);
    await heatmapLoaded(before);
    // The computed heatmap may be at any of the offered steps: try each, keep the richest.
    const steps = await page.getByTestId('grid-step-select').locator('option').evaluateAll(
      (os) => os.map((o) => o.value));
    const select = async (step) => {
      if (await page.getByTestId('grid-step-select').inputValue() === step) return;
      const n = await loads();
      await page.getByTestId('grid-step-select').selectOption(step);
      await heatmapLoaded(n);
    };
    let best = 0;
    for (const step of steps) {
      await select(step);
      const drawn = await page.evaluate(() => window.__nbi.cellsDrawn);
      if (drawn > best) [best, gridStep] = [drawn, step];
    }
    assert(gridStep, `no cells drawn at any grid step ${steps} ` +
      `(last error: ${await page.evaluate(() => window.__nbi.lastHeatmapError)})`);
    await select(gridStep);
    // Count heat canvas pixels of a palette colour (cells are drawn opaque; CSS fades the canvas).
    const coloured = await page.evaluate((palette) => {
      const c = document.querySelector('[data-testid="heat-canvas"]');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] < 200) continue;
        if (palette.some(([r, g, b]) => Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 12)) n++;
      }
      return n;
    }, PALETTE);
    assert(coloured > 0, 'no heatmap-coloured pixels on the heat canvas');
    console.log(`#   gridStep=${gridStep} cells=${await page.evaluate(() => window.__nbi.cellsDrawn)} colouredPixels=${coloured}`);
  });

  await check('clicking the test point shows the API score', async () => {
    const p = await page.evaluate(([lat, lng]) => {
      const pt = window.__nbi.map.latLngToContainerPoint([lat, lng]);
      const box = window.__nbi.map.getContainer().getBoundingClientRect();
      return { x: box.left + pt.x, y: box.top + pt.y };
    }, [pLat, pLng]);
    await page.mouse.click(p.x, p.y);
    await page.waitForFunction(() => window.__nbi.lastScore !== null);
    await page.getByTestId('score-panel').waitFor({ state: 'visible' });
    const { req, shown } = await page.evaluate(() => ({ req: window.__nbi.lastScoreRequest, shown: window.__nbi.lastScore }));
    assert(Math.abs(req.lat - pLat) < 1e-3 && Math.abs(req.lng - pLng) < 1e-3,
      `clicked ${req.lat},${req.lng}, expected near ${pLat},${pLng}`);
    // Ask the API ourselves for the lat/lng (and model) the page requested.
    const q = new URLSearchParams({ lat: req.lat, lng: req.lng, model: req.model });
    const { status, body } = await getJson(`/api/score?${q}`);
    assert(status === 200, `GET /api/score -> ${status}`);
    assert(shown.overall === body.overall, `page got overall ${shown.overall}, API says ${body.overall}`);
    const overall = page.getByTestId('score-overall');
    const value = await overall.getAttribute('data-value');
    assert(Number(value) === body.overall, `panel shows ${value}, API says ${body.overall}`);
    const text = (await overall.innerText()).trim();
    assert(Math.abs(Number(text) - body.overall) < 0.051, `panel text "${text}" vs ${body.overall}`);
    const rows = await page.getByTestId('score-category').count();
    assert(rows === body.categories.length, `${rows} category rows, API has ${body.categories.length}`);
    await page.screenshot({ path: join(SHOTS, 'map.png') });
  });

  await check('tiles: coloured at z=8 over > 1M computed cells and at z=13, never "too many cells"', async () => {
    const { body } = await getJson('/api/jobs?status=completed&limit=200');
    const big = (body?.jobs || []).find((j) => j.totalItems > 1_000_000 && j.metadata?.gridStep === 0.0005);
    assert(big, 'no completed job of more than 1 M cells at 0.0005 (run_with_server.sh computes one)');
    for (const zoom of [8, 13]) {
      await page.goto(`${BASE}/?lat=${pLat}&lng=${pLng}&zoom=${zoom}&gridStep=0.0005`);
      await page.waitForFunction(() => window.__nbi?.ready && window.__nbi.tilesIdle && !window.__nbi.heatmapLoading,
        null, { timeout: 30_000 });
      const shown = await page.evaluate((palette) => {
        let coloured = 0, tiles = 0;
        const c = document.createElement('canvas');
        c.width = c.height = 256;
        const ctx = c.getContext('2d', { willReadFrequently: true });
        for (const img of document.querySelectorAll('img.heat-tile')) {
          if (!img.complete || !img.naturalWidth) continue;
          tiles++;
          ctx.clearRect(0, 0, 256, 256);
          ctx.drawImage(img, 0, 0);
          const d = ctx.getImageData(0, 0, 256, 256).data;
          for (let i = 0; i < d.length; i += 4) {
            if (d[i + 3] === 255 && palette.some(([r, g, b]) => d[i] === r && d[i + 1] === g && d[i + 2] === b)) coloured++;
          }
        }
        return { coloured, tiles, errors: window.__nbi.tileErrors, status: document.querySelector('[data-testid="map-status"]').textContent };
      }, PALETTE);
      assert(shown.tiles > 0 && shown.coloured > 1000, `z=${zoom}: ${shown.tiles} tiles, ${shown.coloured} coloured pixels`);
      assert(shown.errors === 0, `z=${zoom}: ${shown.errors} tile errors`);
      const text = await page.evaluate(() => document.body.innerText);
      assert(!/too many cells/i.test(text), `z=${zoom}: the page says "too many cells"`);
      assert(await page.evaluate(() => window.__nbi.lastHeatmapError) === null, `z=${zoom}: heatmap error`);
      console.log(`#   z=${zoom}: ${shown.tiles} tiles, ${shown.coloured} coloured pixels; ${shown.status}`);
      if (zoom === 8) await page.screenshot({ path: join(SHOTS, 'map-zoomed-out.png') });
    }
  });

  await check('map page has no console errors', async () => {
    assert(errors.length === 0, errors.join(' | '));
  });
  await page.close();
}

// ------------------------------------------------------------------ base layer, outline, picker
/** Pixels of the heat tiles shown: exactly `rgba`, and any palette colour. */
function countTilePixels(page, rgba) {
  return page.evaluate(({ rgba, palette }) => {
    let match = 0, bands = 0;
    const c = document.createElement('canvas');
    c.width = c.height = 256;
    const ctx = c.getContext('2d', { willReadFrequently: true });
    for (const img of document.querySelectorAll('img.heat-tile')) {
      if (!img.complete || !img.naturalWidth) continue;
      ctx.clearRect(0, 0, 256, 256);
      ctx.drawImage(img, 0, 0);
      const d = ctx.getImageData(0, 0, 256, 256).data;
      for (let i = 0; i < d.length; i += 4) {
        // Translucent pixels come back from the canvas with their colour rounded.
        if ([0, 1, 2, 3].every((k) => Math.abs(d[i + k] - rgba[k]) <= 3)) match++;
        if (d[i + 3] === 255 && palette.some(([r, g, b]) => d[i] === r && d[i + 1] === g && d[i + 2] === b)) bands++;
      }
    }
    return { match, bands };
  }, { rgba, palette: PALETTE });
}

async function baseLayerTests() {
  const page = await context.newPage();
  const errors = watchErrors(page, expected4xx('/api/heatmap?'));
  const streetRequests = [];
  page.on('request', (r) => { if (r.url().includes('/tiles/streets/')) streetRequests.push(r.url()); });
  const idle = () => page.waitForFunction(() => window.__nbi?.ready && window.__nbi.tilesIdle &&
    window.__nbi.streetTilesIdle && !window.__nbi.heatmapLoading, null, { timeout: 30_000 });

  await check('the first view of a computed model and step shows streets and heat (screenshot pixels), the picker names the city', async () => {
    // A URL of the demo's form on the generated city (the demo's own view of its real extract:
    // tests/browser/demo_view.sh).
    await page.goto(`${BASE}/?model=grocery&gridStep=0.001`);
    await idle();
    const st = await page.evaluate(() => ({ view: window.__nbi.initialView, base: window.__nbi.baseLayer,
      streets: window.__nbi.streetTilesLoaded, zoom: window.__nbi.map.getZoom() }));
    assert(st.view === 'extent' && st.base === 'streets', `view ${st.view}, base layer ${st.base}`);
    assert(st.streets > 0 && streetRequests.length > 0, `${st.streets} street tiles drawn, ${streetRequests.length} asked for`);
    await page.waitForTimeout(400); // the tiles' fade-in
    const shot = await page.screenshot({ path: join(SHOTS, 'map-streets.png') });
    const n = await countScreenshot(page, shot);
    console.log(`#   z=${st.zoom}: ${st.streets} street tiles; screenshot: ${n.grey} street-grey, ${n.heat} heat-coloured pixels`);
    assert(n.grey > 500, `${n.grey} street-grey pixels`);
    assert(n.heat > 1000, `${n.heat} heat-coloured pixels`);
    const picked = await page.getByTestId('city-picker').inputValue();
    const shown = await page.getByTestId('city-picker').locator('option:checked').innerText();
    assert(picked === city.slug && shown === city.name, `the city picker shows "${shown}" (${picked})`);
    const meaning = await page.getByTestId('legend-meaning').innerText();
    assert(meaning.includes('grocery') && meaning.includes('0.001'), `the legend says "${meaning}"`);
  });

  await check('an area with every cell below 30 is outlined, and drawn faintly on demand', async () => {
    await page.goto(`${BASE}/?model=blend&gridStep=0.001`);
    await idle();
    const plain = await countTilePixels(page, OUTLINE);
    assert(plain.match > 200, `${plain.match} outline pixels`);
    assert(plain.bands === 0, `${plain.bands} pixels in band colours where every cell is below 30`);
    assert(await page.getByTestId('city-picker').inputValue() === 'nowhere', 'the picker does not name the area');
    await page.waitForTimeout(400);
    await page.screenshot({ path: join(SHOTS, 'map-outline.png') });
    await page.getByTestId('show-low').check();
    await page.waitForFunction(() => window.__nbi.tilesIdle, null, { timeout: 30_000 });
    const faint = await countTilePixels(page, LOW);
    assert(faint.match > 10_000, `${faint.match} faint pixels with "show < 30"`);
    await page.getByTestId('show-low').uncheck();
  });

  await check('the status over an area with every cell below 30 says so, not "0 cells"', async () => {
    // Where cells are loaded (zoom 13 and more): in the middle of the area at zoom 14.
    const { body } = await getJson('/api/cities');
    const b = body.cities.find((c) => c.slug === 'nowhere').bounds;
    const status = () => page.getByTestId('map-status').innerText();
    const reloaded = async (act) => {
      const n = await page.evaluate(() => window.__nbi.heatmapLoads);
      await act();
      await page.waitForFunction((n) => window.__nbi.heatmapLoads > n && !window.__nbi.heatmapLoading, n);
    };
    await reloaded(() => page.evaluate(([lat, lng]) => window.__nbi.map.setView([lat, lng], 14, { animate: false }),
      [(b.minLat + b.maxLat) / 2, (b.minLng + b.maxLng) / 2]));
    assert(/^0 cells ≥ 30( \(overview level \d+\))?$/.test(await status()), `status "${await status()}"`);
    await reloaded(() => page.getByTestId('show-low').check());
    const m = /^0 cells ≥ 30 of (\d+) computed( \(overview level \d+\))?$/.exec(await status());
    assert(m && Number(m[1]) > 100, `status with the cells below 30 shown: "${await status()}"`);
    console.log(`#   status: "${await status()}"`);
    await reloaded(() => page.getByTestId('show-low').uncheck());
  });

  await check('with NBI_TILE_URL the configured tiles are requested, the street tiles are not', async () => {
    assert(TILE_URL_BASE && TEST_TILE_PORT, 'NBI_TILE_URL_BASE / NBI_TEST_TILE_PORT not set (run_with_server.sh)');
    const asked = [];
    // A 1x1 transparent PNG for every tile.
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=', 'base64');
    const server = createServer((req, res) => {
      asked.push(req.url);
      res.writeHead(200, { 'Content-Type': 'image/png' });
      res.end(png);
    });
    await new Promise((ok) => server.listen(TEST_TILE_PORT, '127.0.0.1', ok));
    const other = await context.newPage();
    const streets = [];
    other.on('request', (r) => { if (r.url().includes('/tiles/streets/')) streets.push(r.url()); });
    try {
      await other.goto(`${TILE_URL_BASE}/?lat=${pLat}&lng=${pLng}&zoom=14`);
      await other.waitForFunction(() => window.__nbi?.ready && window.__nbi.tilesIdle, null, { timeout: 30_000 });
      const deadline = Date.now() + 10_000;
      while (asked.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const base = await other.evaluate(() => window.__nbi.baseLayer);
      assert(base === 'url', `base layer ${base}`);
      assert(asked.length > 0 && asked.every((u) => /^\/14\/\d+\/\d+\.png$/.test(u)), `tile server asked for ${asked.slice(0, 3)}`);
      assert(streets.length === 0, `street tiles requested: ${streets.slice(0, 3)}`);
      console.log(`#   ${asked.length} tiles from the configured server, 0 street tiles`);
    } finally {
      await other.close();
      server.close();
    }
  });

  await check('base layer pages have no console errors', async () => {
    assert(errors.length === 0, errors.join(' | '));
  });
  await page.close();
}

// ------------------------------------------------------------------ jobs page
async function jobsTests() {
  const page = await context.newPage();
  // The bad-input check makes /api/heatmap/schedule answer 400 on purpose.
  const errors = watchErrors(page, expected4xx('/api/heatmap/schedule'));
  const row = (id) => page.locator(`tr[data-job-id="${id}"]`);
  const statusOf = (id) => row(id).getByTestId('job-status').innerText();
  const waitStatus = (id, status, timeout = 30_000) => page.waitForFunction(
    ([id, status]) => document.querySelector(`tr[data-job-id="${id}"] [data-testid="job-status"]`)?.textContent === status,
    [String(id), status], { timeout });

  /** Fills and submits the schedule form; returns the job id shown in the result. */
  async function schedule({ citySlug = '', bounds, gridStep, model = 'grocery', allowError = false }) {
    await page.getByTestId('schedule-city').selectOption(citySlug);
    if (bounds) {
      for (const k of ['minLat', 'minLng', 'maxLat', 'maxLng']) await page.getByTestId(`schedule-${k}`).fill(String(bounds[k]));
    }
    await page.getByTestId('schedule-gridStep').fill(String(gridStep));
    await page.getByTestId('schedule-model').selectOption(model);
    await page.getByTestId('schedule-result').evaluate((el) => { el.textContent = ''; });
    await page.getByTestId('schedule-submit').click();
    await page.waitForFunction(() =>
      document.querySelector('[data-testid="schedule-result"]').textContent ||
      document.querySelector('[data-testid="schedule-error"]').textContent);
    const err = await page.getByTestId('schedule-error').innerText();
    if (err && allowError) return { error: err };
    assert(!err, `schedule failed: ${err}`);
    const text = await page.getByTestId('schedule-result').innerText();
    assert(/^Job #\d+ (scheduled|already active)$/.test(text), `result "${text}"`);
    return Number(await page.getByTestId('schedule-result').getAttribute('data-job-id'));
  }
  /**
   * Schedules a long job: 0.2° x 0.2° around the test point (whatever the city's size) at the
   * finest grid step the server accepts (4M cells at 0.0001°).
   */
  async function scheduleBig(model) {
    const d = 0.1, r6 = (v) => +v.toFixed(6);
    const bounds = { minLat: r6(Math.max(-90, pLat - d)), minLng: r6(Math.max(-180, pLng - d)),
                     maxLat: r6(Math.min(90, pLat + d)), maxLng: r6(Math.min(180, pLng + d)) };
    const tried = [];
    for (const gridStep of [0.0001, 0.0002, 0.0005, 0.001]) {
      const r = await schedule({ bounds, gridStep, model, allowError: true });
      if (typeof r === 'number') return r;
      tried.push(`${gridStep}: ${r.error}`);
    }
    throw new Error(`could not schedule a big job: ${tried.join('; ')}`);
  }

  await check('jobs page loads (table, form, link to map)', async () => {
    await page.goto(`${BASE}/jobs`);
    await page.waitForFunction(() => window.__nbiJobs?.ready && window.__nbiJobs.refreshes > 0);
    assert(await page.getByTestId('jobs-table').isVisible(), 'no jobs table');
    assert(await page.getByTestId('schedule-form').isVisible(), 'no schedule form');
    assert(await page.locator('a[href="/"]').count() > 0, 'no link to the map');
  });

  // ?bounds= prefills the bounds inputs (the map's "Schedule this view" link).
  await check('?bounds= prefills the schedule form', async () => {
    await page.goto(`${BASE}/jobs?bounds=1.5,2.5,3.5,4.5`);
    await page.waitForFunction(() => window.__nbiJobs?.ready);
    const v = await Promise.all(['minLat', 'minLng', 'maxLat', 'maxLng'].map((k) => page.getByTestId(`schedule-${k}`).inputValue()));
    assert(v.join(',') === '1.5,2.5,3.5,4.5', `inputs hold ${v}`);
    assert(await page.getByTestId('schedule-city').inputValue() === '', 'a city is selected');
    await page.goto(`${BASE}/jobs`);
    await page.waitForFunction(() => window.__nbiJobs?.ready && window.__nbiJobs.refreshes > 0);
  });

  let smallId = null;
  await check('a small scheduled job reaches 100% (live progress bar)', async () => {
    const d = 0.004; // 8 x 8 cells at 0.001
    smallId = await schedule({
      bounds: { minLat: +(pLat - d).toFixed(6), minLng: +(pLng - d).toFixed(6), maxLat: +(pLat + d).toFixed(6), maxLng: +(pLng + d).toFixed(6) },
      gridStep: 0.001,
    });
    await row(smallId).waitFor();
    await page.waitForFunction((id) => {
      const bar = document.querySelector(`tr[data-job-id="${id}"] [data-testid="job-progress"]`);
      return bar?.getAttribute('aria-valuenow') === '100' && bar.textContent.includes('100%');
    }, String(smallId), { timeout: SMALL_JOB_TIMEOUT });
    await waitStatus(smallId, 'completed', 10_000);
  });

  await check('unchanged rows are not re-rendered', async () => {
    assert(smallId, 'no completed job to watch');
    // Tag the completed row's cells, wait two refreshes, and check the very same nodes remain.
    await row(smallId).evaluate((tr) => [...tr.cells].forEach((td) => { td.__tag = 1; }));
    const r0 = await page.evaluate(() => window.__nbiJobs.refreshes);
    await page.waitForFunction((r) => window.__nbiJobs.refreshes >= r + 2, r0);
    const kept = await row(smallId).evaluate((tr) => [...tr.cells].every((td) => td.__tag === 1));
    assert(kept, 'the completed job row was rebuilt');
  });

  await check('cancel a pending/running job via its button, then retry and cancel again', async () => {
    // Two long jobs: the worker is busy with the first, so the second is still pending (or
    // just started, with several workers) when its Cancel button is clicked.
    const busyId = await scheduleBig('blend');
    const id = await scheduleBig('grocery');
    await row(id).getByTestId('job-cancel').click();
    await waitStatus(id, 'cancelled');
    assert(await statusOf(id) === 'cancelled', 'status is not cancelled');
    // Stop the busy one too (unless it already finished) so it does not hog the worker.
    await row(busyId).getByTestId('job-cancel').click({ timeout: 3000 }).catch(() => {});
    await page.waitForFunction((id) => ['cancelled', 'completed'].includes(
      document.querySelector(`tr[data-job-id="${id}"] [data-testid="job-status"]`)?.textContent), String(busyId),
      { timeout: 30_000 });
    // Retry: back to pending/running, then cancel again.
    await row(id).getByTestId('job-retry').click();
    await page.waitForFunction((id) => ['pending', 'running'].includes(
      document.querySelector(`tr[data-job-id="${id}"] [data-testid="job-status"]`)?.textContent), String(id));
    await row(id).getByTestId('job-cancel').click();
    await waitStatus(id, 'cancelled');
  });

  await check('bad input (gridStep 5) shows the API error message', async () => {
    await page.getByTestId('schedule-city').selectOption(city.slug);
    await page.getByTestId('schedule-gridStep').fill('5');
    await page.getByTestId('schedule-model').selectOption('grocery');
    await page.getByTestId('schedule-submit').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="schedule-error"]').textContent !== '');
    const shown = await page.getByTestId('schedule-error').innerText();
    const { status, body } = await getJson('/api/heatmap/schedule', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ citySlug: city.slug, gridStep: 5, model: 'grocery' }),
    });
    assert(status >= 400 && status < 500, `API answered ${status}`);
    assert(shown === body.error.message, `page shows "${shown}", API says "${body.error.message}"`);
    assert(await page.getByTestId('schedule-result').innerText() === '', 'a success message is shown too');
    await page.screenshot({ path: join(SHOTS, 'jobs.png'), fullPage: true });
  });

  await check('jobs page has no console errors', async () => {
    assert(errors.length === 0, errors.join(' | '));
  });
  await page.close();
}

// ------------------------------------------------------------------ scripts that cannot load
async function loadErrorTests() {
  for (const [path, blocked, detail] of [
    ['/', '/vendor/leaflet/leaflet.js', 'Leaflet'],
    ['/', '/static/map.js', 'did not load'],
    ['/jobs', '/static/jobs.js', 'did not load'],
  ]) {
    await check(`${path} shows an error banner when ${blocked} cannot load`, async () => {
      const page = await context.newPage();
      try {
        await page.route(`${BASE}${blocked}`, (route) => route.abort());
        await page.goto(`${BASE}${path}`);
        const banner = page.getByTestId('load-error');
        await banner.waitFor({ state: 'visible', timeout: 5_000 });
        const text = await banner.innerText();
        assert(text.includes(detail), `banner says "${text}"`);
      } finally {
        await page.close();
      }
    });
  }
  await check('no error banner when every script loads', async () => {
    const page = await context.newPage();
    try {
      await page.goto(`${BASE}/`);
      await page.waitForFunction(() => window.__nbi && window.__nbi.ready === true);
      assert(await page.getByTestId('load-error').isHidden(), 'banner shown on a healthy page');
    } finally {
      await page.close();
    }
  });
}
