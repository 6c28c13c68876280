// End-to-end harness: installs the official OpenAI client (npm), starts a
// real hearthd on loopback with TLS and a fresh state directory (so it
// generates its certificate, its API key and, with no model named, its demo
// model), waits until it is ready, then runs client.test.mjs and
// bad-input.test.mjs against it with the generated certificate trusted. Exits with the test run's status; 77
// (ctest's "skipped") where Node.js packages cannot be installed.
//
//   node run-e2e.mjs --hearthd PATH --hearthctl PATH --work DIR [--model FILE]
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
for (const need of ['hearthd', 'hearthctl', 'work']) {
  if (!args[need]) { console.error(`run-e2e: --${need} is required`); process.exit(2); }
}
const work = path.resolve(args.work);
fs.mkdirSync(work, { recursive: true });

// 1. The client packages, installed once into the build tree.
fs.copyFileSync(path.join(here, 'package.json'), path.join(work, 'package.json'));
if (!fs.existsSync(path.join(work, 'node_modules', 'openai'))) {
  const npm = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: work, stdio: 'inherit' });
  if (npm.status !== 0) {
    console.error('run-e2e: SKIPPED: npm install of the openai and ws packages failed (no npm registry?)');
    process.exit(77);
  }
}
const testFiles = ['client.test.mjs', 'bad-input.test.mjs'];
for (const f of testFiles) fs.copyFileSync(path.join(here, f), path.join(work, f));

// 2. hearthd with a fresh state directory.
const state = fs.mkdtempSync(path.join(work, 'state-'));
const daemonArgs = ['--listen', '127.0.0.1:0', '--state-dir', state, '--admin-socket', path.join(state, 'admin.sock'),
  '--parallel', '4', '--threads', '2'];
if (args.model) daemonArgs.push('--model', `e2e=${args.model}`);
const daemon = spawn(args.hearthd, daemonArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
let stdout = '', stderr = '';
daemon.stdout.on('data', (d) => { stdout += d; });
daemon.stderr.on('data', (d) => { stderr += d; process.stderr.write(`[hearthd] ${d}`); });
const exited = new Promise((resolve) => daemon.on('exit', (code, sig) => resolve({ code, sig })));

function cleanupAndExit(code) {
  daemon.kill('SIGTERM');
  const timer = setTimeout(() => daemon.kill('SIGKILL'), 30000);
  exited.then(({ code: dcode, sig }) => {
    clearTimeout(timer);
    console.error(`run-e2e: hearthd exited with ${dcode ?? sig} after SIGTERM`);
    fs.rmSync(state, { recursive: true, force: true });
    // A daemon that does not exit 0 on SIGTERM fails the run too.
    process.exit(code !== 0 ? code : (dcode === 0 ? 0 : 1));
  });
}

const deadline = Date.now() + 120000;
let port, key;
while (Date.now() < deadline) {
  port ??= stderr.match(/listening on https:\/\/127\.0\.0\.1:(\d+)/)?.[1];
  key ??= stdout.match(/\n(hk_[A-Za-z0-9_-]+)\n/)?.[1];
  if (/ready: serving/.test(stderr) && port && key) break;
  if (daemon.exitCode !== null) break;
  await new Promise((r) => setTimeout(r, 100));
}
if (!port || !key || !/ready: serving/.test(stderr)) {
  console.error('run-e2e: hearthd did not become ready (port, key and ready line expected)');
  cleanupAndExit(1);
} else {
  const cert = path.join(state, 'tls', 'hearth-selfsigned.crt');
  const modelPath = args.model ?? path.join(state, 'models', 'hearth-demo.gguf');
  const env = {
    ...process.env,
    NODE_EXTRA_CA_CERTS: cert,
    HEARTH_URL: `https://127.0.0.1:${port}`,
    HEARTH_KEY: key,
    HEARTH_MODEL: args.model ? 'e2e' : 'hearth-demo',
    HEARTH_MODEL_FILE: modelPath,
    HEARTHCTL: args.hearthctl,
    HEARTH_ADMIN_SOCKET: path.join(state, 'admin.sock'),
  };
  // One file at a time: the bad-input tests fill the queue on purpose.
  // Asynchronous, so this process keeps draining hearthd's log pipe while the
  // tests run (a full pipe would block the daemon's logging threads).
  const run = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...testFiles],
    { cwd: work, env, stdio: 'inherit' });
  run.on('exit', (code) => cleanupAndExit(code ?? 1));
}
