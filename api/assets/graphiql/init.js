// jobintel's GraphiQL set-up, served as a file so the page's Content-Security-Policy can forbid
// inline scripts.
(function () {
  const http = new URL('/graphql', window.location.href).toString();
  const ws = http.replace(/^http/, 'ws');
  // A token saved in this tab (sessionStorage "jobintel.token") is sent as a bearer token and
  // in connection_init, so mutations and protected reads work from the playground. Session
  // storage, not local storage: the secret ends with the tab instead of staying on disk. A
  // token an older version left in local storage is moved over once.
  const legacy = window.localStorage.getItem('jobintel.token');
  if (legacy !== null) {
    window.localStorage.removeItem('jobintel.token');
    if (!window.sessionStorage.getItem('jobintel.token')) {
      window.sessionStorage.setItem('jobintel.token', legacy);
    }
  }
  const token = window.sessionStorage.getItem('jobintel.token');
  const headers = token ? { Authorization: 'Bearer ' + token } : {};
  const fetcher = GraphiQL.createFetcher({
    url: http,
    subscriptionUrl: ws,
    headers,
    wsConnectionParams: token ? { Authorization: 'Bearer ' + token, token } : {},
  });
  const defaultQuery = `# jobintel GraphQL playground. Ctrl-Enter runs a query.
{
  health { status database jobCount version }
  jobPostings(first: 5) {
    edges { node { title company city salary { text } postedAt url } }
    pageInfo { hasNextPage endCursor }
  }
}
`;
  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher,
      defaultQuery,
      defaultEditorToolsVisibility: true,
      // Headers typed into the editor may hold a token: never write them to local storage.
      shouldPersistHeaders: false,
    })
  );
})();
