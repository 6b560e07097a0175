// The pixel classes of a screenshot of the map page (1280 x 800), one rule for the demo's
// screenshot (scripts/demo_screenshot.mjs) and the browser tests (tests/browser/*.mjs):
// street grey, heat (a band colour of the scale), faint (a cell below 30 shown faintly) and the
// computed area's outline.
// Counted in the map area clear of the controls, in the page (the browser decodes the PNG).
// The same wait before the picture, too.

// The map's background, the bands of the spec's scale (web/public/common.js SCALE), the outline
// and the faint cells below 30 (src/tiles/tiles.h kOutlineRgba, kLowRgba).
export const MAP_BG = [0xee, 0xf2, 0xf0];
export const OUTLINE = [0x33, 0x41, 0x55, 0xff];
export const LOW = [0x94, 0xa3, 0xb8, 0x8c];
export const PALETTE = ['#facc15', '#a3e635', '#4ade80', '#16a34a', '#14b8a6', '#22d3ee', '#8b5cf6', '#9333ea']
  .map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
// The heat tiles' layer opacity (web/public/map.js).
const HEAT_OPACITY = 0.6;

/** Waits until the map page is ready and its heat and street tiles have loaded. */
export async function waitForMap(page, timeout = 60_000) {
  await page.waitForFunction(() => window.__nbi?.ready && window.__nbi.tilesIdle &&
    window.__nbi.streetTilesIdle !== false && !window.__nbi.heatmapLoading, null, { timeout });
  await page.waitForTimeout(300); // the last tiles' fade-in
}

/** {grey, heat, faint, outline, total}: pixels of `png` (a screenshot of `page`'s size) of each class. */
export function countScreenshot(page, png) {
  return page.evaluate(async ({ b64, palette, bg, low, outline, opacity }) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    // Right of the legend, below the toolbar, above the attribution.
    const x0 = 260, y0 = 90, w = c.width - x0 - 10, hgt = c.height - y0 - 40;
    const d = ctx.getImageData(x0, y0, w, hgt).data;
    // Heat tiles are drawn at 60 % opacity over the map's background; a faint cell's own alpha
    // comes on top of that.
    const over = (rgb, a) => rgb.map((v, k) => Math.round(a * v + (1 - a) * bg[k]));
    const blended = palette.map((p) => over(p, opacity));
    const faintRgb = over(low.slice(0, 3), opacity * low[3] / 255);
    const near = (r, g, b, [R, G, B]) => Math.abs(r - R) + Math.abs(g - G) + Math.abs(b - B) <= 12;
    const isGrey = (r, g, b) => {
      const mean = (r + g + b) / 3;
      return Math.max(r, g, b) - Math.min(r, g, b) <= 16 && mean >= 110 && mean <= 215;
    };
    // A street seen through the faint cells: the pixel with the faint layer taken off is grey.
    const a = opacity * low[3] / 255;
    const under = (v, k) => (v - a * low[k]) / (1 - a);
    const outlineRgb = over(outline.slice(0, 3), opacity);
    let grey = 0, heat = 0, faint = 0, edge = 0;
    for (let i = 0; i < d.length; i += 4) {
      const r = d[i], g = d[i + 1], b = d[i + 2];
      // The faint colour and the outline are nearly grey themselves: they are told apart first.
      if (near(r, g, b, faintRgb)) faint++;
      else if (near(r, g, b, outlineRgb)) edge++;
      else if (isGrey(r, g, b) || isGrey(under(r, 0), under(g, 1), under(b, 2))) grey++;
      else if (blended.some((p) => near(r, g, b, p))) heat++;
    }
    return { grey, heat, faint, outline: edge, total: d.length / 4 };
  }, { b64: png.toString('base64'), palette: PALETTE, bg: MAP_BG, low: LOW, outline: OUTLINE,
       opacity: HEAT_OPACITY });
}
