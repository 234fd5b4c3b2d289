/**
 * Vitest global setup of the `integration` project: starts three throwaway
 * MariaDB/MySQL servers (shard_a, shard_b, shard_c) on free loopback ports and
 * provides their specs to tests as `inject('shards')`; stops them and removes
 * their data afterwards. Set DATABALANCER_TEST_KEEP=1 to leave them running
 * for debugging (their addresses and a clean-up command are printed).
 */
import type { TestProject } from 'vitest/node';
import { startCluster } from '../../scripts/lib/mariadb-cluster.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const keep = (process.env['DATABALANCER_TEST_KEEP'] ?? '') !== '';
  const cluster = await startCluster({ count: 3, names: ['shard_a', 'shard_b', 'shard_c'], cleanupOnExit: !keep });
  project.provide('shards', cluster.servers);
  return async () => {
    if (!keep) {
      await cluster.stop();
      return;
    }
    const lines = cluster.servers.map(
      (s) => `  ${s.name}: mysql://root@${s.host}:${s.port}  (pid file ${s.pidFile}, log ${s.logFile})`,
    );
    const pidFiles = cluster.servers.map((s) => s.pidFile).join(' ');
    process.stderr.write(
      `DATABALANCER_TEST_KEEP is set: leaving the test shards running under ${cluster.baseDir}\n${lines.join('\n')}\n` +
        `Clean up with: kill $(cat ${pidFiles}) && sleep 2 && rm -rf ${cluster.baseDir}\n`,
    );
  };
}
