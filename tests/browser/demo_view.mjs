// The demo's view in headless Chromium: the URL scripts/demo.sh prints, on what it computes
// (tests/browser/demo_view.sh sets this up).
//
//   NBI_BASE_URL=http://127.0.0.1:18080 NBI_DEMO_QUERY='?model=blend&gridStep=0.001&low=1' \
//     NBI_TEST_CITY=liechtenstein node tests/browser/demo_view.mjs
//
// Counts the screenshot's pixels with the rule of the other browser tests and of the demo's
// own screenshot (scripts/map_pixels.mjs). Prints "N passed, N failed"; exits non-zero on any
// failure.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countScreenshot, waitForMap } from '../../scripts/map_pixels.mjs';
import { aborted, assert, check, finish } from './harness.mjs';

const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url));
const { chromium } = createRequire(join(WEB_DIR, 'package.json'))('playwright-core');
const BASE = (process.env.NBI_BASE_URL || '').replace(/\/+$/, '');
const QUERY = process.env.NBI_DEMO_QUERY || '';
const CITY = process.env.NBI_TEST_CITY || '';
if (!BASE || !QUERY.startsWith('?') || !CITY) {
  console.error('NBI_BASE_URL, NBI_DEMO_QUERY (?model=…) and NBI_TEST_CITY must be set');
  process.exit(2);
}
// The counted map area of a 1280 x 800 screenshot (scripts/map_pixels.mjs).
const AREA = { x0: 260, y0: 90, x1: 1270, y1: 760 };


const userDataDir = mkdtempSync(join(tmpdir(), 'nbi-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.NBI_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
context.setDefaultTimeout(15_000);
try {
  await demoViewTests();
} catch (e) {
  aborted(e);
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
finish();

async function demoViewTests() {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(msg.text()); });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  const { cities } = await (await fetch(`${BASE}/api/cities`)).json();
  const city = cities.find((c) => c.slug === CITY);
  assert(city, `no city ${CITY} on ${BASE}`);
  console.log(`# ${BASE}/${QUERY}`);

  await check('the demo URL shows the whole computed country: streets, heat, cells below 30', async () => {
    await page.goto(`${BASE}/${QUERY}`);
    await waitForMap(page, 30_000);
    const st = await page.evaluate(() => ({ view: window.__nbi.initialView, base: window.__nbi.baseLayer,
      streets: window.__nbi.streetTilesLoaded, zoom: window.__nbi.map.getZoom() }));
    assert(st.view === 'extent' && st.base === 'streets', `view ${st.view}, base layer ${st.base}`);
    assert(st.streets > 0, `${st.streets} street tiles drawn`);
    const picked = await page.getByTestId('city-picker').inputValue();
    assert(picked === city.slug, `the city picker shows "${picked}", not ${city.slug}`);
    // The city's box on the screen, within the counted area: what the demo computed.
    const box = await page.evaluate(({ b, a }) => {
      const m = window.__nbi.map;
      const nw = m.latLngToContainerPoint([b.maxLat, b.minLng]), se = m.latLngToContainerPoint([b.minLat, b.maxLng]);
      const w = Math.min(se.x, a.x1) - Math.max(nw.x, a.x0), h = Math.min(se.y, a.y1) - Math.max(nw.y, a.y0);
      return Math.max(0, w) * Math.max(0, h);
    }, { b: city.bounds, a: AREA });
    const n = await countScreenshot(page, await page.screenshot());
    const shown = (n.heat + n.faint) / box;
    console.log(`#   z=${st.zoom}, the box ${Math.round(box)} pixels: ${n.heat} heat, ${n.faint} faint ` +
      `(${(100 * shown).toFixed(1)} % of the box shows a cell), ${n.grey} street-grey, ${n.outline} outline`);
    assert(box > 50_000, `the computed box covers only ${Math.round(box)} pixels of the view`);
    // Before it opened with the cells below 30 faint, the demo showed 855 heat pixels and
    // nothing else of its 40,800 cells (0.8 % of the box).
    assert(shown > 0.8, `only ${(100 * shown).toFixed(1)} % of the computed box shows its cells`);
    assert(n.heat > 500, `${n.heat} heat-coloured pixels`);
    assert(n.grey > 2000, `${n.grey} street-grey pixels`);
  });

  await check('zoomed in on its heat, the status counts the coloured cells of the computed ones', async () => {
    // The best cell of the demo's model and step, at zoom 14 (cells are loaded from zoom 13).
    const shown = new URLSearchParams(QUERY);
    const b = city.bounds;
    const q = new URLSearchParams({ minLat: b.minLat, minLng: b.minLng, maxLat: b.maxLat, maxLng: b.maxLng,
      gridStep: shown.get('gridStep'), model: shown.get('model'), minScore: 30 });
    const { cells } = await (await fetch(`${BASE}/api/heatmap?${q}`)).json();
    assert(cells.length > 0, 'no cell of 30 or more');
    const best = cells.reduce((a, c) => (c.score > a.score ? c : a));
    const status = () => page.getByTestId('map-status').innerText();
    const reloaded = async (act) => {
      const n = await page.evaluate(() => window.__nbi.heatmapLoads);
      await act();
      await page.waitForFunction((n) => window.__nbi.heatmapLoads > n && !window.__nbi.heatmapLoading, n);
    };
    await reloaded(() => page.evaluate(([lat, lng]) => window.__nbi.map.setView([lat, lng], 14, { animate: false }),
      [best.lat, best.lng]));
    // As the demo opens it, then with the faint control the other way.
    const low = await page.getByTestId('show-low').isChecked();
    const texts = { [low]: await status() };
    await reloaded(() => page.getByTestId('show-low').setChecked(!low));
    texts[!low] = await status();
    console.log(`#   at ${best.lat},${best.lng} (score ${best.score}): "${texts[true]}" / "${texts[false]}"`);
    const all = /^(\d+) cells ≥ 30 of (\d+) computed$/.exec(texts[true]);
    assert(all && Number(all[1]) > 0 && Number(all[2]) > Number(all[1]), `with the cells below 30: "${texts[true]}"`);
    assert(texts[false] === `${all[1]} cells ≥ 30`, `without them: "${texts[false]}"`);
  });

  await check('the demo view has no console errors', async () => {
    assert(errors.length === 0, errors.join(' | '));
  });
  await page.close();
}
