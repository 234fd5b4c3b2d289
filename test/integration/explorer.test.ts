/**
 * The GraphQL explorer pages (--graphql_explorer): GraphiQL served entirely
 * from the gateway's own assets (no CDN, no external request at all), Apollo
 * Sandbox with telemetry off that links to the offline page when it cannot
 * load, and none at all with `off`. Checked over HTTP and in a real headless
 * Chromium whose every request to anything but the gateway is aborted.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { api, ingest, startGateway, uniqueFamily, type TestGateway } from './helpers/gateway.js';

const shards = inject('shards');

/** Debian's chromium (CI installs it); CHROMIUM_PATH points elsewhere. */
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

let graphiql: TestGateway;
let sandbox: TestGateway;
let off: TestGateway;
let browser: Browser | undefined;
const family = uniqueFamily('explorer');

beforeAll(async () => {
  [graphiql, sandbox, off] = await Promise.all([
    startGateway(shards, ['--graphql_explorer=graphiql']),
    startGateway(shards),
    startGateway(shards, ['--graphql_explorer=off']),
  ]);
  const written = await ingest(graphiql, family, { name: 'string', weight: 'int' }, [{ name: 'rex_the_offline_dog', weight: 30 }]);
  expect(written.status).toBe(200);
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await Promise.all([graphiql?.close(), sandbox?.close(), off?.close()]);
});

/** The page a browser gets for `path`: status, content type and text. */
async function page(gateway: TestGateway, path: string): Promise<{ status: number; type: string; html: string; csp: string | null }> {
  const response = await fetch(`${gateway.url}${path}`, { headers: { accept: BROWSER_ACCEPT } });
  return { status: response.status, type: response.headers.get('content-type') ?? '', html: await response.text(), csp: response.headers.get('content-security-policy') };
}

/** Every src= and href= of a page. */
function references(html: string): string[] {
  return [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1] ?? '');
}

describe('the GraphiQL page over HTTP', () => {
  it('serves GraphiQL at GET /graphql and /graphql/explorer, referring to nothing but its own assets', async () => {
    for (const path of ['/graphql', '/graphql/explorer']) {
      const { status, type, html } = await page(graphiql, path);
      expect(status).toBe(200);
      expect(type).toContain('text/html');
      expect(html).toContain('GraphiQL');
      expect(html).not.toMatch(/https?:\/\//);
      expect(html).toContain('Content-Security-Policy');
      const refs = references(html).filter((ref) => !ref.startsWith('data:'));
      expect(refs.length).toBeGreaterThanOrEqual(4);
      for (const ref of refs) {
        expect(ref.startsWith('/graphql/explorer/assets/'), ref).toBe(true);
        const asset = await fetch(`${graphiql.url}${ref}`);
        expect(asset.status, ref).toBe(200);
        expect(asset.headers.get('content-type'), ref).toMatch(ref.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
        expect(asset.headers.get('cache-control'), ref).toContain('immutable');
        expect((await asset.arrayBuffer()).byteLength, ref).toBeGreaterThan(100);
      }
    }
  });

  it('answers an unknown asset 404 in the envelope', async () => {
    const missing = await api(graphiql, 'GET', '/graphql/explorer/assets/nope.js');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('ROUTE_NOT_FOUND');
  });

  it('keeps the Sandbox as the default, telemetry off, linking to the offline explorer', async () => {
    const { status, html } = await page(sandbox, '/graphql');
    expect(status).toBe(200);
    expect(html).toContain('embeddable-sandbox');
    expect(html).toContain('"runTelemetry":false');
    expect(html).toContain('href="/graphql/explorer"');
    expect(html).toContain('Apollo Sandbox could not load');
    const offline = await page(sandbox, '/graphql/explorer');
    expect(offline.status).toBe(200);
    expect(offline.html).toContain('GraphiQL');
    expect(offline.html).not.toMatch(/https?:\/\//);
  });

  it('serves no explorer with --graphql_explorer=off', async () => {
    const main = await page(off, '/graphql');
    expect(main.html.toLowerCase()).not.toContain('graphiql');
    expect(main.html.toLowerCase()).not.toContain('sandbox');
    expect((await page(off, '/graphql/explorer')).status).toBe(404);
    expect((await api(off, 'GET', '/graphql/explorer/assets/explorer.js')).status).toBe(404);
  });
});

/** A headless Chromium; fails (never skips) when there is none. */
async function launchBrowser(): Promise<Browser> {
  if (browser !== undefined) return browser;
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: the explorer's browser test needs Debian's chromium (apt-get install chromium; CI installs it), or CHROMIUM_PATH set to a Chromium binary`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  return browser;
}

/** A page that may reach only `gateway`: every other request is aborted and recorded, and so are script errors. */
async function offlinePage(gateway: TestGateway): Promise<{ page: Page; blocked: string[]; errors: string[] }> {
  const context = await (await launchBrowser()).newContext();
  const host = new URL(gateway.url).host;
  const blocked: string[] = [];
  const errors: string[] = [];
  await context.route('**/*', async (route) => {
    const url = new URL(route.request().url());
    if ((url.protocol === 'http:' || url.protocol === 'https:') && url.host === host) return route.continue();
    if (url.protocol === 'data:') return route.continue();
    blocked.push(url.href);
    return route.abort('internetdisconnected');
  });
  const browserPage = await context.newPage();
  browserPage.on('pageerror', (error) => errors.push(error.message));
  browserPage.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  return { page: browserPage, blocked, errors };
}

/** Clicks GraphiQL's run button and returns the result pane's text once it shows `expected`. */
async function runAndRead(browserPage: Page, expected: string): Promise<string> {
  await browserPage.locator('.graphiql-execute-button').click({ timeout: 30_000 });
  const pane = browserPage.locator('.graphiql-response');
  await pane.getByText(expected, { exact: false }).first().waitFor({ timeout: 30_000 });
  return pane.innerText();
}

describe('the explorer in a headless browser with no internet', () => {
  it('loads GraphiQL from the gateway alone, runs a query and shows the result', async () => {
    const { page: browserPage, blocked, errors } = await offlinePage(graphiql);
    const query = `{ rawQuery(query: "SELECT name, weight FROM ${family}") { results } }`;
    await browserPage.goto(`${graphiql.url}/graphql?query=${encodeURIComponent(query)}`, { timeout: 30_000 });
    const result = await runAndRead(browserPage, 'rex_the_offline_dog');
    expect(result).toContain('"weight": 30');
    expect(blocked).toEqual([]);
    expect(errors.filter((e) => !e.includes('favicon'))).toEqual([]);
    await browserPage.context().close();
  }, 60_000);

  it('shows a link to the offline explorer when Apollo Sandbox cannot load, and that explorer works', async () => {
    const { page: browserPage, blocked } = await offlinePage(sandbox);
    await browserPage.goto(`${sandbox.url}/graphql`, { timeout: 30_000 });
    const link = browserPage.getByRole('link', { name: /offline explorer/i });
    await link.waitFor({ timeout: 30_000 });
    expect(blocked.some((url) => url.includes('cdn.apollographql.com'))).toBe(true);
    await link.click();
    await browserPage.waitForURL(/\/graphql\/explorer/, { timeout: 30_000 });
    const before = blocked.length;
    await browserPage.locator('.graphiql-query-editor .CodeMirror').first().click();
    await browserPage.keyboard.press('ControlOrMeta+A');
    await browserPage.keyboard.insertText('{ shards { name reachable } }');
    const result = await runAndRead(browserPage, 'shard_c');
    expect(result).toContain('"reachable": true');
    expect(blocked.slice(before)).toEqual([]);
    await browserPage.context().close();
  }, 60_000);
});
