/**
 * The instrumenter against real-world code: every .js/.mjs/.cjs file under node_modules/ goes
 * through `instrument()` in the format Node would load it in (by extension, else the nearest
 * package.json "type"). Files whose original does not parse (acorn) are skipped. For each
 * instrumented file we check that:
 *   - the output still parses (acorn) and compiles (V8: vm.compileFunction with the CommonJS
 *     wrapper's parameters; vm.SourceTextModule for ESM when Node runs with
 *     --experimental-vm-modules), whenever the original compiles;
 *   - no line moved: same number of lines, and each original line is a subsequence of its
 *     instrumented line (the transform only inserts, never on a new line);
 *   - the function table matches the code: each table index k is opened exactly once
 *     (`(__ss$ ?? __ssi$()).en(__ssb$ + k)` / `.fn(__ssb$ + k, kind)`, with the table's kind), and every
 *     sync one is closed once (`__ss$.ex(__ssb$ + k, ...)`).
 * and measure the transform's throughput (instrument() only, not the checks).
 *
 *   node --experimental-vm-modules --import tsx benchmarks/instrument-corpus.ts [dir] [--json] [--verbose]
 *
 * Exit code 1 when any file fails a check.
 */
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import { parse } from 'acorn';
import { instrument, PROLOGUE_MARK } from '../src/instrument/transform.ts';

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
const argv = process.argv.slice(2);
const asJson = argv.includes('--json');
const verbose = argv.includes('--verbose');
const dir = path.resolve(root, argv.find((a) => !a.startsWith('--')) ?? 'node_modules');

type Format = 'module' | 'commonjs';

function* walk(d: string): Generator<string> {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(d, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(d, e.name);
    if (e.isDirectory()) {
      if (e.name !== '.cache') yield* walk(p);
    } else if (e.isFile() && /\.(m|c)?js$/.test(e.name)) yield p;
  }
}

const typeOfDir = new Map<string, Format>();
function packageType(d: string): Format {
  const known = typeOfDir.get(d);
  if (known) return known;
  let format: Format = 'commonjs';
  const pj = path.join(d, 'package.json');
  if (fs.existsSync(pj)) {
    try {
      format = (JSON.parse(fs.readFileSync(pj, 'utf8')) as { type?: string }).type === 'module' ? 'module' : 'commonjs';
    } catch {
      /* as Node: broken json, commonjs */
    }
  } else if (path.dirname(d) !== d) {
    format = packageType(path.dirname(d));
  }
  typeOfDir.set(d, format);
  return format;
}
const formatOf = (file: string): Format =>
  file.endsWith('.mjs') ? 'module' : file.endsWith('.cjs') ? 'commonjs' : packageType(path.dirname(file));

function parses(code: string, format: Format): string | undefined {
  try {
    parse(code, {
      ecmaVersion: 'latest',
      sourceType: format === 'module' ? 'module' : 'script',
      allowHashBang: true,
      allowReturnOutsideFunction: format === 'commonjs',
    });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

const SourceTextModule = (vm as unknown as { SourceTextModule?: new (code: string, opts?: object) => unknown }).SourceTextModule;
/** V8's verdict (early errors acorn does not check); undefined = compiles or cannot check. */
function compiles(code: string, format: Format, file: string): string | undefined {
  try {
    if (format === 'commonjs')
      vm.compileFunction(code.replace(/^#!.*/, ''), ['exports', 'require', 'module', '__filename', '__dirname'], { filename: file });
    else if (SourceTextModule) new SourceTextModule(code, { identifier: file });
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Each original line must be what is left of its instrumented line after removing insertions; what
 * the output has after the original's lines is only blank lines, the module's prologue (on a line
 * of its own) and a map comment (instrument() replaces a trailing one with its own).
 */
function linesKept(src: string, out: string): string | undefined {
  const a = src.split('\n');
  const b = out.split('\n');
  const mapLine = /^\s*\/\/[#@]\s*sourceMappingURL=/;
  while (a.length && (mapLine.test(a[a.length - 1]!) || a[a.length - 1]!.trim() === '')) a.pop();
  if (b.length < a.length) return `line count ${a.length} -> ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const orig = a[i]!;
    const line = b[i]!;
    if (orig === line) continue;
    let j = 0;
    for (let c = 0; c < line.length && j < orig.length; c++) if (line[c] === orig[j]) j++;
    if (j !== orig.length) return `line ${i + 1} changed`;
  }
  const extra = b.slice(a.length).filter((l) => l.trim() !== '' && !l.startsWith(PROLOGUE_MARK) && !mapLine.test(l));
  return extra.length ? `line count ${a.length} -> ${b.length} (${extra.length} added lines of code)` : undefined;
}

function tableMatches(code: string, fns: { k: number; kind: number }[]): string | undefined {
  const opened = new Map<number, number>();
  for (const m of code.matchAll(
    /\(__ss\$ \?\? __ssi\$\(\)\)\.en\(__ssb\$ \+ (\d+)\)|\(__ss\$ \?\? __ssi\$\(\)\)\.fn\(__ssb\$ \+ (\d+), (\d)\)/g,
  )) {
    const k = Number(m[1] ?? m[2]);
    const kind = m[1] !== undefined ? 0 : Number(m[3]);
    if (opened.has(k)) return `function ${k} opened twice`;
    opened.set(k, kind);
  }
  const closed = new Map<number, number>();
  for (const m of code.matchAll(/__ss\$\.ex\(__ssb\$ \+ (\d+), __t\$\)/g)) closed.set(Number(m[1]), (closed.get(Number(m[1])) ?? 0) + 1);
  if (opened.size !== fns.length) return `${fns.length} functions in the table, ${opened.size} wrapped`;
  for (const f of fns) {
    if (opened.get(f.k) !== f.kind) return `function ${f.k}: kind ${f.kind} in the table, ${opened.get(f.k)} in the code`;
    if ((closed.get(f.k) ?? 0) !== (f.kind === 0 ? 1 : 0)) return `function ${f.k}: closed ${closed.get(f.k) ?? 0} times`;
  }
  return undefined;
}

const stats = { files: 0, bytes: 0, skipped: 0, skippedBytes: 0, functions: 0, ms: 0, failures: [] as { file: string; problem: string }[] };
const perFile: { file: string; mb: number; ms: number }[] = [];

for (const file of walk(dir)) {
  const src = fs.readFileSync(file, 'utf8');
  const format = formatOf(file);
  const rel = path.relative(root, file);
  if (parses(src, format) !== undefined) {
    stats.skipped++;
    stats.skippedBytes += Buffer.byteLength(src);
    if (verbose) process.stderr.write(`skip (does not parse as ${format}): ${rel}\n`);
    continue;
  }
  const fail = (problem: string) => {
    stats.failures.push({ file: rel, problem });
    process.stderr.write(`FAIL ${rel} (${format}): ${problem}\n`);
  };
  let out: ReturnType<typeof instrument>;
  const t0 = performance.now();
  try {
    out = instrument(src, { file, format, composeMaps: false, mapComment: 'with-input-map' });
  } catch (e) {
    fail(`instrument() threw: ${(e as Error).message}`);
    continue;
  }
  const ms = performance.now() - t0;
  stats.files++;
  stats.bytes += Buffer.byteLength(src);
  stats.ms += ms;
  stats.functions += out.functions.length;
  perFile.push({ file: rel, mb: Buffer.byteLength(src) / 1e6, ms });

  const problem = (() => {
    const p = parses(out.code, format);
    if (p !== undefined) return `output does not parse: ${p}`;
    const before = compiles(src, format, file);
    const after = before === undefined ? compiles(out.code, format, file) : undefined;
    if (after !== undefined) return `output does not compile in V8: ${after}`;
    return linesKept(src, out.code) ?? tableMatches(out.code, out.functions);
  })();
  if (problem) fail(problem);
}

const mb = stats.bytes / 1e6;
const result = {
  dir: path.relative(root, dir) || '.',
  files: stats.files,
  mb: +mb.toFixed(2),
  functions: stats.functions,
  seconds: +(stats.ms / 1000).toFixed(2),
  mbPerSecond: +(mb / (stats.ms / 1000)).toFixed(2),
  skipped: stats.skipped,
  skippedMb: +(stats.skippedBytes / 1e6).toFixed(2),
  esmCompileChecked: !!SourceTextModule,
  failures: stats.failures,
  largest: perFile
    .sort((a, b) => b.mb - a.mb)
    .slice(0, 5)
    .map((f) => ({ file: f.file, mb: +f.mb.toFixed(2), mbPerSecond: +(f.mb / (f.ms / 1000)).toFixed(2) })),
};

if (asJson) {
  process.stdout.write(JSON.stringify(result) + '\n');
} else {
  process.stdout.write(
    `${result.files} files, ${result.mb} MB, ${result.functions} functions instrumented in ${result.seconds} s: ${result.mbPerSecond} MB/s\n` +
      `skipped (original does not parse as its format): ${result.skipped} files, ${result.skippedMb} MB\n` +
      (result.esmCompileChecked ? '' : 'ESM outputs checked by acorn only (run with --experimental-vm-modules for V8 too)\n') +
      `largest: ${result.largest.map((f) => `${f.file} ${f.mb} MB at ${f.mbPerSecond} MB/s`).join('; ')}\n` +
      `failures: ${result.failures.length}\n` +
      result.failures.map((f) => `  ${f.file}: ${f.problem}\n`).join(''),
  );
}
process.exitCode = stats.failures.length ? 1 : 0;
