import { describe, expect, it } from 'vitest';
import { plainRawLogsSql, plainTableSql } from '../../../bench/lib/loader.js';
import { renderTable, type MachineInfo } from '../../../bench/lib/report.js';
import type { ScenarioResult, SideSummary } from '../../../bench/lib/context.js';
import { WIDE_FIELDS } from '../../../bench/lib/data.js';

const machine: MachineInfo = { cpu: 'AMD EPYC', cores: 2, memoryGiB: 23.5, os: 'Linux', node: 'v20', server: 'MariaDB 10.11', gatewayBuild: 'dist' };
const side = (value: number, p50: number): SideSummary => ({ value, p50, p99: p50 * 2, errors: 0, runs: [] });

describe('bench: the baselines users compare with', () => {
  it("the loader's plain tables have an id and one typed column per field, and no other index or column", () => {
    const ddl = plainTableSql('wide', WIDE_FIELDS);
    expect(ddl).toMatch(/^CREATE TABLE `wide` \(id BIGINT AUTO_INCREMENT PRIMARY KEY, `host` TEXT, /);
    expect(ddl).toContain('`status` BIGINT');
    expect(ddl).toContain('`cpu` DOUBLE');
    expect(ddl).toContain('`ok` BOOLEAN');
    expect(ddl).toContain('`started_at` DATETIME(6)');
    expect(ddl).toContain('`day` DATE');
    expect(ddl).toContain('`tags` JSON');
    expect(ddl.replace("PRIMARY KEY", "")).not.toMatch(/KEY|_ingested_at|INVISIBLE/);
    expect(plainRawLogsSql()).toContain('(id BIGINT AUTO_INCREMENT PRIMARY KEY, family VARCHAR(64), log LONGTEXT)');
  });

  it('the report states each user baseline with its ratio and whether its target is met, and describes it in the notes', () => {
    const result: ScenarioResult = {
      id: '1',
      title: 'bulk ingest',
      unit: 'rows/s',
      gateway: side(70_000, 30),
      baseline: side(80_000, 28),
      ratio: 0.875,
      baselineLabel: 'mysql2 direct',
      target: '>= 0.8',
      met: true,
      notes: [],
      userBaselines: [
        { name: 'loader', label: 'hand-written loader', side: side(100_000, 20), ratio: 0.7, ratioMeaning: 'gateway / loader', target: '>= 1.0', met: false },
      ],
    };
    const table = renderTable(machine, [result], 'full');
    expect(table).toContain('| vs what users compare with (target: met) |');
    expect(table).toMatch(/\| 1 \| bulk ingest \|.*\| yes \| loader 0\.70x \(>= 1\.0: \*\*no\*\*\) \|/);
    expect(table).toContain('loader = hand-written loader: 100,000 rows/s');
    expect(table).toContain('loader ratio = gateway / loader');
  });
});
