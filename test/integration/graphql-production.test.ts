/**
 * With NODE_ENV=production the gateway serves no Apollo Sandbox on GET
 * /graphql, while POST /graphql keeps working.
 */
import { describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logging/logger.js';
import { shardsFlag } from './helpers/gateway.js';

const shards = inject('shards');

describe('production mode', () => {
  it('does not serve the Sandbox page but answers operations', async () => {
    const config = loadConfig([`--shards=${shardsFlag(shards)}`, '--server_address=127.0.0.1:0', '--purge_interval_seconds=0'], {
      NODE_ENV: 'production',
    });
    expect(config.graphql.explorer).toBe('graphiql');
    const app = await createApp(config, createLogger('silent'));
    try {
      const url = await app.server.listen({ host: '127.0.0.1', port: 0 });
      const page = await fetch(`${url}/graphql`, { headers: { accept: 'text/html' } });
      const html = await page.text();
      expect(html.toLowerCase()).not.toContain('embeddable-sandbox');
      expect(html.toLowerCase()).not.toContain('sandbox.embed');
      const answer = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ shards { name reachable } }' }),
      });
      expect(answer.status).toBe(200);
      const body = (await answer.json()) as { data: { shards: Array<{ name: string }> } };
      expect(body.data.shards.map((s) => s.name)).toEqual(['shard_a', 'shard_b', 'shard_c']);
    } finally {
      await app.close();
    }
  });
});
