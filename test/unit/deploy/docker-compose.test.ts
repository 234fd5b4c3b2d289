/**
 * docker-compose.yml cannot be run here (no Docker engine), so it is checked
 * with a YAML parser: three MariaDB 10.11 shards and a gateway whose
 * --shards (env) names exactly those services, started after they are healthy.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { load } from 'js-yaml';
import { loadConfig } from '../../../src/config/config.js';

interface ComposeService {
  image?: string;
  build?: unknown;
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  ports?: string[];
}

const compose = load(readFileSync('docker-compose.yml', 'utf8')) as { services: Record<string, ComposeService>; volumes: Record<string, unknown> };

describe('docker-compose.yml', () => {
  const shards = ['shard_a', 'shard_b', 'shard_c'];

  it('defines three MariaDB 10.11 shards with health checks and volumes', () => {
    for (const name of shards) {
      const service = compose.services[name];
      expect(service?.image).toBe('mariadb:10.11');
      expect(service?.healthcheck?.test).toContain('healthcheck.sh');
      expect(Object.keys(compose.volumes)).toContain(name);
    }
  });

  it('wires the gateway to exactly those shards through a valid configuration', () => {
    const gateway = compose.services['gateway'];
    expect(gateway?.build).toBe('.');
    expect(Object.keys(gateway?.depends_on ?? {}).sort()).toEqual(shards);
    for (const name of shards) expect(gateway?.depends_on?.[name]?.condition).toBe('service_healthy');
    const config = loadConfig([], gateway?.environment ?? {});
    expect(config.shards.map((s) => s.id)).toEqual(shards);
    expect(config.shards.map((s) => s.host)).toEqual(shards);
    expect(config.server.port).toBe(8080);
  });
});
