// Screenshot of the map page, for scripts/demo.sh: headless Chromium (Debian's) through
// playwright-core from web/node_modules, the flags of the browser tests.
//   node scripts/demo_screenshot.mjs URL OUT.png
// Waits until the page is ready and its heat and street tiles have loaded (at most 60 s), then
// prints what the picture shows: its street-grey, heat-coloured and faint pixels (the browser
// tests' rule, scripts/map_pixels.mjs) and the map's status line.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countScreenshot, waitForMap } from './map_pixels.mjs';

const [url, out] = process.argv.slice(2);
if (!url || !out) {
  console.error('usage: demo_screenshot.mjs URL OUT.png');
  process.exit(2);
}
const WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));
const { chromium } = createRequire(join(WEB_DIR, 'package.json'))('playwright-core');
const userDataDir = mkdtempSync(join(tmpdir(), 'nbi-demo-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.NBI_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 800 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
try {
  const page = await context.newPage();
  await page.goto(url);
  await waitForMap(page);
  const png = await page.screenshot({ path: out });
  const s = await page.evaluate(() => ({ zoom: window.__nbi.map.getZoom(), heat: window.__nbi.tilesLoaded,
    streets: window.__nbi.streetTilesLoaded, city: document.querySelector('#city option:checked')?.textContent,
    status: document.querySelector('[data-testid="map-status"]')?.textContent }));
  const n = await countScreenshot(page, png);
  const pct = (k) => (100 * k / n.total).toFixed(1);
  console.log(`${out}: zoom ${s.zoom}, ${s.heat} heat tiles, ${s.streets} street tiles, city picker "${s.city}"`);
  console.log(`  pixels of the map area: ${n.heat} heat-coloured (${pct(n.heat)} %), ${n.faint} faint below 30 ` +
    `(${pct(n.faint)} %), ${n.grey} street-grey (${pct(n.grey)} %), ${n.outline} outline` +
    `${s.status ? `; status "${s.status}"` : ''}`);
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
