// Overview: postings total/open, runs of the last 24 h by status, runs per hour over 7 days,
// new postings per day by source over 90 days, a live activity feed, health and version.
// Three independent queries, so one failing (say, an older server without `ingestRunStats`)
// leaves the others on screen.
import { html, useState, useMemo, useRef, useEffect, useLayoutEffect } from '../lib/html.js';
import { useQuery, useSubscription } from '../lib/gql.js';
import { TimeChart } from '../lib/chart.js';
import { Time, Status, fmtNum, label, sourceLabel, link, Empty } from '../lib/ui.js';

const HOUR = 3600e3;
const DAY = 24 * HOUR;
/** Sources drawn separately in the per-day chart; the rest are summed as "other". */
const TOP_SOURCES = 6;

const SUMMARY = `query OverviewSummary {
  health { status version database jobCount }
  jobStats { total open bySource { source count } }
}`;

const RUN_STATS = `query OverviewRuns($dayAgo: DateTime!, $weekAgo: DateTime!, $to: DateTime!) {
  last24h: ingestRunStats(from: $dayAgo, to: $to) { total byStatus { status count } }
  week: ingestRunStats(from: $weekAgo, to: $to) { perHour { hour succeeded failed blocked } }
}`;

// New postings by the day jobintel first saw them (a posting's own date may be months old),
// one series per source, largest first: one `timeSeries` call.
const PER_DAY = `query OverviewPerDay($from: NaiveDate!, $to: NaiveDate!) {
  jobStats { timeSeries(bucket: DAY, metric: NEW_POSTINGS, groupBy: SOURCE, from: $from, to: $to) { key points { start value } } }
}`;

const FEED_RUNS = `subscription Feed { ingestRunEvents { kind runId source page pagesFetched jobsNew status error at } }`;
const FEED_POSTINGS = `subscription FeedPostings { jobPostingAdded { id title company source firstSeenAt } }`;

function windows() {
  const now = Date.now();
  const to = new Date(Math.floor(now / HOUR) * HOUR + HOUR);
  const day = (d) => d.toISOString().slice(0, 10);
  return {
    dayAgo: new Date(now - DAY).toISOString(),
    weekAgo: new Date(to - 7 * DAY).toISOString(),
    to: to.toISOString(),
    fromDay: day(new Date(now - 89 * DAY)),
    toDay: day(new Date(now)),
  };
}

export function Overview() {
  const [w, setW] = useState(windows);
  const summary = useQuery(SUMMARY, {}, [w]);
  const runs = useQuery(RUN_STATS, { dayAgo: w.dayAgo, weekAgo: w.weekAgo, to: w.to }, [w]);

  const perDay = useQuery(PER_DAY, { from: w.fromDay, to: w.toDay }, [w]);

  // Live: the feed, and fresh numbers a moment after a run finishes.
  const [feed, setFeed] = useState([]);
  const refresh = useRef(null);
  const push = (item) => setFeed((f) => [item, ...f].slice(0, 50));
  useSubscription(FEED_RUNS, {}, (d) => {
    const e = d.ingestRunEvents;
    push({ key: e.runId + e.kind + (e.page || '') + e.at, kind: 'run', e });
    // Fresh numbers a moment after things change, at most every 2 s however busy it is.
    if (!refresh.current) {
      refresh.current = setTimeout(() => {
        refresh.current = null;
        setW(windows());
      }, 2000);
    }
  }, []);
  useSubscription(FEED_POSTINGS, {}, (d) => {
    const p = d.jobPostingAdded;
    push({ key: 'p' + p.id, kind: 'posting', p });
  }, []);
  useEffect(() => () => clearTimeout(refresh.current), []);

  const ready = summary.settled && runs.settled && perDay.settled;
  // For measuring the first load (the browser tests read it): the first time all is on screen.
  // A layout effect runs in the same task as the DOM update, so whoever sees data-ready sees
  // the mark too.
  useLayoutEffect(() => {
    if (ready && performance.getEntriesByName('console:overview-ready').length === 0) performance.mark('console:overview-ready');
  }, [ready]);
  const s = summary.data;
  const r = runs.data;

  return html`<section class="page" data-testid="page-overview" data-ready=${ready ? 'true' : undefined}>
    <h1>Overview</h1>
    <div class="cards">
      <div class="card"><h2>Postings</h2>
        <p class="big" data-testid="overview-total">${s ? fmtNum(s.jobStats.total) : '…'}</p>
        <p><span data-testid="overview-open">${s ? fmtNum(s.jobStats.open) : '…'}</span> open · <a href="#/postings">explore</a></p>
      </div>
      <div class="card"><h2>Runs, last 24 h</h2>
        ${r ? html`<ul class="status-counts" data-testid="overview-runs-24h">
          ${r.last24h.byStatus.map((b) => html`<li key=${b.status} data-status=${b.status} class=${b.count ? '' : 'zero'}>
            <a href=${'#/runs?status=' + b.status}><${Status} status=${b.status} /> <span class="count">${fmtNum(b.count)}</span></a></li>`)}
        </ul>` : html`<p data-testid="overview-runs-24h" class="muted">${runs.error ? 'unavailable' : '…'}</p>`}
      </div>
      <div class="card"><h2>Health</h2>
        ${s ? html`<p><span data-testid="health-status" class=${s.health.status === 'ok' ? 'ok' : 'bad'}>${s.health.status}</span> · database ${s.health.database}</p>
          <p>version <span data-testid="health-version">${s.health.version}</span></p>` : html`<p class="muted">…</p>`}
      </div>
    </div>
    <div class="charts">
      <${RunsPerHour} data=${r} error=${runs.error} />
      <${NewPerDay} data=${perDay.data} error=${perDay.error} />
    </div>
    <section class="feed" aria-labelledby="feed-h">
      <h2 id="feed-h">Live activity</h2>
      <ol data-testid="activity-feed" aria-live="polite">
        ${feed.map((f) => html`<li key=${f.key} data-testid="activity-item"><${FeedItem} item=${f} /></li>`)}
      </ol>
      ${feed.length === 0 && html`<${Empty}>Quiet so far — run events and new postings appear here as they happen. Start a run on the <a href="#/runs">Runs</a> page.</${Empty}>`}
    </section>
  </section>`;
}

function FeedItem({ item }) {
  if (item.kind === 'posting') {
    const p = item.p;
    return html`<${Time} value=${p.firstSeenAt} short />${' '}<span class="tag">new posting</span>${' '}<a href=${link('postings', p.id)}>${p.title}</a>${p.company ? ' · ' + p.company : ''} <span class="muted">(${sourceLabel(p.source)})</span>`;
  }
  const e = item.e;
  const what = {
    QUEUED: 'queued',
    STARTED: 'started',
    PAGE_STORED: `stored page ${e.page} (${fmtNum(e.jobsNew)} new so far)`,
    FINISHED: 'finished',
  }[e.kind];
  return html`<${Time} value=${e.at} short />${' '}<span class="tag">run</span>${' '}<a href=${link('runs', e.runId)}>${sourceLabel(e.source)} run</a> ${what}
    ${e.status ? html` <${Status} status=${e.status} />` : ''}${e.error ? html` <span class="muted">${e.error}</span>` : ''}`;
}

function RunsPerHour({ data, error }) {
  const { x, series } = useMemo(() => {
    const rows = data ? data.week.perHour : [];
    return {
      x: rows.map((h) => Date.parse(h.hour) / 1000),
      series: [
        { label: 'succeeded', values: rows.map((h) => h.succeeded), color: '--ok' },
        { label: 'failed', values: rows.map((h) => h.failed), color: '--bad' },
        { label: 'blocked', values: rows.map((h) => h.blocked), color: '--warn' },
      ],
    };
  }, [data]);
  return html`<${TimeChart} testid="chart-runs-per-hour" caption="Runs per hour, last 7 days" x=${x} series=${series} bars
    empty=${data ? 'No runs finished in the last 7 days — start one on the Runs page, or add a schedule.' : error ? 'Unavailable (see the error above).' : 'Loading…'} />`;
}

function NewPerDay({ data, error }) {
  const { x, series } = useMemo(() => {
    const all = data ? data.jobStats.timeSeries : [];
    if (all.length === 0) return { x: [], series: [] };
    const x = all[0].points.map((p) => Date.parse(p.start + 'T00:00:00Z') / 1000);
    const series = all.slice(0, TOP_SOURCES).map((s) => ({ label: sourceLabel(s.key), values: s.points.map((p) => p.value) }));
    const rest = all.slice(TOP_SOURCES);
    if (rest.length) series.push({ label: 'other', values: x.map((_, i) => rest.reduce((sum, s) => sum + s.points[i].value, 0)) });
    return { x, series };
  }, [data]);
  return html`<${TimeChart} testid="chart-new-per-day" caption="New postings per day by source, last 90 days" x=${x} series=${series}
    empty=${data ? 'No postings first seen in the last 90 days — start a run on the Runs page.' : error ? 'Unavailable (see the error above).' : 'Loading…'} />`;
}
