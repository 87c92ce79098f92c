// The jobintel console: a single page over the public GraphQL API, no build step. This module
// is the shell — hash routing, navigation, the token dialog and the error banner; each page
// is a module under `pages/`.
//
// Routes: #/ overview, #/runs, #/runs/<id>, #/schedules, #/postings, #/postings/<id>,
// #/instances. A route may carry a query (`#/postings?ingestRunId=…`).
import { html, render, useState, useEffect, useRef } from './lib/html.js';
import { gql, state, update, useShared, getToken, setToken, clearError, report } from './lib/gql.js';
import { Dialog } from './lib/ui.js';
import { Overview } from './pages/overview.js';
import { Runs } from './pages/runs.js';
import { Run } from './pages/run.js';
import { Schedules } from './pages/schedules.js';
import { Postings } from './pages/postings.js';
import { Instances } from './pages/instances.js';

const NAV = [
  ['overview', '#/', 'Overview'],
  ['runs', '#/runs', 'Runs'],
  ['schedules', '#/schedules', 'Schedules'],
  ['postings', '#/postings', 'Postings'],
  ['instances', '#/instances', 'Instances'],
];

function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, q = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const query = Object.fromEntries(new URLSearchParams(q));
  const [section = 'overview', id] = parts;
  return { section, id, query };
}

function useRoute() {
  const [route, setRoute] = useState(parseRoute);
  useEffect(() => {
    const fn = () => {
      setRoute(parseRoute());
      clearError();
    };
    window.addEventListener('hashchange', fn);
    return () => window.removeEventListener('hashchange', fn);
  }, []);
  return route;
}

const VIEWER = `{ viewer { tokenRequired readsProtected canRead canWrite } }`;

/** Ask who we are; decide whether to ask for the token. Resolves to `{viewer}` or `{error}`. */
async function loadViewer({ quiet = false } = {}) {
  try {
    const { viewer } = await gql(VIEWER);
    update({ viewer });
    if (viewer.readsProtected && !viewer.canRead && !getToken()) update({ tokenDialog: true });
    return { viewer };
  } catch (error) {
    if (!quiet) report(error, 'who am I (viewer)');
    if (!state.viewer && error.code !== 'UNAUTHENTICATED' && error.code !== 'FORBIDDEN') {
      // An older server without `viewer`: act as if everything is allowed; it refuses what it
      // must, and each refusal is shown.
      update({ viewer: { tokenRequired: false, readsProtected: false, canRead: true, canWrite: true, unknown: true } });
    }
    return { error };
  }
}

const refused = (code) => code === 'UNAUTHENTICATED' || code === 'FORBIDDEN' || code === 'HTTP_401' || code === 'HTTP_403';

function TokenDialog() {
  const [value, setValue] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const t = value.trim();
    if (!t) {
      setError('Paste the value of JOBINTEL_API_TOKEN.');
      return;
    }
    setBusy(true);
    setToken(t);
    const { viewer, error: err } = await loadViewer({ quiet: true });
    setBusy(false);
    // A wrong token: refused outright, or the server still will not let us write (or read,
    // when reads are protected).
    const wrong = err ? refused(err.code) : (viewer.tokenRequired && !viewer.canWrite) || (viewer.readsProtected && !viewer.canRead);
    if (err || wrong) {
      setToken('');
      await loadViewer({ quiet: true });
      update({ tokenDialog: true });
      setError(wrong
        ? 'That token was not accepted: check JOBINTEL_API_TOKEN on the server (no quotes, no spaces) and try again.'
        : `Could not check the token: ${err.message}`);
      return;
    }
    clearError();
    update({ tokenDialog: false });
  };
  return html`<${Dialog} title="API token" testid="token-dialog" onClose=${() => update({ tokenDialog: false })}>
    <form onSubmit=${submit} class="stack">
      <p>This server ${state.viewer && state.viewer.readsProtected ? 'protects reads and changes' : 'accepts changes only'} with its API token
        (<code>JOBINTEL_API_TOKEN</code>). It is kept in this tab only (sessionStorage) and sent as
        <code>Authorization: Bearer …</code>.</p>
      <label>Token
        <input type="password" autocomplete="current-password" data-testid="token-input" value=${value}
          onInput=${(e) => setValue(e.target.value)} onChange=${(e) => setValue(e.target.value)} autofocus />
      </label>
      ${error && html`<p class="form-error" role="alert" data-testid="token-error">${error}</p>`}
      <div class="actions"><button type="submit" class="primary" data-testid="token-submit" disabled=${busy}>Use token</button></div>
    </form>
  </${Dialog}>`;
}

function AuthControls() {
  const s = useShared();
  const v = s.viewer;
  const have = !!getToken();
  if (have) {
    return html`<button type="button" data-testid="token-forget" title="Forget the token kept in this tab"
      onClick=${() => { setToken(''); loadViewer(); }}>Forget token</button>`;
  }
  if (v && v.tokenRequired && !v.canWrite) {
    return html`<button type="button" class="primary" data-testid="token-button" onClick=${() => update({ tokenDialog: true })}>
      Enter token</button>`;
  }
  return null;
}

function ErrorBanner() {
  const s = useShared();
  if (!s.error) return null;
  return html`<div class="banner error" role="alert" data-testid="error-banner">
    <div><strong>${s.error.message}</strong> <span class="code">${s.error.code}</span><br />${s.error.hint}</div>
    <button type="button" class="icon" aria-label="Dismiss" onClick=${clearError}>×</button>
  </div>`;
}

function ReadOnlyNote() {
  const s = useShared();
  const v = s.viewer;
  if (!v || v.canWrite || v.unknown) return null;
  return html`<div class="banner info" role="status">
    ${v.tokenRequired
      ? 'Read-only: enter the API token to start runs, change schedules or cancel.'
      : 'Read-only: this server accepts changes only from its own machine (or set JOBINTEL_API_TOKEN and enter it here).'}
  </div>`;
}

function Page({ route }) {
  const s = useShared();
  // Reads protected and no token yet: nothing to show until the token is entered.
  if (s.viewer && s.viewer.readsProtected && !s.viewer.canRead) {
    return html`<section class="page"><h1>Token needed</h1>
      <p class="empty">This server protects reads (<code>JOBINTEL_PROTECT_READS</code>). Enter the API token with the “Enter token” button to see anything.</p></section>`;
  }
  if (!s.viewer) return html`<p class="muted">Loading…</p>`;
  switch (route.section) {
    case 'overview':
      return html`<${Overview} />`;
    case 'runs':
      return route.id ? html`<${Run} key=${route.id} id=${route.id} />` : html`<${Runs} query=${route.query} />`;
    case 'schedules':
      return html`<${Schedules} />`;
    case 'postings':
      return html`<${Postings} detailId=${route.id} query=${route.query} />`;
    case 'instances':
      return html`<${Instances} />`;
    default:
      return html`<section class="page"><h1>Not found</h1><p class="empty">No page “${route.section}”. <a href="#/">Go to the overview.</a></p></section>`;
  }
}

function App() {
  const route = useRoute();
  const s = useShared();
  const main = useRef(null);
  useEffect(() => {
    loadViewer();
  }, []);
  // Display names of the sources, once reads are allowed (a failure just leaves enum names).
  const canRead = !!s.viewer && s.viewer.canRead !== false;
  useEffect(() => {
    if (!canRead) return;
    gql(`{ sources { source name } }`).then(
      (d) => update({ sourceNames: Object.fromEntries(d.sources.map((x) => [x.source, x.name])) }),
      () => {},
    );
  }, [canRead, s.authVersion]);
  useEffect(() => {
    const name = NAV.find(([k]) => k === route.section);
    document.title = (name ? name[2] : 'jobintel') + ' · jobintel console';
  }, [route.section]);
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); main.current && main.current.focus(); }}>Skip to content</a>
    <header class="top">
      <a class="brand" href="#/">jobintel <span>console</span></a>
      <nav aria-label="Sections">
        <ul>
          ${NAV.map(([key, href, text]) => html`<li key=${key}>
            <a href=${href} data-testid=${'nav-' + key} aria-current=${route.section === key ? 'page' : undefined}>${text}</a>
          </li>`)}
        </ul>
      </nav>
      <div class="auth"><${AuthControls} /></div>
    </header>
    <${ErrorBanner} />
    <${ReadOnlyNote} />
    <main id="main" tabindex="-1" ref=${main}>
      <${Page} route=${route} />
    </main>
    <footer class="foot">
      <a href="/graphiql">GraphiQL</a> · every view here is a query you can run there · <a href="/health">health</a>
    </footer>
    ${s.tokenDialog && html`<${TokenDialog} />`}
  `;
}

render(html`<${App} />`, document.getElementById('app'));
