/**
 * Packages are traced wherever they are installed: a hoisted monorepo (the package in a parent
 * folder's node_modules), a pnpm-style store reached through a symlink, an npm workspace (a
 * symlink to a local package outside node_modules). Each layout is built in a temp folder with a
 * tiny package of our own whose internal function must show up in the trace. An include that
 * matches nothing is reported. Needs dist/ (npm test builds it first).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readTraceFile } from '../src/formats/trace-event.js';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const cli = path.join(root, 'dist/cli/index.js');
const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'ss-scope-')));
let seq = 0;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  out: string;
}

function trace(cwd: string, args: string[]): Promise<Run> {
  const out = path.join(tmp, `t${seq++}.json`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'trace', '-o', out, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, out }));
  });
}

/** The function part of each slice name (`fn (file:line)` → `fn`). */
function functionsTraced(file: string): Set<string> {
  return new Set(
    readTraceFile(file)
      .traceEvents.filter((e) => e.ph === 'X')
      .map((e) => e.name.replace(/ \(.*\)$/, '')),
  );
}

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

function link(target: string, at: string): void {
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.symlinkSync(path.relative(path.dirname(at), target), at, 'dir');
}

/** A package whose exported function calls an internal (non-exported) one named after the package. */
function writePackage(dir: string, name: string, internal: string, type: 'commonjs' | 'module' = 'commonjs', requires?: string): void {
  write(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', type, main: 'index.js' }));
  const call = requires ? ' + dep(s)' : '';
  write(
    path.join(dir, 'index.js'),
    type === 'module'
      ? `${requires ? `import dep from '${requires}';\n` : ''}function ${internal}(s) { return s.toUpperCase()${call}; }\nexport default function run(s) { return ${internal}(s); }\n`
      : `${requires ? `const dep = require('${requires}');\n` : ''}function ${internal}(s) { return s.toUpperCase()${call}; }\nmodule.exports = function run(s) { return ${internal}(s); };\n`,
  );
}

function expectTraced(r: Run, fn: string, expectedStdout: string): Set<string> {
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, expectedStdout);
  const fns = functionsTraced(r.out);
  assert.ok(fns.has(fn), `${fn} not traced; slices: ${[...fns].join(', ')}; stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /traced nothing/);
  return fns;
}

test('hoisted monorepo: the package in a parent node_modules is traced by name and by the documented glob', async () => {
  const mono = path.join(tmp, 'mono');
  writePackage(path.join(mono, 'node_modules/hoisted-pkg'), 'hoisted-pkg', 'hoistedInternal');
  const app = path.join(mono, 'packages/app');
  write(path.join(app, 'main.js'), `const run = require('hoisted-pkg');\nfunction main() { console.log(run('hi')); }\nmain();\n`);

  const plain = await trace(app, ['main.js']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.ok(functionsTraced(plain.out).has('main'));
  assert.ok(!functionsTraced(plain.out).has('hoistedInternal'), 'packages are out of scope by default');

  expectTraced(await trace(app, ['--include-package', 'hoisted-pkg', 'main.js']), 'hoistedInternal', 'HI\n');
  for (const glob of ['node_modules/hoisted-pkg/**', '**/node_modules/hoisted-pkg/**', path.join(mono, 'node_modules/hoisted-pkg/**')]) {
    expectTraced(await trace(app, ['--include', glob, 'main.js']), 'hoistedInternal', 'HI\n');
  }
});

test('pnpm layout: the package behind node_modules/<name> → .pnpm/<name>@<version>/node_modules/<name> is traced (ESM), its own dependency is not', async () => {
  const proj = path.join(tmp, 'pnpm');
  const store = path.join(proj, 'node_modules/.pnpm');
  const pkgDir = path.join(store, 'pnpm-pkg@1.0.0/node_modules/pnpm-pkg');
  const depDir = path.join(store, 'pnpm-dep@2.0.0/node_modules/pnpm-dep');
  writePackage(depDir, 'pnpm-dep', 'depInternal', 'module');
  writePackage(pkgDir, 'pnpm-pkg', 'pnpmInternal', 'module', 'pnpm-dep');
  link(depDir, path.join(store, 'pnpm-pkg@1.0.0/node_modules/pnpm-dep'));
  link(pkgDir, path.join(proj, 'node_modules/pnpm-pkg'));
  write(path.join(proj, 'main.mjs'), `import run from 'pnpm-pkg';\nfunction main() { console.log(run('a')); }\nmain();\n`);

  const byName = expectTraced(await trace(proj, ['--include-package', 'pnpm-pkg', 'main.mjs']), 'pnpmInternal', 'AA\n');
  assert.ok(!byName.has('depInternal'), 'a dependency of the named package is not the package');
  expectTraced(await trace(proj, ['--include', 'node_modules/pnpm-pkg/**', 'main.mjs']), 'pnpmInternal', 'AA\n');
  expectTraced(await trace(proj, ['--include-package', 'pnpm-pkg', '--include-package', 'pnpm-dep', 'main.mjs']), 'depInternal', 'AA\n');
});

test('npm workspace: a scoped local package linked into node_modules is traced by name', async () => {
  const ws = path.join(tmp, 'ws');
  write(path.join(ws, 'package.json'), JSON.stringify({ name: 'ws-root', private: true, workspaces: ['packages/*'] }));
  const lib = path.join(ws, 'packages/lib');
  writePackage(lib, '@demo/lib', 'workspaceInternal');
  link(lib, path.join(ws, 'node_modules/@demo/lib'));
  const app = path.join(ws, 'packages/app');
  write(path.join(app, 'main.js'), `const run = require('@demo/lib');\nfunction main() { console.log(run('ws')); }\nmain();\n`);

  const plain = await trace(app, ['main.js']);
  assert.equal(plain.code, 0, plain.stderr);
  assert.ok(!functionsTraced(plain.out).has('workspaceInternal'), 'a sibling package is outside the working folder');
  expectTraced(await trace(app, ['--include-package', '@demo/lib', 'main.js']), 'workspaceInternal', 'WS\n');
});

test('include patterns and packages that match nothing are reported on stderr and in --json', async () => {
  const dir = path.join(tmp, 'unmatched');
  writePackage(path.join(dir, 'node_modules/real-pkg'), 'real-pkg', 'realInternal');
  write(path.join(dir, 'main.js'), `console.log(require('real-pkg')('x'));\n`);

  const r = await trace(dir, [
    '--include',
    'node_modules/real-pkg/**',
    '--include',
    'node_modules/reel-pkg/**',
    '--include-package',
    'nope-pkg',
    'main.js',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'X\n');
  assert.ok(functionsTraced(r.out).has('realInternal'));
  const lines = r.stderr.split('\n').filter((l) => l.includes('traced nothing'));
  assert.equal(lines.length, 1, r.stderr);
  assert.match(
    lines[0]!,
    /^stackscope: --include "node_modules\/reel-pkg\/\*\*", --include-package nope-pkg traced nothing: no module the program loaded matched/,
  );
  assert.doesNotMatch(lines[0]!, /real-pkg/);

  const j = await trace(dir, ['--json', '--include', 'node_modules/reel-pkg/**', '--include-package', 'real-pkg', 'main.js']);
  const summary = JSON.parse(j.stderr.trim().split('\n').pop()!) as { unmatched: { include: string[]; packages: string[] } };
  assert.deepEqual(summary.unmatched, { include: ['node_modules/reel-pkg/**'], packages: [] });
});

test('--include-package takes a package name, not a path or a glob', async () => {
  const dir = path.join(tmp, 'unmatched');
  for (const bad of ['node_modules/x', 'x/**', 'x@1.0.0', '../x']) {
    const r = await trace(dir, ['--include-package', bad, 'main.js']);
    assert.equal(r.code, 2, 'bad input');
    assert.equal(r.stdout, '', 'the program did not run');
    assert.match(r.stderr, /^stackscope: --include-package takes a package name such as marked or @scope\/name/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});
