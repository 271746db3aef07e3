// Finora GraphiQL: starts the editor. Served as a file (script-src 'self'); the
// page gives it its settings in a JSON element that the browser never executes.
//
// Only the query (q) and the variables are kept in the address bar, so a link
// can be shared. Headers never are: they carry the API key, and an address ends
// up in history, in logs and in screenshots.
(function () {
  "use strict";

  const KEPT_IN_URL = ["q", "variables"];
  const config = JSON.parse(document.getElementById("graphiql-config").textContent);
  const address = new URL(window.location.href);
  const parameters = {};
  for (const name of KEPT_IN_URL) {
    const value = address.searchParams.get(name);
    if (value) {
      parameters[name] = value;
    }
  }

  function updateURL(changed) {
    Object.assign(parameters, changed);
    const search = new URLSearchParams();
    for (const name of KEPT_IN_URL) {
      if (parameters[name]) {
        search.set(name, parameters[name]);
      }
    }
    const query = search.toString();
    history.replaceState(null, "", address.pathname + (query ? "?" + query : ""));
  }

  // Drops whatever else an old link carried (such as headers=...) from the address.
  updateURL({});

  const fetcher = GraphiQL.createFetcher({ url: address.origin + address.pathname });

  // GraphiQL's query history keeps each run's headers in localStorage, which any
  // project served later on this origin (127.0.0.1:8000 ...) can read. History is
  // stored without headers; read back, its entries get the page's own headers.
  const HISTORY = /^graphiql:(queries|favorites)$/;

  function mapHistory(key, value, change) {
    const match = HISTORY.exec(key);
    if (!match || !value) {
      return value;
    }
    const stored = JSON.parse(value);
    stored[match[1]] = (stored[match[1]] || []).map(change);
    return JSON.stringify(stored);
  }

  function withoutHeaders(item) {
    const copy = Object.assign({}, item);
    delete copy.headers;
    return copy;
  }

  function withPageHeaders(item) {
    return Object.assign({}, item, { headers: item.headers || config.headers });
  }

  function ownKeys() {
    return Object.keys(localStorage).filter((key) => key.startsWith("graphiql:"));
  }

  const storage = {
    getItem: (key) => mapHistory(key, localStorage.getItem(key), withPageHeaders),
    setItem: (key, value) => localStorage.setItem(key, mapHistory(key, value, withoutHeaders)),
    removeItem: (key) => localStorage.removeItem(key),
    get length() {
      return ownKeys().length;
    },
    clear: () => ownKeys().forEach((key) => localStorage.removeItem(key)),
  };

  function FinoraGraphiQL() {
    const [query, setQuery] = React.useState(parameters.q || config.query);
    const [variables, setVariables] = React.useState(parameters.variables || config.variables);
    const [headers, setHeaders] = React.useState(config.headers);

    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultEditorToolsVisibility: true,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      query: query,
      variables: variables,
      headers: headers,
      onEditQuery: function (value) {
        setQuery(value);
        updateURL({ q: value });
      },
      onEditVariables: function (value) {
        setVariables(value);
        updateURL({ variables: value });
      },
      onEditHeaders: setHeaders,
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      // The key is given by the page on every load; it is not kept in localStorage.
      shouldPersistHeaders: false,
      storage: storage,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(FinoraGraphiQL),
  );
})();
