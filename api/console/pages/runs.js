// Runs: status tabs with counts, filters, keyset paging (forward with `after`, back through a
// stack of the cursors already used — `ingestRuns` pages forward only, and a page is a
// keyset lookup however deep), and the form that starts an ingest.
import { html, useState, useMemo, useRef } from '../lib/html.js';
import { gql, useQuery, useSubscription, report, canWrite, useShared } from '../lib/gql.js';
import {
  Time, Status, fmtNum, label, sourceLabel, link, Empty, Dialog, navigate, duration, parseJson, paramsToInput,
  paramsTemplate, ParamHelp, normParams, RUN_STATUSES, TRIGGERS,
} from '../lib/ui.js';

const PAGE = 25;

const LISTS = `query RunFilters {
  health { sources }
  sources { source name description requiresOneOf params { name description required allowedValues } }
  schedules(first: 100) { nodes { id databaseId name } }
}`;

const COUNTS = `query RunCounts($filter: IngestRunFilter) {
  ingestRunStats(filter: $filter) { total byStatus { status count } }
}`;

const RUNS = `query Runs($filter: IngestRunFilter, $first: Int, $after: String) {
  ingestRuns(filter: $filter, first: $first, after: $after) {
    edges { cursor node { id databaseId source params trigger status scheduleId attempt queuedAt startedAt finishedAt
      pagesFetched jobsFound jobsNew jobsUpdated error } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const START = `mutation Start($input: StartIngestInput!) { startIngest(input: $input) { id } }`;
const EVENTS = `subscription RunsLive { ingestRunEvents { kind runId } }`;

export function Runs({ query = {} }) {
  useShared();
  const [status, setStatus] = useState(RUN_STATUSES.includes(query.status) ? query.status : 'ALL');
  const [source, setSource] = useState(query.source || '');
  const [trigger, setTrigger] = useState(query.trigger || '');
  const [schedule, setSchedule] = useState(query.schedule || '');
  // cursors[i] is the `after` of page i; the last entry is the page on screen.
  const [cursors, setCursors] = useState([null]);
  const [starting, setStarting] = useState(false);
  const [tick, setTick] = useState(0);

  const lists = useQuery(LISTS, {}, []);
  const base = useMemo(() => {
    const f = {};
    if (source) f.sources = [source];
    if (trigger) f.triggers = [trigger];
    if (schedule) f.scheduleId = schedule;
    return f;
  }, [source, trigger, schedule]);
  const filter = useMemo(() => (status === 'ALL' ? base : { ...base, statuses: [status] }), [base, status]);
  const counts = useQuery(COUNTS, { filter: base }, [base, tick]);
  const after = cursors[cursors.length - 1];
  const runs = useQuery(RUNS, { filter, first: PAGE, after }, [filter, after, tick]);

  // Live: a run queued, started or finished somewhere refreshes the numbers (and the first
  // page; deeper pages stay put so they do not shift under the reader).
  const pending = useRef(null);
  useSubscription(EVENTS, {}, (d) => {
    if (d.ingestRunEvents.kind === 'PAGE_STORED' && cursors.length > 1) return;
    clearTimeout(pending.current);
    pending.current = setTimeout(() => setTick((t) => t + 1), 800);
  }, []);

  const reset = (fn) => (e) => {
    fn(e.target.value);
    setCursors([null]);
  };
  const byStatus = counts.data ? Object.fromEntries(counts.data.ingestRunStats.byStatus.map((b) => [b.status, b.count])) : {};
  const total = counts.data ? counts.data.ingestRunStats.total : null;
  const conn = runs.data ? runs.data.ingestRuns : null;
  const schedules = lists.data ? lists.data.schedules.nodes : [];
  const scheduleName = (id) => {
    const s = schedules.find((x) => x.databaseId === id);
    return s ? s.name : '#' + id;
  };
  const writable = canWrite();

  return html`<section class="page" data-testid="page-runs" data-ready=${runs.settled && counts.settled && lists.settled ? 'true' : undefined}>
    <div class="page-head">
      <h1>Runs</h1>
      <button type="button" class="primary" data-testid="start-ingest-open" disabled=${!writable}
        title=${writable ? 'Queue a run now' : 'Needs the API token'} onClick=${() => setStarting(true)}>Start ingest…</button>
    </div>
    <div class="tabs" role="tablist" aria-label="Run status" onKeyDown=${arrows}>
      ${['ALL', ...RUN_STATUSES].map((st) => html`<button type="button" role="tab" key=${st} aria-selected=${status === st ? 'true' : 'false'} tabindex=${status === st ? '0' : '-1'}
        data-testid=${'runs-tab-' + st} onClick=${() => { setStatus(st); setCursors([null]); }}>
        ${st === 'ALL' ? 'All' : label(st)}${' '}${(st === 'ALL' ? total : byStatus[st]) != null && html`<span class="count">${fmtNum(st === 'ALL' ? total : byStatus[st])}</span>`}
      </button>`)}
    </div>
    <div class="filters">
      <label>Source
        <select data-testid="runs-filter-source" value=${source} onChange=${reset(setSource)} onInput=${reset(setSource)}>
          <option value="">any</option>
          ${(lists.data ? lists.data.health.sources : []).map((s) => html`<option key=${s} value=${s}>${sourceLabel(s)}</option>`)}
        </select>
      </label>
      <label>Trigger
        <select data-testid="runs-filter-trigger" value=${trigger} onChange=${reset(setTrigger)} onInput=${reset(setTrigger)}>
          <option value="">any</option>
          ${TRIGGERS.map((t) => html`<option key=${t} value=${t}>${label(t)}</option>`)}
        </select>
      </label>
      <label>Schedule
        <select data-testid="runs-filter-schedule" value=${schedule} onChange=${reset(setSchedule)} onInput=${reset(setSchedule)}>
          <option value="">any</option>
          ${schedules.map((s) => html`<option key=${s.id} value=${s.id}>${s.name}</option>`)}
          ${schedule && !schedules.some((s) => s.id === schedule) && html`<option value=${schedule}>${scheduleName(Number(schedule))}</option>`}
        </select>
      </label>
    </div>
    <div class="table-wrap">
      <table data-testid="runs-table">
        <caption class="sr-only">Ingest runs, newest first</caption>
        <thead><tr>
          <th scope="col">Run</th><th scope="col">Status</th><th scope="col">Source</th><th scope="col">Trigger</th>
          <th scope="col">Queued</th><th scope="col" class="opt">Took</th><th scope="col" class="num opt">Pages</th>
          <th scope="col" class="num opt">Found</th><th scope="col" class="num">New</th><th scope="col">Error</th>
        </tr></thead>
        <tbody>
          ${conn && conn.edges.map(({ node: r }) => html`<tr key=${r.id} data-run-id=${r.id}>
            <td><a href=${link('runs', r.id)}>#${r.databaseId}</a></td>
            <td><${Status} status=${r.status} /></td>
            <td>${sourceLabel(r.source)}<div class="sub">${paramSummary(r.params)}</div></td>
            <td>${label(r.trigger)}${r.scheduleId != null ? html`<div class="sub">${scheduleName(r.scheduleId)}</div>` : ''}${r.attempt > 1 ? html`<div class="sub">attempt ${r.attempt}</div>` : ''}</td>
            <td><${Time} value=${r.queuedAt} short /></td>
            <td class="opt">${r.startedAt ? duration(r.startedAt, r.finishedAt) : '—'}</td>
            <td class="num opt">${fmtNum(r.pagesFetched)}</td>
            <td class="num opt">${fmtNum(r.jobsFound)}</td>
            <td class="num">${fmtNum(r.jobsNew)}</td>
            <td class="error-cell" title=${r.error || ''}>${r.error || ''}</td>
          </tr>`)}
        </tbody>
      </table>
    </div>
    ${conn && conn.edges.length === 0 && html`<${Empty}>${status === 'ALL' && !source && !trigger && !schedule
      ? html`No runs yet — start one with <strong>Start ingest…</strong> above, or add a schedule on the <a href="#/schedules">Schedules</a> page.`
      : 'No runs match these filters — pick another tab or set a filter back to “any”.'}</${Empty}>`}
    <div class="pager" hidden=${cursors.length < 2 && (!conn || !conn.pageInfo.hasNextPage)}>
      <button type="button" data-testid="runs-prev" disabled=${cursors.length < 2} onClick=${() => setCursors((c) => c.slice(0, -1))}>← Newer</button>
      <span class="muted">page ${cursors.length}</span>
      <button type="button" data-testid="runs-next" disabled=${!conn || !conn.pageInfo.hasNextPage}
        onClick=${() => setCursors((c) => [...c, conn.pageInfo.endCursor])}>Older →</button>
    </div>
    ${starting && html`<${StartIngest} sources=${lists.data ? lists.data.sources : []} onClose=${() => setStarting(false)} />`}
  </section>`;
}

/** Left/Right (and Home/End) move between tabs, as in any tab list. */
function arrows(e) {
  const tabs = [...e.currentTarget.querySelectorAll('[role=tab]')];
  const i = tabs.indexOf(document.activeElement);
  if (i < 0) return;
  const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[e.key];
  if (to == null) return;
  e.preventDefault();
  const t = tabs[(to + tabs.length) % tabs.length];
  t.focus();
  t.click();
}

/** "keywords=rust, location=Sydney" */
export function paramSummary(params) {
  if (!params || typeof params !== 'object') return '';
  return Object.entries(normParams(params)).filter(([, v]) => v !== null && v !== '').map(([k, v]) => `${k}=${v}`).join(', ');
}

function StartIngest({ sources, onClose }) {
  const [picked, setSource] = useState('');
  const source = picked || (sources.length ? sources[0].source : '');
  const info = sources.find((s) => s.source === source);
  const [params, setParams] = useState(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const pick = (e) => {
    const v = e.target.value;
    if (v === source) return;
    setSource(v);
    setParams(paramsTemplate(sources.find((s) => s.source === v)));
  };
  const submit = async (e) => {
    e.preventDefault();
    const parsed = parseJson(params == null ? paramsTemplate(info) : params);
    if (parsed.error) return setError(parsed.error);
    const input = paramsToInput(parsed.value, info);
    if (input.error) return setError(input.error);
    setBusy(true);
    setError('');
    try {
      const { startIngest } = await gql(START, { input: { source, ...input.value } });
      onClose();
      navigate(link('runs', startIngest.id));
    } catch (err) {
      setBusy(false);
      setError(err.message);
      if (err.code !== 'BAD_USER_INPUT') report(err, 'start ingest');
    }
  };
  return html`<${Dialog} title="Start an ingest run" onClose=${onClose} testid="start-ingest-dialog">
    <form data-testid="start-ingest-form" class="stack" onSubmit=${submit}>
      <label>Source
        <select data-testid="start-ingest-source" value=${source} onChange=${pick} onInput=${pick} required autofocus>
          ${sources.map((s) => html`<option key=${s.source} value=${s.source}>${s.name}</option>`)}
        </select>
      </label>
      <label>Parameters (JSON)
        <textarea data-testid="start-ingest-params" rows="6" spellcheck="false" value=${params == null ? paramsTemplate(info) : params}
          onInput=${(e) => setParams(e.target.value)} onChange=${(e) => setParams(e.target.value)}></textarea>
      </label>
      <${ParamHelp} source=${info} />
      ${error && html`<p class="form-error" role="alert">${error}</p>`}
      <div class="actions">
        <button type="submit" class="primary" data-testid="start-ingest-submit" disabled=${busy || !source}>Start</button>
      </div>
    </form>
  </${Dialog}>`;
}
