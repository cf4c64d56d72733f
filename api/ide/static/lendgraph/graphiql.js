// Starts GraphiQL on LendGraph's development IDE page (api/ide). A file, not an inline
// script, so the page's Content-Security-Policy can allow scripts from 'self' only.
(function () {
  "use strict";

  const WELCOME = [
    "# LendGraph GraphiQL (development only)",
    "#",
    "# Write a query here and run it with Ctrl-Enter or the play button.",
    "# Signed-in requests: add {\"Authorization\": \"Bearer <access token>\"}",
    "# in the Headers tab below.",
    "",
  ].join("\n");

  // The editors' text travels in the address (?q=…&vars=…), so a query can be shared as
  // a link; headers never do, as they may hold a token. Not ?query= nor ?variables=:
  // GET /graphql reads those as a request to run, not as the IDE's.
  const parameters = new URLSearchParams(window.location.search);

  function remember(name, value) {
    if (value) {
      parameters.set(name, value);
    } else {
      parameters.delete(name);
    }
    const search = parameters.toString();
    history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  const url = window.location.href.split("?")[0].split("#")[0];
  const subscriptionUrl = new URL(url);
  subscriptionUrl.protocol = subscriptionUrl.protocol === "https:" ? "wss:" : "ws:";

  const fetcher = GraphiQL.createFetcher({ url: url, subscriptionUrl: subscriptionUrl.href });
  const explorer = GraphiQLPluginExplorer.explorerPlugin();

  function LendGraphGraphiQL() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultQuery: WELCOME,
      query: parameters.get("q") || undefined,
      variables: parameters.get("vars") || undefined,
      onEditQuery: function (text) { remember("q", text); },
      onEditVariables: function (text) { remember("vars", text); },
      defaultEditorToolsVisibility: true,
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      // A bearer token typed in the headers tab stays in this tab, not in localStorage.
      shouldPersistHeaders: false,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(LendGraphGraphiQL),
  );
})();
