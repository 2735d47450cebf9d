import { defineConfig } from 'vitest/config';

// The `#domain/*`-style aliases come from package.json "imports", which Vite resolves itself.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Child processes rather than worker threads: tests spawn servers and browsers and
    // exercise real concurrency, which is sturdier with one process per worker.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
