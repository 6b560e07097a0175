// Helpers shared by the map page (map.js) and the jobs page (jobs.js).

// The original app's heatmap colour scale, highest band first: [minScore, colour, label].
// Scores below 30 are not drawn (transparent).
export const SCALE = [
  [92, '#9333ea', '92–100'], // purple
  [88, '#8b5cf6', '88–91'], // violet
  [84, '#22d3ee', '84–87'], // cyan
  [78, '#14b8a6', '78–83'], // teal
  [70, '#16a34a', '70–77'], // green
  [60, '#4ade80', '60–69'], // light green
  [45, '#a3e635', '45–59'], // lime
  [30, '#facc15', '30–44'], // yellow
];
export const MIN_DRAWN_SCORE = 30;

/** Colour of a score, or null below 30. */
export function colourFor(score) {
  for (const [min, colour] of SCALE) if (score >= min) return colour;
  return null;
}

/** An API error: HTTP status plus the {"error": {"code", "message"}} body. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * fetch() + JSON for the NearbyIndex API. Resolves to {status, data};
 * throws ApiError on a non-2xx answer (message taken from the error JSON when present).
 */
export async function api(path, { method = 'GET', body, signal } = {}) {
  const init = { method, signal, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON: keep data null, the status decides.
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(res.status, err.code || `http_${res.status}`,
                       err.message || `${res.status} ${res.statusText || 'error'}`.trim());
  }
  return { status: res.status, data };
}

/** Tiny DOM builder: h('td', {class: 'x', dataset: {testid: 'y'}}, 'text', childNode). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style') el.style.cssText = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

/** Calls fn once `ms` after the last call. */
export function debounce(fn, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** "850 m" / "1.2 km"; "–" for null. */
export function fmtDistance(m) {
  if (m === null || m === undefined || !Number.isFinite(m)) return '–';
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`;
}

/** ISO timestamp -> "YYYY-MM-DD HH:MM:SS" in local time; "" for null. */
export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
         `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Parses "minLat,minLng,maxLat,maxLng" into a bounds object, or null. */
export function parseBounds(s) {
  if (!s) return null;
  const v = s.split(',').map(Number);
  if (v.length !== 4 || v.some((x) => !Number.isFinite(x))) return null;
  return { minLat: v[0], minLng: v[1], maxLat: v[2], maxLng: v[3] };
}
