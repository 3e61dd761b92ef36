/**
 * Sampled frames of minified code are named by the source map's `names`, as the tracer names them
 * (test/minified-names.test.ts), so `compare` lines a profile up with a trace. The package is
 * fixtures/minified (an esbuild --minify bundle with its map) installed in a temp node_modules, and
 * a program that keeps its functions hot. Needs dist/.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { TraceMap } from '@jridgewell/trace-mapping';
import { readTraceFile } from '../src/formats/trace-event.js';
import { profilesInTrace } from '../src/formats/trace-read.js';
import { mapCallFrame } from '../src/sample/source-maps.js';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const cli = path.join(root, 'dist/cli/index.js');
const PKG = 'node_modules/minified-fixture';
/** the bundle's `c`, `i` (`i=e=>…`) and `g`, by their original names and lines */
const ORIGINAL = [
  `escapeHtmlEntities (${PKG}/src/helpers.js:1)`,
  `countWords (${PKG}/src/helpers.js:7)`,
  `renderDocument (${PKG}/src/index.js:3)`,
];

const HOT = `const { renderDocument, escapeHtmlEntities } = require('minified-fixture');
const paragraphs = Array.from({ length: 100 }, (_, i) => \`a <b> & c \${i} \`.repeat(20));
function work() {
  return renderDocument(paragraphs).length + escapeHtmlEntities(paragraphs[0]).length;
}
const end = Date.now() + 700;
let n = 0;
while (Date.now() < end) n += work();
`;

/** `file:line)` of a frame label */
const place = (label: string) => label.replace(/^.* \(/, '');

function stackscope(cwd: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('sample names minified functions by the map, as the tracer does, and compare holds them in one row', { timeout: 120_000 }, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-sample-names-'));
  const pkg = path.join(tmp, PKG);
  fs.mkdirSync(pkg, { recursive: true });
  for (const dir of ['bundle', 'src']) fs.cpSync(path.join(root, 'fixtures/minified', dir), path.join(pkg, dir), { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'minified-fixture', main: 'bundle/index.min.js' }));
  fs.writeFileSync(path.join(tmp, 'hot.js'), HOT);

  stackscope(tmp, 'sample', '-o', 'sampled.folded', 'hot.js');
  const frames = new Set(
    fs
      .readFileSync(path.join(tmp, 'sampled.folded'), 'utf8')
      .split('\n')
      .flatMap((l) => l.replace(/ \d+$/, '').split(';')),
  );
  // one name per place: the minifier's `c`, `i`, `g` are gone (esbuild's own helpers, which the
  // map does not name, keep theirs)
  for (const f of ORIGINAL)
    assert.deepEqual(
      [...frames].filter((g) => place(g) === place(f)),
      [f],
      [...frames].join(', '),
    );

  stackscope(tmp, 'trace', '--include-package', 'minified-fixture', '-o', 'traced.json', 'hot.js');
  const rows = (
    JSON.parse(stackscope(tmp, 'compare', 'traced.json', 'sampled.folded', '--json')) as {
      rows: Array<{ label: string; a: unknown; b: unknown }>;
    }
  ).rows;
  for (const f of ORIGINAL) {
    const row = rows.find((r) => r.label === f);
    assert.ok(row?.a && row.b, `${f}: one row with both the trace and the profile; got ${JSON.stringify(row)}`);
  }
  for (const f of ORIGINAL)
    assert.deepEqual(
      rows.filter((r) => place(r.label) === place(f)).map((r) => r.label),
      [f],
    );

  // `trace --sample`, the package untraced: its frames are sampled under the program's slices
  stackscope(tmp, 'trace', '--sample', '-o', 'with-samples.json', 'hot.js');
  const sampled = new Set(
    profilesInTrace(readTraceFile(path.join(tmp, 'with-samples.json')).traceEvents)
      .flatMap((p) => p.nodes)
      .filter((n) => n.callFrame.url.includes('minified-fixture'))
      .map(({ callFrame: f }) => `${f.functionName} (${path.relative(tmp, fileURLToPath(f.url))}:${f.lineNumber + 1})`),
  );
  for (const f of ORIGINAL) assert.ok(sampled.has(f), `${f} missing from the trace's samples; got ${[...sampled].join(', ')}`);
});

test("a map name is taken only where the code just before V8's position is the frame's own name", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-sample-names-'));
  const code = 'var abcd=T||((e)=>1);function y(e){}';
  // segments: [0,0,0,0] `var`, [4,0,0,4,0] `abcd` named ruleName, [9,0,0,11,1] `T` named someThing,
  // [21,0,1,0] `function`, [30,0,1,9,2] `y` named names[2]
  const map = (yName: string) =>
    new TraceMap({ version: 3, sources: ['orig.js'], names: ['ruleName', 'someThing', yName], mappings: 'AAAA,IAAIA,KAAOC,YACX,SAASC' });
  const script = (file: string, text: string) => {
    fs.writeFileSync(path.join(dir, file), text);
    return pathToFileURL(path.join(dir, file)).href;
  };
  const generated = script('min.js', `${code}\n//# sourceMappingURL=min.js.map\n`);
  // V8's frames: the arrow at its `(` (named after `abcd`, whose `=` is not just before it), `y` at its `(`
  const nameOf = (url: string, functionName: string, columnNumber: number, yName = 'escapeHtml') =>
    mapCallFrame({ functionName, url, scriptId: '1', lineNumber: 0, columnNumber }, () => map(yName)).functionName;

  assert.equal(nameOf(generated, 'y', 31), 'escapeHtml');
  assert.equal(nameOf(generated, 'abcd', 13), 'abcd', '`T` starts 4 characters before the arrow, but it is not `abcd`');
  assert.equal(nameOf(generated, '', 31), '', 'anonymous stays anonymous');
  assert.equal(nameOf(generated, 'y', 31, 'bad name'), 'y', 'not an identifier');
  // a file that names no map is not the code V8 ran (a .ts compiled in memory)
  assert.equal(nameOf(script('plain.js', code), 'y', 31), 'y');
});

test("a class constructor takes the map's name of its class, where only field names stand before `constructor`", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-sample-ctor-'));
  // segments: [0,0,0,0] `class`, [6,0,0,6,0] `l` named names[0]
  const map = new TraceMap({ version: 3, sources: ['orig.js'], names: ['Lexer'], mappings: 'AAAA,MAAMA' });
  const nameOf = (code: string, functionName = 'l') => {
    const file = path.join(dir, `c${fs.readdirSync(dir).length}.js`);
    fs.writeFileSync(file, `${code}\n//# sourceMappingURL=x.js.map\n`);
    // V8 reports a constructor at the `(` of `constructor(`
    const columnNumber = code.indexOf('constructor(') + 'constructor'.length;
    return mapCallFrame({ functionName, url: pathToFileURL(file).href, scriptId: '1', lineNumber: 0, columnNumber }, () => map)
      .functionName;
  };
  assert.equal(nameOf('class l{constructor(e){}}'), 'Lexer');
  assert.equal(nameOf('class l{tokens;options;#s;constructor(e){}}'), 'Lexer', 'field names only');
  assert.equal(nameOf('class l extends B{constructor(e){super()}}'), 'Lexer');
  // not this class's own header for sure: an initialiser, a method before it, another name
  assert.equal(nameOf('class l{a=1;constructor(e){}}'), 'l');
  assert.equal(nameOf('class l{m(){}constructor(e){}}'), 'l');
  assert.equal(nameOf('class l{constructor(e){}}', 'k'), 'k');
});
