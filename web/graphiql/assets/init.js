// GraphiQL start-up; runs after the vendored UMD files that define React, ReactDOM, GraphiQL.
// A separate file so the page needs no inline script under its CSP.
(function () {
  'use strict';
  // Full-height layout through the CSSOM (allowed without 'unsafe-inline').
  document.documentElement.style.height = document.body.style.height = '100%';
  document.body.style.margin = '0';
  var container = document.getElementById('graphiql');
  container.style.height = '100vh';
  var ws = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  // POST /graphql; subscriptions over graphql-transport-ws through the graphql-ws client
  // bundled in graphiql.min.js. The Headers pane is sent as HTTP headers and as the
  // websocket's connection_init payload.
  var fetcher = GraphiQL.createFetcher({
    url: '/graphql',
    subscriptionUrl: ws + '//' + window.location.host + '/graphql',
  });
  ReactDOM.createRoot(container).render(React.createElement(GraphiQL, {
    fetcher: fetcher,
    isHeadersEditorEnabled: true,
    defaultEditorToolsVisibility: 'headers', // Headers tab open
    defaultHeaders: '', // or '{"Authorization": "Bearer <token>"}' (also sent with introspection)
    shouldPersistHeaders: false, // tokens stay out of localStorage
  }));
})();
