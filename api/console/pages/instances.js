// Instances: every jobintel process sharing this database (its heartbeat row), like
// Hangfire's servers page. Refreshed every 10 s; a heartbeat older than a minute is flagged.
import { html, useEffect, useState } from '../lib/html.js';
import { useQuery } from '../lib/gql.js';
import { Time, Empty } from '../lib/ui.js';

const INSTANCES = `query Instances {
  instances { id version hostname pid startedAt heartbeatAt busyWorkers totalWorkers isCurrent }
}`;

export function Instances() {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const t = setInterval(() => setTick((n) => n + 1), 10000);
    return () => clearInterval(t);
  }, []);
  const q = useQuery(INSTANCES, {}, [tick]);
  const rows = q.data ? q.data.instances : null;
  return html`<section class="page" data-testid="page-instances" data-ready=${q.settled ? 'true' : undefined}>
    <h1>Instances</h1>
    <p class="muted">Every jobintel process using this database, newest start first. A run's worker
      (<code>leaseOwner</code>) is one of these ids.</p>
    <div class="table-wrap">
      <table data-testid="instances-table">
        <thead><tr>
          <th scope="col">Id</th><th scope="col">Version</th><th scope="col">Host</th><th scope="col" class="num">PID</th>
          <th scope="col">Started</th><th scope="col">Last heartbeat</th><th scope="col" class="num">Busy / workers</th>
        </tr></thead>
        <tbody>
          ${rows && rows.map((i) => {
            const stale = Date.now() - Date.parse(i.heartbeatAt) > 60000;
            return html`<tr key=${i.id} data-instance-id=${i.id} class=${i.isCurrent ? 'selected' : ''}>
              <td><code>${i.id}</code>${i.isCurrent ? html` <span class="tag">this one</span>` : ''}</td>
              <td>${i.version}</td>
              <td>${i.hostname || '—'}</td>
              <td class="num">${i.pid == null ? '—' : i.pid}</td>
              <td><${Time} value=${i.startedAt} /></td>
              <td class=${stale ? 'bad' : ''}><${Time} value=${i.heartbeatAt} relative />${stale ? ' (stale?)' : ''}</td>
              <td class="num"><meter min="0" max=${i.totalWorkers || 1} value=${i.busyWorkers} title=${`${i.busyWorkers} of ${i.totalWorkers} workers busy`}></meter> ${i.busyWorkers} / ${i.totalWorkers}</td>
            </tr>`;
          })}
        </tbody>
      </table>
    </div>
    ${rows && rows.length === 0 && html`<${Empty}>No instance has reported yet — each jobintel process writes a heartbeat when it starts; reload in a few seconds.</${Empty}>`}
    ${!rows && q.error && html`<${Empty}>Could not list the instances (see above).</${Empty}>`}
  </section>`;
}

