import { defineConfig } from 'vitest/config';

// One suite for the whole monorepo. Workspace packages resolve to their TypeScript sources
// through the `@ferry/source` export condition, so tests never need a build first.
export default defineConfig({
  resolve: { conditions: ['@ferry/source'] },
  ssr: { resolve: { conditions: ['@ferry/source'] } },
  test: {
    include: ['apps/*/src/**/*.test.ts', 'packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default', './scripts/vitest-summary-reporter.ts'],
  },
});
