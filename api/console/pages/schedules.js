// Schedules: every schedule with its cron in words, time zone, next three fires and last run;
// pause / resume / run now / edit / delete; a create-and-edit form that checks the cron while
// typing (`cronPreview`, 250 ms after the last key) and previews the next fires.
import { html, useState, useEffect } from '../lib/html.js';
import { gql, useQuery, report, canWrite, useShared, GqlError } from '../lib/gql.js';
import {
  Time, Status, label, sourceLabel, link, Empty, Dialog, parseJson, paramsToInput, paramsTemplate,
  ParamHelp, useDebounced, normParams, PARAM_NAMES,
} from '../lib/ui.js';
import { paramSummary } from './runs.js';

const FIELDS = `id databaseId name source params cron cronDescription timeZone enabled nextFireAt lastFireAt
  jitterSeconds overlapPolicy misfirePolicy maxAttempts retryBackoffSeconds
  upcomingFires(count: 3) lastRun { id databaseId status queuedAt }`;

const LIST = `query Schedules($after: String) {
  schedules(first: 100, after: $after) { nodes { ${FIELDS} } pageInfo { hasNextPage endCursor } }
}`;
const SOURCES = `query ScheduleSources { sources { source name description requiresOneOf params { name description required allowedValues } } }`;
const PAUSE = `mutation Pause($id: ID!) { pauseSchedule(id: $id) { id } }`;
const RESUME = `mutation Resume($id: ID!) { resumeSchedule(id: $id) { id } }`;
const RUN_NOW = `mutation RunNow($id: ID!) { runScheduleNow(id: $id) { id status } }`;
const DELETE = `mutation Delete($id: ID!) { deleteSchedule(id: $id) }`;
const CREATE = `mutation Create($input: CreateScheduleInput!) { createSchedule(input: $input) { id } }`;
const UPDATE = `mutation Update($id: ID!, $input: UpdateScheduleInput!) { updateSchedule(id: $id, input: $input) { id } }`;
const PREVIEW = `query Preview($cron: String!, $timeZone: String) { cronPreview(cron: $cron, timeZone: $timeZone, count: 3) { description fires } }`;

/** Every schedule: pages of 100 until the end. */
async function loadAll() {
  const all = [];
  let after = null;
  for (let i = 0; i < 50; i++) {
    const { schedules } = await gql(LIST, { after });
    all.push(...schedules.nodes);
    if (!schedules.pageInfo.hasNextPage) break;
    after = schedules.pageInfo.endCursor;
  }
  return all;
}

export function Schedules() {
  const shared = useShared();
  const [tick, setTick] = useState(0);
  const [list, setList] = useState({ rows: null, settled: false });
  const sources = useQuery(SOURCES, {}, []);
  const [editing, setEditing] = useState(null); // null | 'new' | schedule
  const [notice, setNotice] = useState('');
  const [busy, setBusy] = useState('');

  useEffect(() => {
    loadAll().then(
      (rows) => setList({ rows, settled: true }),
      (err) => {
        report(err, 'schedules');
        setList((l) => ({ ...l, settled: true }));
      },
    );
  }, [tick, shared.authVersion]);

  const writable = canWrite();
  const act = async (key, mutation, s, what, after) => {
    setBusy(key);
    try {
      const data = await gql(mutation, { id: s.id });
      if (after) after(data);
      setTick((t) => t + 1);
    } catch (err) {
      report(err, `${what} “${s.name}”`);
    } finally {
      setBusy('');
    }
  };
  const sourceList = sources.data ? sources.data.sources : [];
  const rows = list.rows;

  return html`<section class="page" data-testid="page-schedules" data-ready=${list.settled ? 'true' : undefined}>
    <div class="page-head">
      <h1>Schedules</h1>
      <button type="button" class="primary" data-testid="schedule-new" disabled=${!writable}
        title=${writable ? 'Create a schedule' : 'Needs the API token'} onClick=${() => setEditing('new')}>New schedule…</button>
    </div>
    ${notice && html`<div class="banner info" role="status">${notice} <button type="button" class="icon" aria-label="Dismiss" onClick=${() => setNotice('')}>×</button></div>`}
    <div class="table-wrap">
      <table data-testid="schedules-table">
        <caption class="sr-only">Schedules, oldest first</caption>
        <thead><tr>
          <th scope="col">Name</th><th scope="col">Source</th><th scope="col">When</th><th scope="col">Next fires</th>
          <th scope="col">Last run</th><th scope="col">State</th><th scope="col">Actions</th>
        </tr></thead>
        <tbody>
          ${rows && rows.map((s) => html`<tr key=${s.id} data-schedule-id=${s.id}>
            <td><strong>${s.name}</strong><div class="sub"><a href=${'#/runs?schedule=' + encodeURIComponent(s.id)}>runs</a></div></td>
            <td>${sourceLabel(s.source)}<div class="sub">${paramSummary(s.params)}</div></td>
            <td><code>${s.cron}</code><div class="sub">${s.cronDescription}</div><div class="sub">${s.timeZone}</div></td>
            <td>${s.upcomingFires.length
              ? html`<ul class="fires">${s.upcomingFires.map((f) => html`<li key=${f}><${Time} value=${f} short /></li>`)}</ul>`
              : html`<span class="muted">${s.enabled ? '—' : 'paused'}</span>`}</td>
            <td>${s.lastRun ? html`<a href=${link('runs', s.lastRun.id)}><${Status} status=${s.lastRun.status} /></a><div class="sub"><${Time} value=${s.lastRun.queuedAt} short /></div>` : html`<span class="muted">never</span>`}</td>
            <td><span data-testid="schedule-enabled" class=${s.enabled ? 'ok' : 'muted'}>${s.enabled ? 'enabled' : 'paused'}</span></td>
            <td class="row-actions">
              ${s.enabled
                ? html`<button type="button" data-testid="schedule-pause" disabled=${!writable || busy === s.id + 'p'} onClick=${() => act(s.id + 'p', PAUSE, s, 'pause')}>Pause</button>`
                : html`<button type="button" data-testid="schedule-resume" disabled=${!writable || busy === s.id + 'r'} onClick=${() => act(s.id + 'r', RESUME, s, 'resume')}>Resume</button>`}
              <button type="button" data-testid="schedule-run-now" disabled=${!writable || busy === s.id + 'n'}
                onClick=${() => act(s.id + 'n', RUN_NOW, s, 'run now', (d) => setNotice(html`Run of “${s.name}” ${d.runScheduleNow.status === 'SKIPPED' ? 'skipped (its previous run is still active)' : 'queued'}: <a href=${link('runs', d.runScheduleNow.id)}>open the run</a>.`))}>Run now</button>
              <button type="button" data-testid="schedule-edit" disabled=${!writable} onClick=${() => setEditing(s)}>Edit</button>
              <button type="button" data-testid="schedule-delete" class="danger" disabled=${!writable || busy === s.id + 'd'}
                onClick=${() => act(s.id + 'd', DELETE, s, 'delete', () => setNotice(`Deleted “${s.name}”; its queued runs were cancelled, its finished runs are kept.`))}>Delete</button>
            </td>
          </tr>`)}
        </tbody>
      </table>
    </div>
    ${rows && rows.length === 0 && html`<${Empty}>No schedules yet — create one with <strong>New schedule…</strong>, or import Hangfire's recurring jobs with <code>jobintel import hangfire</code>.</${Empty}>`}
    ${editing && html`<${ScheduleForm} schedule=${editing === 'new' ? null : editing} sources=${sourceList}
      onClose=${() => setEditing(null)} onSaved=${(msg) => { setEditing(null); setNotice(msg); setTick((t) => t + 1); }} />`}
  </section>`;
}

const ZONES = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];

function ScheduleForm({ schedule, sources, onClose, onSaved }) {
  const editing = !!schedule;
  const [name, setName] = useState(schedule ? schedule.name : '');
  const [source, setSource] = useState(schedule ? schedule.source : (sources[0] && sources[0].source) || '');
  const info = sources.find((s) => s.source === source);
  const [params, setParams] = useState(() => (schedule ? JSON.stringify(normParams(schedule.params), null, 2) : paramsTemplate(info)));
  const [cron, setCron] = useState(schedule ? schedule.cron : '0 */6 * * *');
  const [zone, setZone] = useState(schedule ? schedule.timeZone : Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
  const [enabled, setEnabled] = useState(true);
  const [adv, setAdv] = useState({
    jitterSeconds: schedule ? schedule.jitterSeconds : 0,
    overlapPolicy: schedule ? schedule.overlapPolicy : 'SKIP',
    misfirePolicy: schedule ? schedule.misfirePolicy : 'FIRE_ONCE',
    maxAttempts: schedule ? schedule.maxAttempts : 3,
    retryBackoffSeconds: schedule ? schedule.retryBackoffSeconds : 60,
  });
  const [preview, setPreview] = useState({ state: 'idle' });
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  useDebounced(() => {
    if (!cron.trim()) {
      setPreview({ state: 'error', message: 'Enter a cron expression, e.g. 0 */6 * * * (every 6 hours).' });
      return;
    }
    const mine = {};
    setPreview((p) => ({ ...p, state: 'checking', mine }));
    gql(PREVIEW, { cron, timeZone: zone || 'UTC' }).then(
      (d) => setPreview((p) => (p.mine === mine ? { state: 'ok', ...d.cronPreview } : p)),
      (err) => setPreview((p) => {
        if (p.mine !== mine) return p;
        if (err instanceof GqlError && err.code !== 'BAD_USER_INPUT') report(err, 'cron preview');
        return { state: 'error', message: err.message };
      }),
    );
  }, 250, [cron, zone]);

  const pickSource = (e) => {
    const v = e.target.value;
    if (v === source) return;
    setSource(v);
    if (!editing) setParams(paramsTemplate(sources.find((s) => s.source === v)));
  };
  const setA = (k, num) => (e) => setAdv((a) => ({ ...a, [k]: num ? Number(e.target.value) : e.target.value }));

  const submit = async (e) => {
    e.preventDefault();
    const parsed = parseJson(params);
    if (parsed.error) return setError(parsed.error);
    const p = paramsToInput(parsed.value, info);
    if (p.error) return setError(p.error);
    if (!name.trim()) return setError('Give the schedule a name.');
    const input = { name: name.trim(), source, ...p.value, cron: cron.trim(), timeZone: zone.trim() || 'UTC', ...adv };
    if (editing) {
      // Parameters removed from the JSON are cleared ("" clears a text parameter).
      const old = normParams(schedule.params);
      for (const k of PARAM_NAMES) if (k !== 'maxPages' && old[k] != null && !(k in p.value)) input[k] = '';
    } else input.enabled = enabled;
    setBusy(true);
    setError('');
    try {
      if (editing) await gql(UPDATE, { id: schedule.id, input });
      else await gql(CREATE, { input });
      onSaved(editing ? `Saved “${input.name}”.` : `Created “${input.name}”; it first fires at its next occurrence.`);
    } catch (err) {
      setBusy(false);
      setError(err.message);
      if (err.code !== 'BAD_USER_INPUT') report(err, 'save schedule');
    }
  };

  const on = (set) => ({ onInput: (e) => set(e.target.value), onChange: (e) => set(e.target.value) });
  return html`<${Dialog} title=${editing ? `Edit “${schedule.name}”` : 'New schedule'} onClose=${onClose} testid="schedule-dialog" wide>
    <form data-testid="schedule-form" class="stack" onSubmit=${submit}>
      <div class="row2">
        <label>Name <input data-testid="schedule-name" value=${name} required maxlength="200" autofocus ...${on(setName)} /></label>
        <label>Source
          <select data-testid="schedule-source" value=${source} onChange=${pickSource} onInput=${pickSource}>
            ${sources.map((s) => html`<option key=${s.source} value=${s.source}>${s.name}</option>`)}
          </select>
        </label>
      </div>
      <label>Parameters (JSON)
        <textarea data-testid="schedule-params" rows="5" spellcheck="false" value=${params} ...${on(setParams)}></textarea>
      </label>
      <${ParamHelp} source=${info} />
      <div class="row2">
        <label>Cron <input data-testid="schedule-cron" value=${cron} spellcheck="false" autocomplete="off"
          aria-describedby="cron-feedback" ...${on(setCron)} /></label>
        <label>Time zone <input data-testid="schedule-timezone" value=${zone} list="tz-list" autocomplete="off" ...${on(setZone)} /></label>
        <datalist id="tz-list">${ZONES.map((z) => html`<option key=${z} value=${z} />`)}</datalist>
      </div>
      <div id="cron-feedback" class="cron-feedback" aria-live="polite">
        ${preview.state === 'error' && html`<p class="form-error" data-testid="cron-error">${preview.message}</p>`}
        ${preview.state === 'checking' && html`<p class="muted">checking…</p>`}
        ${preview.state === 'ok' && html`<p data-testid="cron-description">${preview.description}</p>
          <p class="muted">Next fires (your time; UTC on hover):</p>
          <ol data-testid="cron-preview">${preview.fires.map((f) => html`<li key=${f}><${Time} value=${f} /></li>`)}</ol>`}
      </div>
      <details>
        <summary>Retries, overlap, jitter</summary>
        <div class="row2">
          <label>Attempts per fire <input type="number" min="1" max="20" value=${adv.maxAttempts} onInput=${setA('maxAttempts', true)} /></label>
          <label>First retry after (s) <input type="number" min="1" max="86400" value=${adv.retryBackoffSeconds} onInput=${setA('retryBackoffSeconds', true)} /></label>
          <label>Jitter (s) <input type="number" min="0" max="3600" value=${adv.jitterSeconds} onInput=${setA('jitterSeconds', true)} /></label>
          <label>While the previous run is active
            <select value=${adv.overlapPolicy} onChange=${setA('overlapPolicy')}><option value="SKIP">skip the fire</option><option value="QUEUE">queue it</option></select></label>
          <label>Fires missed while down
            <select value=${adv.misfirePolicy} onChange=${setA('misfirePolicy')}><option value="FIRE_ONCE">run once</option><option value="SKIP">skip</option></select></label>
          ${!editing && html`<label class="check"><input type="checkbox" checked=${enabled} onChange=${(e) => setEnabled(e.target.checked)} /> Enabled</label>`}
        </div>
      </details>
      ${error && html`<p class="form-error" role="alert">${error}</p>`}
      <div class="actions"><button type="submit" class="primary" data-testid="schedule-submit" disabled=${busy}>${editing ? 'Save' : 'Create'}</button></div>
    </form>
  </${Dialog}>`;
}
