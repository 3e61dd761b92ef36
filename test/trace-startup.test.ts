/**
 * `stackscope trace` starts Node's loader-hooks thread (module.register()) only when the program
 * could load an ES module through the ESM loader: a CommonJS program does not pay for it, and ES
 * modules it loads later by import() or require() are traced all the same. Whether the hooks thread
 * ran is seen through a --require probe, which Node runs in every thread it starts, its own
 * loader-hooks thread included. Needs dist/ (npm test builds it first).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readTraceFile, type TraceEvent } from '../src/formats/trace-event.js';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const cli = path.join(root, 'dist/cli/index.js');
const fx = (name: string) => path.join('fixtures/trace-startup', name);
const probe = path.join(root, fx('probe.cjs'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-trace-startup-'));
let seq = 0;

interface Traced {
  code: number | null;
  stdout: string;
  stderr: string;
  /** names of the traced calls */
  calls: string[];
  /** names of the trace's instant events (Node events) */
  instants: string[];
  /** threads other than the main one that Node started (the loader-hooks thread, workers) */
  threads: number;
  events: TraceEvent[];
}

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function trace(script: string, options: string[] = []): Promise<Traced> {
  const n = seq++;
  const out = path.join(tmp, `t${n}.json`);
  const probeFile = path.join(tmp, `probe${n}.txt`);
  const r = await run([cli, 'trace', `--node-arg=--require=${probe}`, ...options, '-o', out, script], { PROBE_FILE: probeFile });
  assert.equal(r.code, 0, r.stderr);
  const events = readTraceFile(out).traceEvents;
  return {
    ...r,
    calls: events.filter((e) => e.ph === 'X').map((e) => e.name),
    instants: events.filter((e) => e.ph === 'i' || e.ph === 'I').map((e) => e.name),
    threads: fs.existsSync(probeFile) ? fs.readFileSync(probeFile, 'utf8').split('\n').filter(Boolean).length : 0,
    events,
  };
}

const ownLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('stackscope: '));

test('a CommonJS hello world runs without the loader-hooks thread; an ES module one starts it', async () => {
  const cjs = await trace(fx('cjs/hello.js'));
  assert.equal(cjs.stdout, 'hello world\n');
  assert.ok(cjs.calls.includes('greet (fixtures/trace-startup/cjs/hello.js:3)'), cjs.calls.join(', '));
  assert.equal(cjs.threads, 0, 'no thread besides the main one');

  // the same program as an ES module needs the hooks: the probe sees their thread
  const esm = await trace(fx('esm/hello.mjs'));
  assert.equal(esm.stdout, 'hello world\n');
  assert.ok(esm.calls.includes('greet (fixtures/trace-startup/esm/hello.mjs:1)'), esm.calls.join(', '));
  assert.equal(esm.threads, 1);
});

test('CommonJS that import()s an ES module later: the hooks start then, and its functions are traced', async () => {
  const t = await trace(fx('cjs/imports-later.js'));
  assert.equal(t.stdout, 'esm says 30\n');
  assert.deepEqual(
    ownLines(t.stderr).filter((l) => !/trace written|open it in/.test(l)),
    [],
  );
  assert.ok(t.calls.includes('esmWork (fixtures/trace-startup/esm/lib.mjs:1)'), t.calls.join(', '));
  assert.ok(t.calls.includes('later (fixtures/trace-startup/cjs/imports-later.js:2)'), t.calls.join(', '));
  assert.equal(t.threads, 1);
});

test('CommonJS that require()s ES modules (.mjs, "type": "module", detected module syntax): all traced', async () => {
  const t = await trace(fx('cjs/requires-esm.js'));
  assert.equal(t.stdout, 'required 20 2000 102\n');
  // no "cannot instrument" for the module syntax of a required file
  assert.deepEqual(
    ownLines(t.stderr).filter((l) => !/trace written|open it in/.test(l)),
    [],
  );
  for (const call of [
    'esmWork (fixtures/trace-startup/esm/lib.mjs:1)',
    'typedWork (fixtures/trace-startup/esm/typed.js:1)',
    'detectedWork (fixtures/trace-startup/cjs/detected.js:1)',
  ])
    assert.ok(t.calls.includes(call), `${call} in ${t.calls.join(', ')}`);
});

test('hooks started from inside the program are not recorded as its own work (--async)', async () => {
  const t = await trace(fx('cjs/imports-later.js'), ['--async']);
  assert.equal(t.stdout, 'esm says 30\n');
  assert.equal(t.threads, 1, 'the hooks thread started');
  assert.deepEqual(
    t.instants.filter((n) => n.startsWith('worker')),
    [],
    'no worker start: the hooks thread is not a worker of the program',
  );
  assert.ok(t.calls.includes('esmWork (fixtures/trace-startup/esm/lib.mjs:1)'), t.calls.join(', '));
});

test('a CommonJS entry run with --import goes through the ESM loader: the hooks start at once', async () => {
  const t = await trace(fx('cjs/hello.js'), [`--node-arg=--import=data:text/javascript,`]);
  assert.equal(t.stdout, 'hello world\n');
  assert.equal(t.threads, 1);
  assert.ok(t.calls.includes('greet (fixtures/trace-startup/cjs/hello.js:3)'), t.calls.join(', '));
});

test('a CommonJS program that registers hooks of its own: stackscope hooks still come first in the chain, and its hooks run in scope', async () => {
  const t = await trace(fx('cjs/own-hooks.js'), ['--exclude', '**/user-hook.mjs']);
  // (the hook's line comes from the hooks thread: its order against the main thread's is not fixed)
  assert.deepEqual(t.stdout.split('\n').sort(), ['', 'esm says 40', 'user hook got instrumented code: true']);
  assert.ok(t.calls.includes('esmWork (fixtures/trace-startup/esm/lib.mjs:1)'), t.calls.join(', '));
  // In scope, the program's hook module is instrumented too and runs in the hooks thread, which is
  // not traced: it runs there as it would untraced (it used to crash the hooks thread).
  const inScope = await trace(fx('cjs/own-hooks.js'));
  assert.deepEqual(inScope.stdout.split('\n').sort(), ['', 'esm says 40', 'user hook got instrumented code: true']);
  assert.ok(inScope.calls.includes('esmWork (fixtures/trace-startup/esm/lib.mjs:1)'), inScope.calls.join(', '));
  assert.ok(!inScope.calls.some((c) => c.startsWith('load ')), 'the hooks thread is not traced');
});

test("the hooks thread started inside a traced call is drawn as stackscope's span under it, not as the call's own time", async () => {
  const t = await trace(fx('cjs/lazy-in-call.js'));
  assert.equal(t.stdout, 'esm says 20\n');
  const x = t.events.filter((e) => e.ph === 'X');
  const handler = x.find((e) => e.name === 'handler (fixtures/trace-startup/cjs/lazy-in-call.js:3)');
  const start = x.find((e) => e.name.startsWith("stackscope: starting Node's loader-hooks thread"));
  assert.ok(handler && start, x.map((e) => e.name).join(', '));
  assert.equal(start.tid, handler.tid);
  assert.ok(start.ts! >= handler.ts! && start.ts! + start.dur! <= handler.ts! + handler.dur!, 'the span lies within the call');
  // The call itself only compiles a two-line module: most of its time is the hooks thread's start.
  assert.ok(start.dur! > handler.dur! / 2, `span ${start.dur} µs of the call's ${handler.dur} µs`);
  assert.ok(t.calls.includes('esmWork (fixtures/trace-startup/esm/lib.mjs:1)'), t.calls.join(', '));
});

test("a CommonJS launcher that runs an ES module entry through Module.runMain(): the module's functions are traced", async () => {
  const t = await trace(fx('cjs/launcher.js'));
  assert.equal(t.stdout, 'hello world\n');
  assert.ok(t.calls.includes('greet (fixtures/trace-startup/esm/hello.mjs:1)'), t.calls.join(', '));
});

test('an entry point with module syntax in a package without "type": run as an ES module, traced', async () => {
  const t = await trace(fx('cjs/module-main.js'));
  assert.equal(t.stdout, 'MODULE ENTRY\n');
  assert.deepEqual(
    ownLines(t.stderr).filter((l) => !/trace written|open it in/.test(l)),
    [],
  );
  assert.ok(t.calls.includes('shout (fixtures/trace-startup/cjs/module-main.js:2)'), t.calls.join(', '));
  assert.equal(t.threads, 1);
});
