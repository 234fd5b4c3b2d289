/**
 * --catalog naming a server (here: its own database) that is not one of the
 * shards: placements and schemas live there, the catalog gets no raw_logs,
 * and another gateway with the same flags finds the families.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { ingest, onShard, query, shardsFlag, specNamed, startGateway, tableExists, uniqueFamily } from './helpers/gateway.js';

const shards = inject('shards');

describe('a separate catalog server', () => {
  it('keeps placements outside the shards and shares them between gateways', async () => {
    const catalogServer = specNamed(shards, 'shard_a');
    const catalogDb = `catalog_${randomBytes(4).toString('hex')}`;
    const flags = [`--shards=${shardsFlag(shards.slice(1))}`, `--catalog=mysql://root@${catalogServer.host}:${catalogServer.port}/${catalogDb}`];
    const first = await startGateway(shards, flags);
    const second = await startGateway(shards, flags);
    try {
      const family = uniqueFamily('sepcat');
      const answer = await ingest(first, family, { n: 'int' }, [{ n: 1 }, { n: 2 }]);
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
      expect(['shard_b', 'shard_c']).toContain(answer.body.shard);

      const placements = await onShard<{ shard: string }>(catalogServer, 'SELECT shard FROM databalancer_placements WHERE family = ?', [family], catalogDb);
      expect(placements).toEqual([{ shard: answer.body.shard }]);
      expect(await tableExists(catalogServer, 'raw_logs', catalogDb)).toBe(false);
      expect(await tableExists(catalogServer, family, catalogDb)).toBe(false);

      const read = await query(second, `SELECT SUM(n) AS total FROM ${family}`);
      expect(read.status).toBe(200);
      expect(read.body.results).toEqual([{ total: 3 }]);
    } finally {
      await Promise.all([first.close(), second.close()]);
      await onShard(catalogServer, `DROP DATABASE IF EXISTS \`${catalogDb}\``, [], null);
    }
  });
});
