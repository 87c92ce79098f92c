// Talking to jobintel: GraphQL over HTTP (`POST /graphql`) and subscriptions over the
// `/graphql` WebSocket (graphql-transport-ws, through the vendored `graphql-ws` client). Only
// the public API: whatever the console does, a script can do the same way.
//
// Also the little shared state every page needs: the API token (sessionStorage, gone with the
// tab), the caller's rights (`viewer`) and the last error (shown in the error banner).
import { createClient } from '../vendor/graphql-ws/client.js';
import { useState, useEffect, useRef, useCallback } from './html.js';

const TOKEN_KEY = 'jobintel.console.token';

/** A failed request: the server's message, its `extensions.code` and what to do about it. */
export class GqlError extends Error {
  constructor(message, code, errors) {
    super(message);
    this.code = code || 'ERROR';
    this.errors = errors || [];
  }
}

// --- shared state -------------------------------------------------------------------------

const listeners = new Set();
export const state = {
  /** `viewer` as last read; `null` until the first answer. */
  viewer: null,
  /** Bumped when the token changes: pages refetch, sockets reconnect. */
  authVersion: 0,
  /** The error banner's content: `{message, code, hint}` or null. */
  error: null,
  /** Whether the token dialog is open. */
  tokenDialog: false,
  /** Display names of the sources (`sources { source name }`), e.g. JSONLD → "JSON-LD". */
  sourceNames: {},
};

export function update(patch) {
  Object.assign(state, patch);
  for (const fn of listeners) fn();
}

/** Re-render the calling component whenever the shared state changes. */
export function useShared() {
  const [, force] = useState(0);
  useEffect(() => {
    const fn = () => force((n) => n + 1);
    listeners.add(fn);
    return () => listeners.delete(fn);
  }, []);
  return state;
}

export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token lives as long as this page.
  }
  memoryToken = token;
  resetSocket();
  update({ authVersion: state.authVersion + 1 });
}
let memoryToken = '';
const token = () => getToken() || memoryToken;

/** May the caller run mutations? Unknown (no `viewer` yet, or an older server) counts as yes:
 * the server still refuses what it must, and the refusal is shown. */
export const canWrite = () => state.viewer == null || state.viewer.canWrite !== false;

/** What to tell the operator for each error code. */
export function hintFor(code) {
  switch (code) {
    case 'UNAUTHENTICATED':
    case 'FORBIDDEN':
      return 'This needs the API token: use “Enter token” at the top right.';
    case 'NETWORK':
      return 'Is jobintel running and reachable? Reload the page once it is.';
    case 'RATE_LIMITED':
      return 'Too many requests from this address: wait a few seconds, or enter the API token.';
    case 'BAD_USER_INPUT':
      return 'Correct the input and try again.';
    case 'NOT_FOUND':
      return 'It may have been deleted: go back to the list.';
    case 'GRAPHQL_VALIDATION_FAILED':
      return 'This server does not know a field the console asks for: it is older than the console — upgrade jobintel.';
    case 'TIMEOUT':
    case 'SERVICE_UNAVAILABLE':
      return 'The server or its database is busy or down: retry in a moment.';
    default:
      return 'Retry; if it keeps failing, the server log has the details.';
  }
}

/** Show an error in the banner (and open the token dialog when a token would help). */
export function report(err, what) {
  const code = err instanceof GqlError ? err.code : 'ERROR';
  const message = (what ? what + ': ' : '') + (err && err.message ? err.message : String(err));
  update({ error: { message, code, hint: hintFor(code) } });
  if (code === 'UNAUTHENTICATED' && !token()) update({ tokenDialog: true });
}

export const clearError = () => state.error && update({ error: null });

// --- HTTP ---------------------------------------------------------------------------------

/** Run one query or mutation; resolves to `data`, rejects with a GqlError. */
export async function gql(query, variables = {}) {
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  const t = token();
  if (t) headers.authorization = 'Bearer ' + t;
  let res;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
      credentials: 'omit',
    });
  } catch (e) {
    throw new GqlError('cannot reach the server (' + e.message + ')', 'NETWORK');
  }
  let body;
  try {
    body = await res.json();
  } catch {
    throw new GqlError(`the server answered ${res.status} ${res.statusText} without JSON`, 'HTTP_' + res.status);
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    const code = (first.extensions && first.extensions.code) || (res.ok ? 'ERROR' : 'HTTP_' + res.status);
    throw new GqlError(first.message, code, body.errors);
  }
  return body.data;
}

/**
 * Load `query` whenever `deps` (or the token) change. Returns `{data, error, loading, reload}`;
 * a failure also goes to the error banner. `data` keeps the previous answer while reloading.
 */
export function useQuery(query, variables, deps, { skip = false } = {}) {
  const [result, setResult] = useState({ data: null, error: null, loading: !skip, settled: false });
  const seq = useRef(0);
  const vars = useRef(variables);
  vars.current = variables;
  const run = useCallback(() => {
    const mine = ++seq.current;
    setResult((r) => ({ ...r, loading: true }));
    return gql(query, vars.current).then(
      (data) => mine === seq.current && setResult({ data, error: null, loading: false, settled: true }),
      (error) => {
        if (mine !== seq.current) return;
        report(error);
        setResult((r) => ({ data: r.data, error, loading: false, settled: true }));
      },
    );
  }, [query]);
  useEffect(() => {
    if (!skip) run();
  }, [...deps, state.authVersion, skip]);
  return { ...result, reload: run };
}

// --- WebSocket ----------------------------------------------------------------------------

let client = null;

function socket() {
  if (!client) {
    const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/graphql';
    client = createClient({
      url,
      // Read at every (re)connect, so a token entered later is used.
      connectionParams: () => (token() ? { Authorization: 'Bearer ' + token() } : {}),
      lazy: true,
      retryAttempts: Infinity,
      shouldRetry: () => true,
      keepAlive: 20000,
    });
  }
  return client;
}

function resetSocket() {
  if (client) {
    const old = client;
    client = null;
    old.dispose();
  }
}

/** Subscribe; `onData(data)` for each event. Returns the function that unsubscribes. */
export function subscribe(query, variables, onData, { onComplete } = {}) {
  return socket().subscribe(
    { query, variables },
    {
      next: (msg) => {
        if (msg.errors && msg.errors.length) {
          const e = msg.errors[0];
          report(new GqlError(e.message, e.extensions && e.extensions.code, msg.errors), 'live updates');
        } else if (msg.data) onData(msg.data);
      },
      error: (err) => {
        // A socket closed on purpose (token change) is not news.
        if (err && err.code === 1000) return;
        if (Array.isArray(err)) {
          const e = err[0] || {};
          report(new GqlError(e.message, e.extensions && e.extensions.code, err), 'live updates');
        } else if (err && typeof err.code === 'number') {
          report(new GqlError(`socket closed (${err.code}${err.reason ? ': ' + err.reason : ''})`, err.code === 4403 ? 'FORBIDDEN' : 'NETWORK'), 'live updates');
        } else {
          report(new GqlError('connection lost', 'NETWORK'), 'live updates');
        }
      },
      complete: () => onComplete && onComplete(),
    },
  );
}

/** `subscribe` for the life of a component (and again after a token change). */
export function useSubscription(query, variables, onData, deps, { skip = false, onComplete } = {}) {
  const handler = useRef(onData);
  handler.current = onData;
  const done = useRef(onComplete);
  done.current = onComplete;
  useEffect(() => {
    if (skip) return undefined;
    return subscribe(query, variables, (d) => handler.current(d), { onComplete: () => done.current && done.current() });
  }, [...deps, state.authVersion, skip]);
}
