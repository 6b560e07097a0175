// Jobs page: live table of recent jobs (polled every second, only changed cells are
// re-rendered), cancel/retry buttons, and the "Schedule heatmap" form.
import { api, fmtTime, h, parseBounds } from './common.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const REFRESH_MS = 1000;

// Exposed to the browser tests.
const stats = (window.__nbiJobs = { refreshes: 0, cellRenders: 0, ready: false });

// ------------------------------------------------------------------ table
// Each column lists the job fields it shows: a cell is rebuilt only when one of them changed.
const COLUMNS = [
  { fields: ['id', 'metadata'], render: (j) => {
    const b = j.metadata?.bounds;
    if (!b) return String(j.id);
    const q = new URLSearchParams({ bounds: [b.minLat, b.minLng, b.maxLat, b.maxLng].join(',') });
    if (j.metadata.gridStep) q.set('gridStep', j.metadata.gridStep);
    return h('a', { href: `/?${q}`, title: 'Show this area on the map' }, `#${j.id}`);
  } },
  { fields: ['type', 'metadata'], render: (j) => {
    const m = j.metadata || {};
    return h('span', {}, j.type, m.gridStep ? h('span', { class: 'muted' }, ` ${m.gridStep}° ${m.model || ''}`) : null);
  } },
  { fields: ['status', 'cancelRequested'], render: (j) =>
    h('span', { class: `badge ${j.status}`, dataset: { testid: 'job-status' } }, j.status) },
  { fields: ['progress'], render: (j) => {
    const p = Math.max(0, Math.min(100, Number(j.progress) || 0));
    return h('div', {
      class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100,
      'aria-valuenow': p, dataset: { testid: 'job-progress' },
    }, h('div', { class: 'fill', style: `width:${p}%` }), h('span', { class: 'pct' }, `${p}%`));
  } },
  { fields: ['processedItems', 'totalItems', 'metadata'], render: (j) => {
    const done = j.processedItems ?? j.metadata?.lastProcessedIndex ?? 0;
    return `${done.toLocaleString()} / ${(j.totalItems ?? 0).toLocaleString()}`;
  } },
  { fields: ['createdAt'], render: (j) => timeCell(j.createdAt) },
  { fields: ['startedAt'], render: (j) => timeCell(j.startedAt) },
  { fields: ['completedAt'], render: (j) => timeCell(j.completedAt) },
  { fields: ['error'], render: (j) =>
    j.error ? h('span', { class: 'error', title: j.error, dataset: { testid: 'job-error' } }, j.error) : '' },
  { fields: ['status', 'cancelRequested'], render: (j) => {
    const active = j.status === 'pending' || j.status === 'running';
    if (active && j.cancelRequested) return h('span', { class: 'muted' }, 'cancelling…');
    if (active) {
      return h('button', { type: 'button', dataset: { testid: 'job-cancel' },
        onclick: (e) => act(j.id, 'cancel', e.currentTarget) }, 'Cancel');
    }
    if (j.status === 'failed' || j.status === 'cancelled') {
      return h('button', { type: 'button', dataset: { testid: 'job-retry' },
        onclick: (e) => act(j.id, 'retry', e.currentTarget) }, 'Retry');
    }
    return '';
  } },
];

/** A timestamp as date (small, above) and time; the ISO value in the tooltip. */
function timeCell(iso) {
  const t = fmtTime(iso);
  if (!t) return '';
  const [date, time] = t.split(' ');
  return h('time', { datetime: iso, title: iso }, h('span', { class: 'time-date' }, date), time);
}

const rows = new Map(); // job id -> {tr, sigs: [per-column signature]}
const colSig = (job, col) => JSON.stringify(col.fields.map((f) => job[f]));

function renderJobs(jobs) {
  const tbody = $('jobs');
  const seen = new Set();
  jobs.forEach((job, i) => {
    seen.add(job.id);
    let row = rows.get(job.id);
    if (!row) {
      const tr = h('tr', { dataset: { testid: 'job-row', jobId: job.id } }, COLUMNS.map(() => h('td')));
      row = { tr, sigs: [] };
      rows.set(job.id, row);
    }
    row.tr.dataset.status = job.status;
    COLUMNS.forEach((col, c) => {
      const sig = colSig(job, col);
      if (row.sigs[c] === sig) return; // unchanged: leave the DOM alone
      row.sigs[c] = sig;
      row.tr.children[c].replaceChildren(col.render(job));
      stats.cellRenders++;
    });
    // Keep the API's order (newest first) while moving as few nodes as possible.
    if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
  });
  for (const [id, row] of rows) {
    if (!seen.has(id)) {
      row.tr.remove();
      rows.delete(id);
    }
  }
  $('empty').hidden = jobs.length > 0;
}

// One refresh at a time; refreshNow() runs one at once (or right after the current one).
let timer = 0, inFlight = false, again = false;
async function refresh() {
  clearTimeout(timer);
  if (inFlight) {
    again = true;
    return;
  }
  inFlight = true;
  try {
    const q = new URLSearchParams({ limit: 50 });
    if ($('filter').value) q.set('status', $('filter').value);
    const { data } = await api(`/api/jobs?${q}`);
    renderJobs(data.jobs || []);
    $('jobs-status').textContent = '';
  } catch (e) {
    $('jobs-status').textContent = `Could not load jobs: ${e.message}`;
  } finally {
    inFlight = false;
    stats.refreshes++;
    if (again) {
      again = false;
      refresh();
    } else {
      timer = setTimeout(refresh, REFRESH_MS);
    }
  }
}

async function act(id, action, button) {
  button.disabled = true;
  try {
    await api(`/api/jobs/${id}/${action}`, { method: 'POST' });
    $('jobs-status').textContent = '';
  } catch (e) {
    $('jobs-status').textContent = `Job #${id} ${action}: ${e.message}`;
    button.disabled = false;
  }
  refresh();
}

$('filter').addEventListener('change', () => {
  // Rows of another filter would linger in the wrong order; start afresh.
  $('jobs').replaceChildren();
  rows.clear();
  refresh();
});

// ------------------------------------------------------------------ schedule form
const boundsInputs = ['minLat', 'minLng', 'maxLat', 'maxLng'].map((k) => [k, $(`s-${k}`)]);

function syncBoundsEnabled() {
  $('s-bounds').disabled = $('s-city').value !== '';
}

/** Empty input -> null (the API reports the missing value), else the number typed. */
const numberOf = (input) => (input.value.trim() === '' ? null : Number(input.value));

async function submitSchedule(e) {
  e.preventDefault();
  const result = $('s-result'), error = $('s-error');
  result.textContent = '';
  delete result.dataset.jobId;
  error.textContent = '';
  const body = { gridStep: numberOf($('s-gridStep')), model: $('s-model').value };
  if ($('s-city').value) body.citySlug = $('s-city').value;
  else body.bounds = Object.fromEntries(boundsInputs.map(([k, input]) => [k, numberOf(input)]));

  const button = e.submitter || $('schedule').querySelector('button');
  button.disabled = true;
  try {
    const { status, data } = await api('/api/heatmap/schedule', { method: 'POST', body });
    const isNew = data.isNew ?? status === 201;
    result.textContent = isNew ? `Job #${data.jobId} scheduled` : `Job #${data.jobId} already active`;
    result.dataset.jobId = data.jobId;
    refresh();
  } catch (err) {
    error.textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

async function start() {
  let config = {};
  let cities = [];
  try {
    ({ data: config } = await api('/api/config'));
  } catch (e) {
    $('s-error').textContent = `Config: ${e.message}`;
  }
  try {
    ({ data: { cities = [] } } = await api('/api/cities'));
  } catch (e) {
    $('s-error').textContent = `Cities: ${e.message}`;
  }

  const steps = config.gridSteps?.length ? config.gridSteps : [0.0025, 0.001, 0.0005];
  $('grid-steps').replaceChildren(...steps.map((s) => h('option', { value: s })));
  $('s-gridStep').value = params.get('gridStep') || config.defaultGridStep || steps[0];
  const models = config.models?.length ? config.models : ['grocery', 'blend'];
  const model = models.includes(params.get('model')) ? params.get('model') : models[0];
  $('s-model').replaceChildren(...models.map((m) => h('option', { value: m, selected: m === model }, m)));
  $('s-city').append(...cities.map((c) => h('option', { value: c.slug }, c.name)));

  // ?bounds=minLat,minLng,maxLat,maxLng (the map's "Schedule this view") selects custom bounds.
  const b = parseBounds(params.get('bounds'));
  if (b) {
    for (const [k, input] of boundsInputs) input.value = b[k];
  } else if (cities.length) {
    $('s-city').value = cities[0].slug;
  }
  syncBoundsEnabled();
  $('s-city').addEventListener('change', syncBoundsEnabled);
  $('schedule').addEventListener('submit', submitSchedule);
  stats.ready = true;
}

start();
refresh();
