/**
 * The browser side of /graphiql: GraphiQL (from npm, bundled by gateway/src/graphiql.ts with
 * esbuild) on this gateway's /graphql, queries and mutations over HTTP, subscriptions over
 * graphql-ws on the same path. Nothing is fetched from anywhere else, so it works offline.
 *
 * The headers typed in GraphiQL's Headers editor (`{"Authorization": "Bearer <JWT>"}`) go with
 * every HTTP request and, as graphql-ws connectionParams, with every subscription's socket. No
 * token is built in, and headers are not saved in the browser (GraphiQL's default).
 */
// @types/react is not among package.json's dependencies: with it these are typed, without it
// (TS7016, no declaration file) they are not, and either way this compiles.
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import type { GraphiQLProps } from 'graphiql';
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import type { Fetcher, FetcherOpts } from '@graphiql/toolkit';

/** The browser globals this page uses (the repository's tsconfig is Node's: it has no DOM lib). */
interface Browser {
  document: { getElementById(id: string): unknown };
  location: { protocol: string; host: string; href: string };
  Worker: new (url: string, options?: { name?: string }) => unknown;
  MonacoEnvironment?: { getWorker(workerId: string, label: string): unknown };
}
const browser = globalThis as unknown as Browser;

/**
 * Monaco runs its language services in web workers. graphiql's own setup-workers entries name
 * them as Vite or webpack expect (or load them from esm.sh); here they are this bundle's files.
 */
const WORKERS: Record<string, string> = { json: 'json.worker.js', graphql: 'graphql.worker.js' };
browser.MonacoEnvironment = {
  getWorker: (_workerId, label) => new browser.Worker(`/graphiql/assets/${WORKERS[label] ?? 'editor.worker.js'}`, { name: label }),
};

const endpoint = new URL('/graphql', browser.location.href);
const subscriptionUrl = `${browser.location.protocol === 'https:' ? 'wss' : 'ws'}://${endpoint.host}${endpoint.pathname}`;

const toolkitFetcher = createGraphiQLFetcher({ url: endpoint.href, subscriptionUrl });

/**
 * Header names in lower case, so that `Authorization` from the editor arrives as the gateway's
 * graphql-ws connectionParams `{ authorization: "Bearer …" }` (the toolkit passes the editor's
 * headers as connectionParams as they are typed); HTTP header names are case-insensitive anyway.
 */
function lowerCased(headers: FetcherOpts['headers']): Record<string, unknown> | undefined {
  if (!headers) return undefined;
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));
}

const fetcher: Fetcher = (params, opts) => toolkitFetcher(params, opts ? { ...opts, headers: lowerCased(opts.headers) } : opts);

const DEFAULT_QUERY = `# GraphiQL on this gateway: no internet needed.
# Set your token in the Headers tab below:  {"Authorization": "Bearer <JWT>"}
# (npm start prints demo tokens). Subscriptions use ws://…/graphql with the same header.

query User {
  user(id: "u1") {
    id
    profile { version genreAffinities { key score } }
  }
}
`;

// Partial: without React's types some of GraphiQL's optional props read as required.
const props = {
  fetcher,
  defaultQuery: DEFAULT_QUERY,
  // No token, only how to set one (JSONC: the comment is ignored). A placeholder token would be
  // sent and refused (401), introspection too; without one, introspection works (not in production).
  defaultHeaders: '{\n  // "Authorization": "Bearer <token: npm start prints demo tokens>"\n}',
  defaultEditorToolsVisibility: 'headers',
} satisfies Partial<GraphiQLProps>;
// `never`: the element's DOM type is not known to this Node-typed program.
createRoot(browser.document.getElementById('graphiql') as never).render(createElement(GraphiQL, props));
