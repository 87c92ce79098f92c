// One run: parameters, timings, counters, the full error, its event timeline (queued / started
// / finished from the run's own timestamps, plus live `ingestRunEvents(runId)` while it runs,
// with a progress bar of pages), its postings, and the cancel / retry actions.
import { html, useState, useMemo, useEffect } from '../lib/html.js';
import { gql, useQuery, useSubscription, report, canWrite, useShared } from '../lib/gql.js';
import { Time, Status, fmtNum, label, sourceLabel, link, Empty, navigate, duration, normParams, ACTIVE, RETRYABLE } from '../lib/ui.js';

const RUN = `query Run($id: ID!) {
  ingestRun(id: $id) {
    id databaseId source params trigger status scheduleId scheduledFor attempt queuedAt startedAt finishedAt
    heartbeatAt leaseOwner pagesFetched requests httpErrors jobsFound jobsNew jobsUpdated jobsUnchanged
    descriptionsTruncated error
    postings(first: 50) {
      totalCount
      nodes { id title company locationRaw workArrangement firstSeenAt isOpen firstRun { id } }
    }
  }
}`;

const EVENTS = `subscription RunEvents($runId: ID!) {
  ingestRunEvents(runId: $runId) { kind page pagesFetched jobsFound jobsNew jobsUpdated jobsUnchanged status error at }
}`;

const CANCEL = `mutation Cancel($id: ID!) { cancelIngestRun(id: $id) { id status } }`;
const RETRY = `mutation Retry($id: ID!) { retryIngestRun(id: $id) { id } }`;

export function Run({ id }) {
  useShared();
  const [tick, setTick] = useState(0);
  const q = useQuery(RUN, { id }, [id, tick]);
  const run = q.data ? q.data.ingestRun : null;
  const [live, setLive] = useState({ events: [], counters: null, status: null });
  const [busy, setBusy] = useState(false);
  const active = run && ACTIVE.has(run.status);

  // While it runs, the row is re-read every few seconds too: events are the fast path, this
  // covers a socket that is reconnecting (and the STARTED event that came before we listened).
  useEffect(() => {
    if (!active) return undefined;
    const t = setInterval(() => setTick((n) => n + 1), 3000);
    return () => clearInterval(t);
  }, [active]);

  useSubscription(EVENTS, { runId: id }, (d) => {
    const e = d.ingestRunEvents;
    setLive((l) => ({
      events: [...l.events.filter((x) => !(x.kind === e.kind && x.page === e.page)), e],
      counters: e.pagesFetched != null || e.jobsFound != null ? { ...(l.counters || {}), ...strip(e) } : l.counters,
      // A page stored means it runs, even if the STARTED event came before we subscribed.
      status: e.kind === 'FINISHED' ? e.status : e.kind === 'STARTED' || e.kind === 'PAGE_STORED' ? 'RUNNING' : l.status,
    }));
    if (e.kind === 'FINISHED' || e.kind === 'STARTED') setTick((t) => t + 1);
  }, [id, !!active], { skip: !active });

  const timeline = useMemo(() => (run ? buildTimeline(run, live.events) : []), [run, live.events]);

  if (q.settled && !run && !q.error) {
    return html`<section class="page" data-testid="page-run" data-ready="true"><h1>Run not found</h1>
      <${Empty}>No run with id ${id} — it may have been deleted. <a href="#/runs">Back to the runs.</a></${Empty}></section>`;
  }
  if (!run) {
    return html`<section class="page" data-testid="page-run" data-ready=${q.settled ? 'true' : undefined}><h1>Run</h1>
      <p class="muted">${q.error ? 'Could not load this run (see above).' : 'Loading…'}</p></section>`;
  }

  // Live counters and status win while they are ahead of the stored row.
  const c = { ...run };
  if (live.counters && active) for (const [k, v] of Object.entries(live.counters)) if (v != null && v > (c[k] || 0)) c[k] = v;
  if (live.status && run.status === 'QUEUED' && live.status !== 'QUEUED') c.status = live.status;
  const maxPages = Number.isInteger(normParams(run.params).maxPages) ? normParams(run.params).maxPages : null;
  const writable = canWrite();

  const act = async (mutation, what, then) => {
    setBusy(true);
    try {
      const data = await gql(mutation, { id: run.id });
      then(data);
    } catch (err) {
      report(err, what);
    } finally {
      setBusy(false);
    }
  };

  return html`<section class="page" data-testid="page-run" data-ready="true">
    <p class="crumbs"><a href="#/runs">Runs</a> ›</p>
    <div class="page-head">
      <h1>Run #${run.databaseId} <small>${sourceLabel(run.source)}</small></h1>
      <span class="run-status"><${Status} status=${c.status} testid="run-status" /></span>
      <div class="actions">
        <button type="button" data-testid="run-cancel" disabled=${!writable || !active || busy}
          title=${!writable ? 'Needs the API token' : active ? 'Stop this run at its next page' : 'Only a queued or running run can be cancelled'}
          onClick=${() => act(CANCEL, 'cancel', () => setTick((t) => t + 1))}>Cancel</button>
        <button type="button" class="primary" data-testid="run-retry" disabled=${!writable || !RETRYABLE.has(run.status) || busy}
          title=${!writable ? 'Needs the API token' : RETRYABLE.has(run.status) ? 'Queue a new run with the same source and parameters' : 'Failed, interrupted, blocked and cancelled runs can be retried'}
          onClick=${() => act(RETRY, 'retry', (d) => navigate(link('runs', d.retryIngestRun.id)))}>Retry</button>
      </div>
    </div>

    <div class="progress-row">
      <label for="run-progress">Pages</label>
      <progress id="run-progress" data-testid="run-progress" value=${c.pagesFetched} max=${maxPages || undefined}></progress>
      <span><span data-testid="run-pages">${c.pagesFetched}</span>${maxPages ? ' of ' + maxPages : ''}</span>
    </div>

    ${run.error && html`<section class="error-box"><h2>Error</h2><pre data-testid="run-error">${run.error}</pre></section>`}

    <div class="grid2">
      <section><h2>Counters</h2>
        <dl class="kv">
          <dt>Postings found</dt><dd>${fmtNum(c.jobsFound)}</dd>
          <dt>New</dt><dd>${fmtNum(c.jobsNew)}</dd>
          <dt>Updated</dt><dd>${fmtNum(c.jobsUpdated)}</dd>
          <dt>Unchanged</dt><dd>${fmtNum(c.jobsUnchanged)}</dd>
          <dt>HTTP requests</dt><dd>${fmtNum(run.requests)}</dd>
          <dt>HTTP errors</dt><dd>${fmtNum(run.httpErrors)}</dd>
          <dt>Descriptions truncated</dt><dd>${fmtNum(run.descriptionsTruncated)}</dd>
        </dl>
      </section>
      <section><h2>Timings</h2>
        <dl class="kv">
          <dt>Queued</dt><dd><${Time} value=${run.queuedAt} /></dd>
          <dt>Started</dt><dd><${Time} value=${run.startedAt} /></dd>
          <dt>Finished</dt><dd><${Time} value=${run.finishedAt} /></dd>
          <dt>Took</dt><dd>${run.startedAt ? duration(run.startedAt, run.finishedAt) : '—'}</dd>
          <dt>Last heartbeat</dt><dd><${Time} value=${run.heartbeatAt} /></dd>
          <dt>Worker</dt><dd>${run.leaseOwner ? html`<a href="#/instances">${run.leaseOwner}</a>` : '—'}</dd>
        </dl>
      </section>
      <section><h2>Parameters</h2>
        <dl class="kv">
          <dt>Trigger</dt><dd>${label(run.trigger)}${run.attempt > 1 ? ` (attempt ${run.attempt})` : ''}</dd>
          ${run.scheduleId != null && html`<dt>Schedule</dt><dd><a href=${'#/runs?schedule=' + run.scheduleId}>#${run.scheduleId}</a>${run.scheduledFor ? html`, for <${Time} value=${run.scheduledFor} />` : ''}</dd>`}
        </dl>
        <pre class="json">${JSON.stringify(run.params, null, 2)}</pre>
      </section>
      <section><h2>Timeline</h2>
        <ol class="timeline" data-testid="run-timeline">
          ${timeline.map((t) => html`<li key=${t.key} data-testid="timeline-item" data-kind=${t.kind}>
            <${Time} value=${t.at} /> — ${t.text}</li>`)}
        </ol>
        ${active && html`<p class="muted live-note">Live: pages appear as they are stored.</p>`}
      </section>
    </div>

    <section><h2>Postings <small>${fmtNum(run.postings.totalCount)} first or last seen by this run</small></h2>
      ${run.postings.nodes.length === 0
        ? html`<${Empty}>${active ? 'None yet — they appear when the run stores its first page.' : 'This run stored no postings (see the counters and the error above).'}</${Empty}>`
        : html`<div class="table-wrap"><table data-testid="run-postings">
          <thead><tr><th scope="col">Title</th><th scope="col">Company</th><th scope="col">Location</th><th scope="col">First seen</th><th scope="col">By this run</th></tr></thead>
          <tbody>${run.postings.nodes.map((p) => html`<tr key=${p.id} data-posting-id=${p.id}>
            <td><a href=${link('postings', p.id)}>${p.title}</a></td><td>${p.company || '—'}</td><td>${p.locationRaw || '—'}</td>
            <td><${Time} value=${p.firstSeenAt} short /></td><td>${p.firstRun && p.firstRun.id === run.id ? 'new' : 'seen again'}</td></tr>`)}
          </tbody></table></div>
          ${run.postings.totalCount > run.postings.nodes.length && html`<p><a href=${'#/postings?ingestRunId=' + encodeURIComponent(run.id)}>All ${fmtNum(run.postings.totalCount)} in the postings explorer →</a></p>`}`}
    </section>
  </section>`;
}

function strip(e) {
  const o = {};
  for (const k of ['pagesFetched', 'jobsFound', 'jobsNew', 'jobsUpdated', 'jobsUnchanged']) if (e[k] != null) o[k] = e[k];
  return o;
}

/** Queued, started and finished from the run's row; pages stored from the live events. */
function buildTimeline(run, events) {
  const items = [{ key: 'q', kind: 'QUEUED', at: run.queuedAt, text: `queued (${label(run.trigger)})` }];
  if (run.startedAt) items.push({ key: 's', kind: 'STARTED', at: run.startedAt, text: `started${run.leaseOwner ? ' on ' + run.leaseOwner : ''}` });
  for (const e of events) {
    if (e.kind === 'PAGE_STORED') {
      items.push({ key: 'p' + e.page, kind: e.kind, at: e.at, text: `page ${e.page} stored — ${fmtNum(e.jobsFound)} found, ${fmtNum(e.jobsNew)} new, ${fmtNum(e.jobsUpdated)} updated so far` });
    } else if (e.kind === 'STARTED' && !run.startedAt) {
      items.push({ key: 's', kind: e.kind, at: e.at, text: 'started' });
    }
  }
  if (run.finishedAt) {
    items.push({ key: 'f', kind: 'FINISHED', at: run.finishedAt, text: `finished: ${run.status}${run.error ? ' — ' + run.error.split('\n')[0] : ''}` });
  } else {
    const fin = events.find((e) => e.kind === 'FINISHED');
    if (fin) items.push({ key: 'f', kind: 'FINISHED', at: fin.at, text: `finished: ${fin.status}` });
  }
  return items.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}
