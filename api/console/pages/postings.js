// Postings: full-text search and every `JobPostingFilter` field, a table sortable by
// `orderBy` with keyset paging, a detail pane (`#/postings/<id>`), and charts of the current
// filter from `jobStats`.
import { html, useState, useMemo, useEffect, useRef } from '../lib/html.js';
import { useQuery, useShared } from '../lib/gql.js';
import { TimeChart } from '../lib/chart.js';
import { Time, Status, fmtNum, label, sourceLabel, link, Empty, Bars, navigate, useDebounced } from '../lib/ui.js';

const PAGE = 25;
const WORK_TYPES = ['FULL_TIME', 'PART_TIME', 'CONTRACT', 'CASUAL', 'INTERNSHIP', 'TEMPORARY', 'OTHER'];
const ARRANGEMENTS = ['ON_SITE', 'HYBRID', 'REMOTE', 'UNKNOWN'];
const SORTS = [
  ['TITLE', 'Title'],
  ['POSTED_AT', 'Posted'],
  ['FIRST_SEEN_AT', 'First seen'],
  ['LAST_SEEN_AT', 'Last seen'],
  ['SALARY_ANNUAL_MAX', 'Salary (annual max)'],
  ['SALARY_ANNUAL_MIN', 'Salary (annual min)'],
  ['RELEVANCE', 'Relevance (with a search)'],
];

const SOURCES = `query PostingSources { health { sources } }`;

const LIST = `query Postings($filter: JobPostingFilter, $orderBy: JobPostingOrder, $first: Int, $after: String) {
  jobPostings(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    edges { node { id title company locationRaw source workArrangement isOpen postedAt firstSeenAt lastSeenAt
      salary { text annualMin annualMax currency } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

const STATS = `query PostingStats($filter: JobPostingFilter, $from: NaiveDate, $to: NaiveDate) {
  jobStats(filter: $filter) {
    total open
    bySource { source count }
    byWorkArrangement { workArrangement count }
    salary { currency count min p25 median p75 max }
    postingsPerDay(from: $from, to: $to) { date count }
  }
}`;

const DETAIL = `query Posting($id: ID!) {
  jobPosting(id: $id) {
    id databaseId source externalId url applyUrl title company locationRaw city region country workType workArrangement
    salary { text min max currency period annualMin annualMax source }
    descriptionHtml classification postedAt expiresAt firstSeenAt lastSeenAt closedAt isOpen
    firstRun { id databaseId status queuedAt } lastRun { id databaseId status queuedAt }
    history(first: 10) { nodes { id kind at run { id databaseId } changes { field from to } } pageInfo { hasNextPage } }
  }
}`;

/** One field's change, as `JobPosting.history` gives it. */
function changeText(c) {
  const v = (x) => (x == null ? '—' : typeof x === 'number' ? fmtNum(x) : c.field === 'descriptionHash' ? String(x).slice(0, 8) : label(String(x)));
  if (c.field === 'descriptionHash') return html`description reworded`;
  return html`${c.field}: <del>${v(c.from)}</del> → <ins>${v(c.to)}</ins>`;
}

function History({ history }) {
  const nodes = history ? history.nodes : [];
  return html`<section data-testid="posting-history"><h3>Changes</h3>
    ${nodes.length === 0
      ? html`<p class="muted">No change seen since it was first found.</p>`
      : html`<ol class="history">${nodes.map((h) => html`<li key=${h.id}>
          <${Time} value=${h.at} short />${' '}
          ${h.kind === 'CHANGED' ? html`${h.changes.map((c, i) => html`${i ? '; ' : ''}${changeText(c)}`)}` : h.kind === 'CLOSED' ? 'closed (not seen at its source)' : 'reopened (seen again)'}
          ${h.run ? html` <span class="muted">(<a href=${link('runs', h.run.id)}>run #${h.run.databaseId}</a>)</span>` : ''}
        </li>`)}</ol>
        ${history.pageInfo.hasNextPage ? html`<p class="muted">Older changes: <code>jobPosting { history(after: …) }</code> in GraphiQL.</p>` : ''}`}
  </section>`;
}

const EMPTY_FORM = {
  search: '', sources: [], companies: '', titleContains: '', locationContains: '', countries: '', workTypes: [],
  workArrangements: [], salaryAnnualMin: '', salaryAnnualMax: '', salaryCurrency: '', postedAfter: '',
  postedBefore: '', seenAfter: '', open: '', ingestRunId: '',
};

const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
const localMidnight = (d) => new Date(d + 'T00:00:00').toISOString();

/** The form as a `JobPostingFilter` (empty fields left out). */
function toFilter(f) {
  const o = {};
  if (f.search.trim()) o.search = f.search.trim();
  if (f.sources.length) o.sources = f.sources;
  if (list(f.companies).length) o.companies = list(f.companies);
  if (f.titleContains.trim()) o.titleContains = f.titleContains.trim();
  if (f.locationContains.trim()) o.locationContains = f.locationContains.trim();
  if (list(f.countries).length) o.countries = list(f.countries).map((c) => c.toUpperCase());
  if (f.workTypes.length) o.workTypes = f.workTypes;
  if (f.workArrangements.length) o.workArrangements = f.workArrangements;
  if (f.salaryAnnualMin !== '' && !isNaN(+f.salaryAnnualMin)) o.salaryAnnualMin = +f.salaryAnnualMin;
  if (f.salaryAnnualMax !== '' && !isNaN(+f.salaryAnnualMax)) o.salaryAnnualMax = +f.salaryAnnualMax;
  if (f.salaryCurrency.trim()) o.salaryCurrency = f.salaryCurrency.trim().toUpperCase();
  if (f.postedAfter) o.postedAfter = localMidnight(f.postedAfter);
  if (f.postedBefore) o.postedBefore = localMidnight(f.postedBefore);
  if (f.seenAfter) o.seenAfter = localMidnight(f.seenAfter);
  if (f.open !== '') o.open = f.open === 'true';
  if (f.ingestRunId.trim()) o.ingestRunId = f.ingestRunId.trim();
  return o;
}

export function Postings({ detailId, query = {} }) {
  const shared = useShared();
  const [form, setForm] = useState(() => ({ ...EMPTY_FORM, ingestRunId: query.ingestRunId || '', search: query.search || '' }));
  const [applied, setApplied] = useState(() => toFilter(form));
  const [order, setOrder] = useState({ field: 'POSTED_AT', direction: 'DESC' });
  const [cursors, setCursors] = useState([null]);
  const key = JSON.stringify(toFilter(form));
  const apply = () => {
    const f = toFilter(form);
    if (JSON.stringify(f) !== JSON.stringify(applied)) {
      setApplied(f);
      setCursors([null]);
      if (!f.search && order.field === 'RELEVANCE') setOrder({ field: 'POSTED_AT', direction: 'DESC' });
    }
  };
  useDebounced(apply, 400, [key]);

  const sources = useQuery(SOURCES, {}, []);
  const after = cursors[cursors.length - 1];
  const orderBy = order.field === 'RELEVANCE' && !applied.search ? { field: 'POSTED_AT', direction: 'DESC' } : order;
  const page = useQuery(LIST, { filter: applied, orderBy, first: PAGE, after }, [JSON.stringify(applied), orderBy.field, orderBy.direction, after]);
  const days = useMemo(() => {
    const to = new Date();
    return { from: new Date(to - 89 * 864e5).toISOString().slice(0, 10), to: to.toISOString().slice(0, 10) };
  }, []);
  const stats = useQuery(STATS, { filter: applied, ...days }, [JSON.stringify(applied)]);

  const set = (k) => (e) => {
    const v = e.target.value;
    setForm((f) => ({ ...f, [k]: v }));
  };
  const toggle = (k, v) => (e) => {
    const on = e.target.checked;
    setForm((f) => ({ ...f, [k]: on ? [...f[k].filter((x) => x !== v), v] : f[k].filter((x) => x !== v) }));
  };
  const sortBy = (field) => {
    setOrder((o) => ({ field, direction: o.field === field && o.direction === 'DESC' ? 'ASC' : 'DESC' }));
    setCursors([null]);
  };
  const conn = page.data ? page.data.jobPostings : null;
  const backHash = '#/postings';
  const allSources = sources.data ? sources.data.health.sources : [];
  const filtered = Object.keys(applied).length > 0;

  // Escape closes the detail pane (unless typing in a field or inside a dialog).
  useEffect(() => {
    if (!detailId) return undefined;
    const fn = (e) => {
      if (e.key === 'Escape' && !e.target.closest('input, textarea, select, dialog')) navigate(backHash);
    };
    document.addEventListener('keydown', fn);
    return () => document.removeEventListener('keydown', fn);
  }, [detailId]);

  const th = (field, text, cls) => html`<th scope="col" class=${cls} aria-sort=${order.field === field ? (order.direction === 'ASC' ? 'ascending' : 'descending') : undefined}>
    <button type="button" class="sort" onClick=${() => sortBy(field)}>${text}${order.field === field ? (order.direction === 'ASC' ? ' ▲' : ' ▼') : ''}</button></th>`;

  return html`<section class="page" data-testid="page-postings" data-ready=${page.settled && stats.settled ? 'true' : undefined}>
    <h1>Postings</h1>
    <form class="filters postings-filters" role="search" onSubmit=${(e) => { e.preventDefault(); apply(); }}>
      <label class="grow">Search <input type="search" data-testid="postings-search" value=${form.search} placeholder="title, company, description — every word must match"
        onInput=${set('search')} onChange=${set('search')} onKeyDown=${(e) => e.key === 'Enter' && (e.preventDefault(), apply())} maxlength="500" /></label>
      <label>Status
        <select value=${form.open} onChange=${set('open')} onInput=${set('open')}>
          <option value="">open and closed</option><option value="true">open</option><option value="false">closed</option>
        </select></label>
      <label>Sort
        <select value=${order.field + ' ' + order.direction} onChange=${(e) => { const [field, direction] = e.target.value.split(' '); setOrder({ field, direction }); setCursors([null]); }}>
          ${SORTS.flatMap(([f, t]) => ['DESC', 'ASC'].map((d) => html`<option key=${f + d} value=${f + ' ' + d} disabled=${f === 'RELEVANCE' && !applied.search}>${t} ${d === 'DESC' ? '↓' : '↑'}</option>`))}
        </select></label>
      <details class="more-filters">
        <summary>More filters${filtered ? ` (${Object.keys(applied).length} set)` : ''}</summary>
        <div class="filter-grid">
          <fieldset><legend>Sources</legend>
            ${allSources.map((s) => html`<label class="check" key=${s}><input type="checkbox" checked=${form.sources.includes(s)} onChange=${toggle('sources', s)} /> ${sourceLabel(s)}</label>`)}
          </fieldset>
          <fieldset><legend>Work arrangement</legend>
            ${ARRANGEMENTS.map((s) => html`<label class="check" key=${s}><input type="checkbox" checked=${form.workArrangements.includes(s)} onChange=${toggle('workArrangements', s)} /> ${label(s)}</label>`)}
          </fieldset>
          <fieldset><legend>Work type</legend>
            ${WORK_TYPES.map((s) => html`<label class="check" key=${s}><input type="checkbox" checked=${form.workTypes.includes(s)} onChange=${toggle('workTypes', s)} /> ${label(s)}</label>`)}
          </fieldset>
          <fieldset><legend>Text</legend>
            <label>Title contains <input value=${form.titleContains} onInput=${set('titleContains')} maxlength="200" /></label>
            <label>Location contains <input value=${form.locationContains} onInput=${set('locationContains')} maxlength="200" /></label>
            <label>Companies (comma-separated, exact) <input value=${form.companies} onInput=${set('companies')} /></label>
            <label>Countries (ISO codes, e.g. AU, NZ) <input value=${form.countries} onInput=${set('countries')} /></label>
          </fieldset>
          <fieldset><legend>Salary (annual)</legend>
            <label>At least <input type="number" min="0" value=${form.salaryAnnualMin} onInput=${set('salaryAnnualMin')} /></label>
            <label>At most <input type="number" min="0" value=${form.salaryAnnualMax} onInput=${set('salaryAnnualMax')} /></label>
            <label>Currency <input value=${form.salaryCurrency} onInput=${set('salaryCurrency')} placeholder="AUD" maxlength="3" /></label>
          </fieldset>
          <fieldset><legend>Dates (your time zone)</legend>
            <label>Posted from <input type="date" value=${form.postedAfter} onInput=${set('postedAfter')} onChange=${set('postedAfter')} /></label>
            <label>Posted before <input type="date" value=${form.postedBefore} onInput=${set('postedBefore')} onChange=${set('postedBefore')} /></label>
            <label>Seen since <input type="date" value=${form.seenAfter} onInput=${set('seenAfter')} onChange=${set('seenAfter')} /></label>
            <label>Found by run (ID) <input value=${form.ingestRunId} onInput=${set('ingestRunId')} /></label>
          </fieldset>
        </div>
        <button type="button" onClick=${() => { setForm(EMPTY_FORM); }}>Clear all filters</button>
      </details>
    </form>

    <p class="muted" aria-live="polite">${stats.data ? html`${fmtNum(stats.data.jobStats.total)} ${stats.data.jobStats.total === 1 ? 'posting matches' : 'postings match'}, ${fmtNum(stats.data.jobStats.open)} open.` : '…'}
      ${/* A plain link sends no token: offer it only where reads are public. */ ''}
      ${!(shared.viewer && shared.viewer.readsProtected) && html` <a href=${'/export/postings.csv?filter=' + encodeURIComponent(JSON.stringify(applied))}>Export CSV</a>`}</p>

    <div class=${'postings-layout' + (detailId ? ' with-detail' : '')}>
      <div class="postings-list">
        <div class="table-wrap">
          <table data-testid="postings-table">
            <caption class="sr-only">Postings matching the filter; column buttons sort</caption>
            <thead><tr>
              ${th('TITLE', 'Title')}<th scope="col">Company</th><th scope="col" class="opt">Location</th><th scope="col" class="opt">Source</th>
              ${th('SALARY_ANNUAL_MAX', 'Salary')}${th('POSTED_AT', 'Posted')}${th('LAST_SEEN_AT', 'Last seen', 'opt')}
            </tr></thead>
            <tbody>
              ${conn && conn.edges.map(({ node: p }) => html`<tr key=${p.id} data-posting-id=${p.id} class=${p.id === detailId ? 'selected' : ''}>
                <td><a href=${link('postings', p.id)} aria-current=${p.id === detailId ? 'true' : undefined}>${p.title}</a>${p.isOpen ? '' : html` <span class="tag">closed</span>`}</td>
                <td>${p.company || '—'}</td>
                <td class="opt">${p.locationRaw || '—'}<div class="sub">${label(p.workArrangement)}</div></td>
                <td class="opt">${sourceLabel(p.source)}</td>
                <td>${salaryShort(p.salary)}</td>
                <td><${Time} value=${p.postedAt} short /></td>
                <td class="opt"><${Time} value=${p.lastSeenAt} short /></td>
              </tr>`)}
            </tbody>
          </table>
        </div>
        ${conn && conn.edges.length === 0 && html`<${Empty}>${filtered
          ? 'No postings match — loosen the search or clear some filters.'
          : html`No postings yet — start a run on the <a href="#/runs">Runs</a> page, or import them with <code>jobintel import</code>.`}</${Empty}>`}
        <div class="pager" hidden=${cursors.length < 2 && (!conn || !conn.pageInfo.hasNextPage)}>
          <button type="button" data-testid="postings-prev" disabled=${cursors.length < 2} onClick=${() => setCursors((c) => c.slice(0, -1))}>← Previous</button>
          <span class="muted">page ${cursors.length}</span>
          <button type="button" data-testid="postings-next" disabled=${!conn || !conn.pageInfo.hasNextPage}
            onClick=${() => setCursors((c) => [...c, conn.pageInfo.endCursor])}>Next →</button>
        </div>
      </div>
      ${detailId && html`<${Detail} key=${detailId} id=${detailId} back=${backHash} />`}
    </div>

    <${Charts} stats=${stats.data ? stats.data.jobStats : null} />
  </section>`;
}

function money(v, currency) {
  if (v == null) return '';
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency || 'XXX', maximumFractionDigits: 0 }).format(v);
  } catch {
    return fmtNum(Math.round(v)) + (currency ? ' ' + currency : '');
  }
}

function salaryShort(s) {
  if (!s) return html`<span class="muted">—</span>`;
  if (s.annualMin != null || s.annualMax != null) {
    const range = [s.annualMin, s.annualMax].filter((v) => v != null).map((v) => money(v, s.currency));
    return html`<span title=${s.text || ''} class="money">${[...new Set(range)].join(' – ')}<span class="sub"> /yr</span></span>`;
  }
  return s.text || '—';
}

function Detail({ id, back }) {
  const q = useQuery(DETAIL, { id }, [id]);
  const p = q.data ? q.data.jobPosting : null;
  const ref = useRef(null);
  useEffect(() => {
    if (p && ref.current) ref.current.focus();
  }, [!!p]);
  const body = !q.settled
    ? html`<p class="muted">Loading…</p>`
    : !p
      ? html`<${Empty}>${q.error ? 'Could not load this posting (see above).' : 'No such posting — it may have been deleted.'}</${Empty}>`
      : html`
        <h2 data-testid="posting-title" tabindex="-1" ref=${ref}>${p.title}</h2>
        <p>${p.company || 'unknown company'} · ${p.locationRaw || [p.city, p.region, p.country].filter(Boolean).join(', ') || 'location unknown'}</p>
        <p>${p.isOpen ? html`<span class="badge st-running">open</span>` : html`<span class="badge st-cancelled">closed</span>`}
          ${' '}<span class="tag">${sourceLabel(p.source)}</span> <span class="tag">${p.workArrangement === 'UNKNOWN' ? 'arrangement unknown' : label(p.workArrangement)}</span>${p.workType ? html` <span class="tag">${label(p.workType)}</span>` : ''}${p.classification ? html` <span class="tag">${p.classification}</span>` : ''}</p>
        <p class="links">
          <a href=${p.url} target="_blank" rel="noopener noreferrer">Posting at ${sourceLabel(p.source)} ↗</a>
          ${p.applyUrl && p.applyUrl !== p.url ? html` · <a href=${p.applyUrl} target="_blank" rel="noopener noreferrer">Apply ↗</a>` : ''}
        </p>
        ${p.salary && html`<section><h3>Salary</h3>
          <p>${p.salary.text ? html`“${p.salary.text}”` : ''}</p>
          <p class="muted">${p.salary.min != null || p.salary.max != null ? `${[p.salary.min, p.salary.max].filter((v) => v != null).map((v) => money(v, p.salary.currency)).join(' – ')} per ${label(p.salary.period || 'YEAR').toLowerCase()}` : ''}
          ${p.salary.annualMin != null || p.salary.annualMax != null ? ` (annual: ${[p.salary.annualMin, p.salary.annualMax].filter((v) => v != null).map((v) => money(v, p.salary.currency)).join(' – ')})` : ''}
          ${p.salary.source ? ` — ${p.salary.source === 'PARSED' ? 'parsed from the text' : 'from structured fields'}` : ''}</p>
        </section>`}
        <dl class="kv">
          <dt>Posted</dt><dd><${Time} value=${p.postedAt} /></dd>
          <dt>Closes</dt><dd><${Time} value=${p.expiresAt} /></dd>
          <dt>First seen</dt><dd><${Time} value=${p.firstSeenAt} /></dd>
          <dt>Last seen</dt><dd><${Time} value=${p.lastSeenAt} /></dd>
          ${p.closedAt && html`<dt>Closed</dt><dd><${Time} value=${p.closedAt} /></dd>`}
          <dt>Found by</dt><dd>${p.firstRun ? html`<a href=${link('runs', p.firstRun.id)}>run #${p.firstRun.databaseId}</a> <${Status} status=${p.firstRun.status} />` : html`<span class="muted">a deleted run or an import</span>`}</dd>
          <dt>Last seen by</dt><dd>${p.lastRun ? html`<a href=${link('runs', p.lastRun.id)}>run #${p.lastRun.databaseId}</a> <${Status} status=${p.lastRun.status} />` : '—'}</dd>
          <dt>External id</dt><dd><code>${p.externalId}</code></dd>
        </dl>
        <${History} history=${p.history} />
        <section><h3>Description</h3>
          ${p.descriptionHtml
            ? html`<div class="description" dangerouslySetInnerHTML=${{ __html: p.descriptionHtml }}></div>`
            : html`<p class="muted">No description.</p>`}
        </section>`;
  return html`<aside class="posting-detail" data-testid="posting-detail" aria-label="Posting">
    <a class="close" href=${back} aria-label="Close the posting (Escape)">× Close</a>
    ${body}
  </aside>`;
}

function Charts({ stats }) {
  const perDay = useMemo(() => {
    const rows = stats ? stats.postingsPerDay : [];
    return {
      x: rows.map((d) => Date.parse(d.date + 'T00:00:00Z') / 1000),
      series: [{ label: 'postings', values: rows.map((d) => d.count) }],
    };
  }, [stats]);
  if (!stats) return html`<section class="postings-charts" data-testid="postings-charts"><p class="muted">Charts load with the results…</p></section>`;
  return html`<section class="postings-charts" data-testid="postings-charts" aria-labelledby="charts-h">
    <h2 id="charts-h">The postings above, in charts</h2>
    <div class="charts">
      <${Bars} testid="chart-by-source" caption="By source" rows=${stats.bySource.map((r) => ({ label: sourceLabel(r.source), count: r.count }))} />
      <${Bars} testid="chart-by-arrangement" caption="By work arrangement" rows=${stats.byWorkArrangement.map((r) => ({ label: label(r.workArrangement), count: r.count }))} />
      <${Salaries} rows=${stats.salary} />
      <${TimeChart} testid="chart-postings-per-day" caption="Postings per day (posting date), last 90 days" x=${perDay.x} series=${perDay.series} bars
        empty="No postings dated in the last 90 days for this filter." />
    </div>
  </section>`;
}

/** Annual salary percentiles per currency: a box (p25–p75) with the median, on a min–max track. */
function Salaries({ rows }) {
  return html`<figure class="salaries" data-testid="chart-salary">
    <figcaption>Annual salary per currency (min · 25% · median · 75% · max)</figcaption>
    ${rows.length === 0
      ? html`<p class="empty">No postings with an annual salary match.</p>`
      : html`<table><thead><tr><th scope="col">Currency</th><th scope="col" class="num">Postings</th><th scope="col">Spread</th><th scope="col" class="num">Median</th></tr></thead><tbody>
        ${rows.map((r) => {
          const span = r.max - r.min || 1;
          const pos = (v) => ((v - r.min) / span) * 100 + '%';
          const title = `min ${money(r.min, r.currency)} · p25 ${money(r.p25, r.currency)} · median ${money(r.median, r.currency)} · p75 ${money(r.p75, r.currency)} · max ${money(r.max, r.currency)}`;
          return html`<tr key=${r.currency}>
            <th scope="row">${r.currency}</th><td class="num">${fmtNum(r.count)}</td>
            <td><span class="box-track" title=${title} aria-label=${title} role="img">
              <span class="box" style=${{ left: pos(r.p25), width: (((r.p75 - r.p25) / span) * 100) + '%' }}></span>
              <span class="median" style=${{ left: pos(r.median) }}></span></span>
              <span class="sub">${money(r.min, r.currency)} – ${money(r.max, r.currency)}</span></td>
            <td class="num">${money(r.median, r.currency)}</td></tr>`;
        })}</tbody></table>`}
  </figure>`;
}
