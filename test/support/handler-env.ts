/**
 * Import this before any `#functions/*` module in a test: a handler module builds its
 * runtime from the environment when it loads (so a bad setting fails a cold start),
 * and a test process has none. The test then installs its own runtime with setRuntime.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

process.env.FQ_STORE ??= 'dynamodb';
process.env.FQ_TABLE ??= 'fairqueue-test';
process.env.FQ_KEY_DIR ??= mkdtempSync(join(tmpdir(), 'fq-handler-load-keys-'));
