/**
 * Minified code with a source map is named by the map's `names`: the minifier's `c`, `i`, `o`
 * become `escapeHtmlEntities`, `countWords`, `Renderer` again. Fixture: fixtures/minified (an
 * esbuild --minify bundle of its src/ with the map esbuild wrote). Needs dist/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readTraceFile } from '../src/formats/trace-event.js';
import { instrument } from '../src/instrument/transform.js';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const cli = path.join(root, 'dist/cli/index.js');
const fixture = 'fixtures/minified/main.js';

test('a traced minified bundle shows the original function names at their original lines', () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ss-min-')), 'trace.json');
  const plain = spawnSync(process.execPath, [fixture], { cwd: root, encoding: 'utf8' });
  const traced = spawnSync(process.execPath, [cli, 'trace', '-o', out, fixture], { cwd: root, encoding: 'utf8' });
  assert.equal(traced.status, 0, traced.stderr);
  assert.equal(traced.stdout, plain.stdout);
  const names = new Set(
    readTraceFile(out)
      .traceEvents.filter((e) => e.ph === 'X')
      .map((e) => e.name),
  );
  for (const expected of [
    'escapeHtmlEntities (fixtures/minified/src/helpers.js:1)',
    'countWords (fixtures/minified/src/helpers.js:7)',
    'Renderer.render (fixtures/minified/src/helpers.js:10)',
    'renderDocument (fixtures/minified/src/index.js:3)',
    // the map names the callback's parameter `ch`, not the callback: it stays anonymous
    '(anonymous) (fixtures/minified/src/helpers.js:2)',
  ])
    assert.ok(names.has(expected), `${expected} missing; got ${[...names].join(', ')}`);
  assert.ok(![...names].some((n) => /^[a-z](\.\w+)? \(/.test(n)), `a minified name is left: ${[...names].join(', ')}`);
});

test('a map name is used only where it starts exactly at the binding, and only if it is an identifier', () => {
  // generated `function a(){}` and `var b=()=>1`: the map names `a` "first" and `b` "bad name\tx"
  const code = 'function a(){}var b=()=>1;';
  // segments: [0,0,0,0] `function`, [9,0,0,9,0] `a` named first, [14,0,1,0] `var`, [18,0,1,4,1] `b` named "bad name\tx"
  const map = {
    version: 3,
    sources: ['orig.js'],
    sourcesContent: ['function first() {}\nvar other = () => 1;'],
    names: ['first', 'bad name\tx'],
    mappings: 'AAAA,SAASA,KACT,IAAIC',
  };
  const r = instrument(code, { file: '/x/min.js', format: 'commonjs', composeMaps: true, inputMap: map });
  assert.deepEqual(
    r.functions.map((f) => f.name),
    ['first', 'b'],
  );
});
