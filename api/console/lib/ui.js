// Small pieces every page uses: times (the browser's zone, UTC on hover), status badges, empty
// states, dialogs, numbers.
import { html, useEffect, useRef } from './html.js';
import { state } from './gql.js';

const local = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const localShort = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const num = new Intl.NumberFormat();

export const fmtNum = (n) => (n == null ? '—' : num.format(n));

export function utcText(iso) {
  const d = new Date(iso);
  return isNaN(d) ? String(iso) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$|Z$/, '') + ' UTC';
}

/** A timestamp in the browser's time zone; the UTC instant in `title`. */
export function Time({ value, short = false, relative = false }) {
  if (!value) return html`<span class="muted">—</span>`;
  const d = new Date(value);
  const text = relative ? ago(d) : (short ? localShort : local).format(d);
  return html`<time datetime=${value} title=${utcText(value)}>${text}</time>`;
}

/** "12 s ago", "3 min ago", "in 2 h". */
export function ago(d) {
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  const abs = Math.abs(s);
  const v = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 172800 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86400)} d`;
  return s >= 0 ? `${v} ago` : `in ${v}`;
}

/** Seconds between two instants, as "1 min 5 s". */
export function duration(from, to) {
  if (!from) return '—';
  const ms = (to ? new Date(to) : new Date()) - new Date(from);
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export const RUN_STATUSES = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'BLOCKED', 'CANCELLED', 'INTERRUPTED', 'SKIPPED'];
export const TRIGGERS = ['MANUAL', 'SCHEDULE', 'CLI', 'IMPORT', 'RETRY'];
export const ACTIVE = new Set(['QUEUED', 'RUNNING']);
export const RETRYABLE = new Set(['FAILED', 'INTERRUPTED', 'BLOCKED', 'CANCELLED']);

export function Status({ status, testid }) {
  return html`<span class=${'badge st-' + String(status).toLowerCase()} data-testid=${testid}>${status}</span>`;
}

/** "SMART_RECRUITERS" → "Smart recruiters". */
export function label(e) {
  if (!e) return '—';
  const s = String(e).toLowerCase().replace(/_/g, ' ');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** A source's display name ("JSON-LD", "SmartRecruiters"); import-only ones by their enum. */
export const sourceLabel = (s) => state.sourceNames[s] || label(s);

/** What an empty list means and what to do about it. */
export function Empty({ children }) {
  return html`<p class="empty">${children}</p>`;
}

/** A modal `<dialog>`: focus moves into it, Escape or the close button closes it. */
export function Dialog({ title, onClose, testid, children, wide = false }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    const close = () => onClose && onClose();
    d.addEventListener('close', close);
    return () => {
      d.removeEventListener('close', close);
      if (d.open) d.close();
    };
  }, []);
  return html`<dialog ref=${ref} data-testid=${testid} class=${wide ? 'wide' : ''} aria-label=${title}>
    <header class="dialog-head">
      <h2>${title}</h2>
      <button type="button" class="icon" aria-label="Close" onClick=${() => ref.current.close()}>×</button>
    </header>
    ${children}
  </dialog>`;
}

/** A horizontal bar list (counts per category), for small categorical charts. */
export function Bars({ rows, testid, caption }) {
  const max = Math.max(1, ...rows.map((r) => r.count));
  return html`<figure class="bars" data-testid=${testid}>
    <figcaption>${caption}</figcaption>
    ${rows.length === 0
      ? html`<${Empty}>Nothing matches.</${Empty}>`
      : html`<table class="bar-table"><tbody>
          ${rows.map((r) => html`<tr key=${r.label}>
            <th scope="row">${r.label}</th>
            <td class="bar-cell"><span class="bar" style=${{ width: (100 * r.count) / max + '%' }}></span></td>
            <td class="num">${fmtNum(r.count)}</td>
          </tr>`)}
        </tbody></table>`}
  </figure>`;
}

/** `href` for a route: `link('runs', id)` → `#/runs/<id>`. */
export const link = (...parts) => '#/' + parts.map((p) => encodeURIComponent(p)).join('/');

export function navigate(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

/** Parse JSON typed by a person; `{value}` or `{error}`. */
export function parseJson(text) {
  if (!text.trim()) return { value: {} };
  try {
    const value = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return { error: 'Parameters must be a JSON object, e.g. {"keywords": "rust"}' };
    return { value };
  } catch (e) {
    return { error: 'Not valid JSON: ' + e.message };
  }
}

/** A run's or schedule's stored `params` with the input's names (`max_pages` → `maxPages`),
 * so they can be edited and sent back as they are. */
export function normParams(params) {
  const o = {};
  if (!params || typeof params !== 'object') return o;
  for (const [k, v] of Object.entries(params)) o[k.replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = v;
  return o;
}

/** The parameters a run or schedule input takes, checked against the source's list. */
export const PARAM_NAMES = ['keywords', 'location', 'target', 'maxPages', 'country'];
export function paramsToInput(params, sourceInfo) {
  const input = {};
  const allowed = sourceInfo ? sourceInfo.params.map((p) => p.name) : PARAM_NAMES;
  for (const [k, v] of Object.entries(normParams(params))) {
    if (!PARAM_NAMES.includes(k)) return { error: `Unknown parameter “${k}”: use ${PARAM_NAMES.join(', ')}` };
    if (!allowed.includes(k)) return { error: `${sourceInfo.name} does not take “${k}”: it takes ${allowed.join(', ')}` };
    if (v === null || v === '') continue;
    if (k === 'maxPages') {
      if (!Number.isInteger(v)) return { error: 'maxPages must be a whole number, e.g. 3' };
    } else if (typeof v !== 'string') return { error: `${k} must be a string` };
    input[k] = v;
  }
  return { value: input };
}

/** A JSON template for a source's parameters: the required ones, then maxPages. */
export function paramsTemplate(sourceInfo) {
  if (!sourceInfo) return '{}';
  const o = {};
  for (const p of sourceInfo.params) {
    if (p.required || sourceInfo.requiresOneOf.includes(p.name)) o[p.name] = p.allowedValues ? p.allowedValues[0] : '';
  }
  if (sourceInfo.params.some((p) => p.name === 'maxPages')) o.maxPages = 1;
  return JSON.stringify(o, null, 2);
}

/** What each parameter means for this source. */
export function ParamHelp({ source }) {
  if (!source) return null;
  return html`<details class="param-help">
    <summary>Parameters of ${source.name}</summary>
    <p>${source.description}</p>
    <dl>
      ${source.params.map((p) => html`<dt key=${p.name}><code>${p.name}</code>${p.required ? ' (required)' : ''}</dt>
        <dd>${p.description}${p.allowedValues ? html` One of: ${p.allowedValues.map((v) => html`<code>${v}</code> `)}` : ''}</dd>`)}
    </dl>
    ${source.requiresOneOf.length ? html`<p>Give at least one of: ${source.requiresOneOf.join(', ')}.</p>` : ''}
  </details>`;
}

/** Call `fn` after `ms` without a new call (for typing). */
export function useDebounced(fn, ms, deps) {
  const f = useRef(fn);
  f.current = fn;
  useEffect(() => {
    const t = setTimeout(() => f.current(), ms);
    return () => clearTimeout(t);
  }, deps);
}
