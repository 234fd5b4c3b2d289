import { describe, expect, it } from 'vitest';
import type { ShardConfig } from '../../../src/config/config.js';
import { reconcileShardIds, type RecordedIdentity } from '../../../src/shards/shard-identity.js';

function shard(id: string, host: string, named: boolean): ShardConfig {
  return { id, host, port: 3306, user: 'root', password: '', database: 'db', named };
}

const recorded = (entries: Array<[string, RecordedIdentity]>): Map<string, RecordedIdentity> => new Map(entries);

describe('reconcileShardIds', () => {
  it('gives an unnamed shard the id its database recorded (the same server spelled another way)', () => {
    const { shards, notes } = reconcileShardIds([shard('127.0.0.1:3306/db', '127.0.0.1', false)], recorded([['127.0.0.1:3306/db', { kind: 'recorded', id: 'localhost:3306/db' }]]));
    expect(shards.map((s) => s.id)).toEqual(['localhost:3306/db']);
    expect(shards[0]?.host).toBe('127.0.0.1');
    expect(notes).toEqual([expect.objectContaining({ level: 'info', shard: 'localhost:3306/db' })]);
  });

  it('keeps ids when nothing is recorded, the record agrees, or the server is unreachable', () => {
    const input = [shard('a:3306/db', 'a', false), shard('b:3306/db', 'b', false), shard('c:3306/db', 'c', false)];
    const { shards, notes } = reconcileShardIds(
      input,
      recorded([
        ['a:3306/db', { kind: 'none' }],
        ['b:3306/db', { kind: 'recorded', id: 'b:3306/db' }],
        ['c:3306/db', { kind: 'unreachable' }],
      ]),
    );
    expect(shards).toEqual(input);
    expect(notes).toEqual([]);
  });

  it('never renames a named shard, and says how to fix a database recorded under another id', () => {
    const { shards, notes } = reconcileShardIds([shard('shard_a', 'db1', true)], recorded([['shard_a', { kind: 'recorded', id: 'db1:3306/db' }]]));
    expect(shards.map((s) => s.id)).toEqual(['shard_a']);
    expect(notes).toHaveLength(1);
    expect(notes[0]?.level).toBe('error');
    expect(notes[0]?.message).toContain('db1:3306/db=');
  });

  it('refuses to fold two configured shards into one id (the same database listed twice)', () => {
    const input = [shard('localhost:3306/db', 'localhost', false), shard('127.0.0.1:3306/db', '127.0.0.1', false)];
    const { shards, notes } = reconcileShardIds(
      input,
      recorded([
        ['localhost:3306/db', { kind: 'recorded', id: 'localhost:3306/db' }],
        ['127.0.0.1:3306/db', { kind: 'recorded', id: 'localhost:3306/db' }],
      ]),
    );
    expect(shards.map((s) => s.id)).toEqual(['localhost:3306/db', '127.0.0.1:3306/db']);
    expect(notes.filter((n) => n.level === 'error')).toHaveLength(1);
  });
});
