/**
 * The GraphQL explorer pages (--graphql_explorer). GraphiQL is served
 * entirely from this package's own files: the prebuilt UMD bundle and CSS
 * that the `graphiql` npm package ships, React's UMD builds, and a small
 * start script, all under /graphql/explorer/assets/; the page's
 * Content-Security-Policy lets it load or fetch nothing from anywhere else,
 * so it works where browsers cannot reach the internet. Apollo Sandbox
 * (the default outside production) loads from Apollo's CDN; it runs with
 * telemetry off, and its "cannot be loaded" notice links to the offline
 * GraphiQL page, which is always served at /graphql/explorer unless the
 * explorer is off.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { FastifyInstance } from 'fastify';

/** Where the offline GraphiQL page is always served (unless the explorer is off). */
export const EXPLORER_PATH = '/graphql/explorer';

/** The explorer's static files. */
export const EXPLORER_ASSETS_PATH = `${EXPLORER_PATH}/assets`;

/** One static file of the page, served under EXPLORER_ASSETS_PATH/<name>. */
interface Asset {
  /** File name, with a hash of the content so it can be cached forever. */
  readonly name: string;
  readonly type: string;
  readonly body: Buffer;
}

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/**
 * Starts GraphiQL on #graphiql against the endpoint in its data-endpoint
 * attribute. `?query=`, `?variables=` and `?operationName=` in the page's URL
 * fill the editors. Headers typed in the editor are never stored.
 */
const START_SCRIPT = `(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  var params = new URLSearchParams(window.location.search);
  var endpoint = new URL(root.getAttribute('data-endpoint') || '/graphql', window.location.href).href;
  var props = {
    fetcher: GraphiQL.createFetcher({ url: endpoint }),
    defaultEditorToolsVisibility: true,
    shouldPersistHeaders: false,
    defaultQuery: '# databalancer GraphQL explorer (GraphiQL, served by the gateway itself).\\n# Press Ctrl-Enter (Cmd-Enter) or the run button to run a query.\\n\\n{\\n  shards { name reachable families }\\n}\\n'
  };
  if (params.has('query')) props.query = params.get('query');
  if (params.has('variables')) props.variables = params.get('variables');
  if (params.has('operationName')) props.operationName = params.get('operationName');
  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
`;

const PAGE_CSS = `html, body { margin: 0; height: 100%; }
#graphiql { height: 100vh; }
.explorer-loading { font-family: system-ui, sans-serif; padding: 1em; }
`;

/** The vendor files: package, path inside it, media type. Read once, on first use. */
const VENDOR_FILES: ReadonlyArray<{ pkg: string; file: string; type: string }> = [
  { pkg: 'react', file: 'umd/react.production.min.js', type: JS },
  { pkg: 'react-dom', file: 'umd/react-dom.production.min.js', type: JS },
  { pkg: 'graphiql', file: 'graphiql.min.js', type: JS },
  { pkg: 'graphiql', file: 'graphiql.min.css', type: CSS },
];

/** The sourceMappingURL comment of a bundle: the map is not served, so browsers' devtools should not ask for it. */
const SOURCE_MAP_COMMENT = /\n\/\/# sourceMappingURL=[^\n]*\s*$/;

function asset(base: string, extension: string, type: string, body: Buffer): Asset {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { name: `${base}.${hash}.${extension}`, type, body };
}

/** The page's assets in load order: vendor files, then the page's own CSS and start script. */
export interface ExplorerAssets {
  readonly scripts: readonly Asset[];
  readonly styles: readonly Asset[];
  readonly byName: ReadonlyMap<string, Asset>;
}

let loaded: ExplorerAssets | undefined;

/** Reads the vendor files from node_modules (once) and builds the page's assets. */
export function explorerAssets(): ExplorerAssets {
  if (loaded !== undefined) return loaded;
  const require = createRequire(import.meta.url);
  const scripts: Asset[] = [];
  const styles: Asset[] = [];
  for (const { pkg, file, type } of VENDOR_FILES) {
    let body: Buffer;
    try {
      body = readFileSync(path.join(path.dirname(require.resolve(`${pkg}/package.json`)), file));
    } catch (error) {
      throw new Error(`the GraphiQL explorer needs ${pkg}/${file} (npm ci installs it; or start with --graphql_explorer=off): ${(error as Error).message}`);
    }
    const base = path.basename(file).replace(/\.(js|css)$/, '');
    if (type === JS) {
      const text = body.toString('utf8').replace(SOURCE_MAP_COMMENT, '\n');
      scripts.push(asset(base, 'js', type, Buffer.from(text, 'utf8')));
    } else {
      styles.push(asset(base, 'css', type, body));
    }
  }
  styles.push(asset('explorer', 'css', CSS, Buffer.from(PAGE_CSS, 'utf8')));
  scripts.push(asset('explorer', 'js', JS, Buffer.from(START_SCRIPT, 'utf8')));
  loaded = { scripts, styles, byName: new Map([...scripts, ...styles].map((a) => [a.name, a])) };
  return loaded;
}

/**
 * The page's Content-Security-Policy: scripts, styles, fonts and fetches from
 * the gateway only (GraphiQL's fonts and icons are data: URLs inside its
 * CSS; it sets inline styles), no frames, no forms, no <base>.
 */
export const EXPLORER_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-src 'none'",
].join('; ');

/** The GraphiQL page, for `endpoint` (the GraphQL path). */
export function graphiqlPage(endpoint: string): string {
  const assets = explorerAssets();
  const styles = assets.styles.map((a) => `    <link rel="stylesheet" href="${EXPLORER_ASSETS_PATH}/${a.name}" />`).join('\n');
  const scripts = assets.scripts.map((a) => `    <script src="${EXPLORER_ASSETS_PATH}/${a.name}"></script>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta http-equiv="Content-Security-Policy" content="${EXPLORER_CSP}" />
    <meta name="viewport" content="width=device-width,initial-scale=1" />
    <meta name="referrer" content="no-referrer" />
    <link rel="icon" href="data:," />
    <title>databalancer GraphQL explorer (GraphiQL)</title>
${styles}
  </head>
  <body>
    <div id="graphiql" data-endpoint="${endpoint}"><p class="explorer-loading">Loading GraphiQL...</p></div>
    <noscript>The explorer needs JavaScript. Without it, POST GraphQL operations to ${endpoint} with content-type: application/json (docs/graphql.md).</noscript>
${scripts}
  </body>
</html>
`;
}

/** Apollo landing page plugin serving the GraphiQL page at GET /graphql to browsers. */
export function graphiqlLandingPage(endpoint: string): ApolloServerPlugin {
  const html = graphiqlPage(endpoint);
  return {
    async serverWillStart() {
      return {
        async renderLandingPage() {
          return { html };
        },
      };
    },
  };
}

/** The notice the Sandbox page shows when its script could not load. */
const SANDBOX_OFFLINE_NOTICE = /<p>Apollo Sandbox cannot be loaded[^<]*<\/p>/;

/** The nonce Apollo's page gives its inline styles and scripts (its CSP allows no others). */
const PAGE_NONCE = /nonce="?([0-9a-f]+)"?/;

/**
 * The Sandbox page with its offline notice pointing at the offline explorer.
 * The Sandbox's own (empty, transparent) frame box covers the notice; a
 * style hides that box while it holds no frame, so the link can be clicked.
 */
export function withOfflineLink(html: string): string {
  const notice = `<p>Apollo Sandbox could not load (it comes from Apollo's CDN; this browser may be offline or blocked from it). Open the <a href="${EXPLORER_PATH}">offline explorer</a> at ${EXPLORER_PATH} (GraphiQL, served by this gateway).</p>`;
  const nonce = PAGE_NONCE.exec(html)?.[1];
  const style = `<style${nonce === undefined ? '' : ` nonce="${nonce}"`}>#embeddableSandbox:empty { display: none; }</style>`;
  if (SANDBOX_OFFLINE_NOTICE.test(html)) return html.replace(SANDBOX_OFFLINE_NOTICE, `${notice}\n  ${style}`);
  // Apollo changed its page: put the notice at the top of the body instead.
  return html.replace(/<body>/, `<body>\n    <div class="fallback">${notice}</div>\n    ${style}`);
}

/**
 * Apollo Sandbox (ApolloServerPluginLandingPageLocalDefault) with telemetry
 * off and cookies not sent, its offline notice linking to the offline
 * explorer (withOfflineLink).
 */
export function sandboxLandingPage(): ApolloServerPlugin {
  const inner = ApolloServerPluginLandingPageLocalDefault({ embed: { runTelemetry: false, endpointIsEditable: false }, includeCookies: false });
  return {
    async serverWillStart(service) {
      const listener = await inner.serverWillStart?.(service);
      const render = listener?.renderLandingPage;
      if (render === undefined) throw new Error('Apollo Sandbox plugin has no landing page');
      return {
        async renderLandingPage() {
          const page = await render();
          const html = page.html;
          return { html: async () => withOfflineLink(typeof html === 'string' ? html : await html()) };
        },
      };
    },
  };
}

/** Serves the GraphiQL page at EXPLORER_PATH and its assets (only what explorerAssets lists). */
export function registerExplorer(server: FastifyInstance, endpoint: string): void {
  const assets = explorerAssets();
  const html = graphiqlPage(endpoint);
  server.get(EXPLORER_PATH, async (_request, reply) => {
    await reply.header('content-security-policy', EXPLORER_CSP).header('x-content-type-options', 'nosniff').type('text/html; charset=utf-8').send(html);
  });
  server.get<{ Params: { name: string } }>(`${EXPLORER_ASSETS_PATH}/:name`, async (request, reply) => {
    const found = assets.byName.get(request.params.name);
    if (found === undefined) return reply.callNotFound();
    await reply.header('cache-control', 'public, max-age=31536000, immutable').header('x-content-type-options', 'nosniff').type(found.type).send(found.body);
  });
}
