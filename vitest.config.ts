import { defineConfig } from 'vitest/config';

// Tests log nothing unless LOG_LEVEL asks for it (e.g. LOG_LEVEL=debug npx vitest run ...).
process.env['LOG_LEVEL'] ??= 'silent';

export default defineConfig({
  test: {
    // `vitest run --project unit` must succeed before any unit test exists.
    passWithNoTests: true,
    // Integration files run in parallel (each uses its own families), but every
    // worker talks to the same three servers: keep it modest on a 2-core machine.
    maxWorkers: 3,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          // Unit tests take well under a second each; vitest's 5 s default has
          // still been hit by CPU-heavy ones on a loaded CI machine. A hung test
          // fails after 20 s all the same.
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Starts three throwaway MariaDB/MySQL shards and provides their specs as inject('shards').
          globalSetup: ['test/setup/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
