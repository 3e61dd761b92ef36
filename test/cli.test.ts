/**
 * The CLI as a new user meets it: the built binary (`node dist/cli/index.js`, so `npx tsc -p .`
 * first) over a table of bad inputs for every command, each of which must cost exactly one line on
 * stderr, starting `stackscope:` and naming the problem, and a non-zero exit; --help of every
 * command with an example; one output option name everywhere; nothing the user recorded is lost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';

const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'dist/cli/index.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-cli-'));
const file = (name: string, text: string) => {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
};

const app = file('app.js', 'console.log("ran", process.argv.slice(2).join(" "));\n');
const empty = file('empty.json', '');
const badJson = file('bad.json', '{bad');
const trace = file('t.json', '{"traceEvents":[]}');
const dir = fs.mkdtempSync(path.join(tmp, 'dir-'));
const missingDir = path.join(tmp, 'no-such-folder', 'x.json');
const bench = 'fixtures/bench/synthetic.bench.ts';
const noPid = '999999999';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function stackscope(args: string[], cwd = root): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd, timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs every case, a few at a time (2 cores), in order of the table. */
async function all<T>(items: T[], f: (item: T) => Promise<void>, width = 4): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await f(items[next++]!);
    }),
  );
}

const BAD: Array<[string[], RegExp]> = [
  [[], /give a command: trace, sample/],
  [['--', 'app.js'], /give a command/],
  [['bogus'], /unknown command "bogus"/],

  [['trace'], /missing script: give the script to run: stackscope trace/],
  [['trace', 'nope.js'], /script not found: nope\.js$/],
  [
    ['trace', 'node', app],
    /script not found: node \(give the script itself: stackscope trace app\.js; options for node go in --node-arg\)/,
  ],
  [['trace', dir], /script is a folder: /],
  [['trace', '--bogus', app], /Unknown argument: bogus/],
  [['trace', '-o'], /-o needs a value/],
  [['trace', '--out'], /--out needs a value/],
  [['trace', '-o', '', app], /no file name given for the trace/],
  [['trace', '-o', dir, app], /cannot write the trace to .*EISDIR/],
  [['trace', '-o', missingDir, app], /cannot write the trace to .*no-such-folder.*ENOENT/],
  [['trace', '--min-duration', 'abc', app], /--min-duration must be a number/],
  [['trace', '--min-duration', '-5', app], /--min-duration must be a number of µs >= 0/],
  [['trace', '--buffer-size', '1e100', app], /--buffer-size must be a whole number of calls from 1 to 50,000,000 \(got 1e\+100\)/],
  [['trace', '--buffer-size', '0', app], /--buffer-size must be/],
  [['trace', '--on-full', 'wrap', app], /--on-full must be raise or drop-oldest \(got wrap\)/],
  [['trace', '--max-depth', '0', app], /--max-depth must be a whole number >= 1 \(got 0\)/],
  [['trace', '--max-depth', '1.5', app], /--max-depth must be a whole number/],
  [['trace', '--include'], /--include needs a value/],
  // an option that takes a value has no --no- form; an empty number is not 0
  [['trace', '--no-out', app], /--out takes a value: there is no --no-out/],
  [['trace', '--no-node-arg', app], /--node-arg takes a value: there is no --no-node-arg/],
  [['trace', '--no-include-package', app], /--include-package takes a value/],
  [['trace', '--no-min-duration', app], /--min-duration takes a value/],
  [['trace', '--min-duration', '', app], /--min-duration must be a number/],
  [['trace', '--max-depth=', app], /--max-depth must be a whole number >= 1/],
  [['trace', '--throttle', 'abc', app], /--throttle must be a whole number of calls \(0: never throttle\)/],
  [['trace', '--throttle', '-1', app], /--throttle must be a whole number of calls >= 0 \(got -1\)/],
  [['trace', '--throttle', '1.5', app], /--throttle must be a whole number of calls >= 0 \(got 1.5\)/],
  [['trace', '-o=', 'x.json', app], /Unknown argument: =/],
  [['trace', '--out.x', 'y', app], /Unknown argument: out\.x/],
  [['sample', '--no-out', app], /--out takes a value: there is no --no-out/],
  [['trace', '--sample', 'true', '--no-out', app], /--out takes a value: there is no --no-out/],
  [['trace', '--sample', 'true', '--bogus', 'x', app], /Unknown argument: bogus/],

  [['sample'], /missing script: give the script to run: stackscope sample/],
  [['trace', '--min-duration', app], /missing script: .*\(--min-duration took ".*app\.js" as its value\)/],
  [['trace', '--sample', 'true'], /missing script: .*\(--sample took "true" as its value\)/],
  [['sample', '-o', app], /missing script: .*\(-o took ".*app\.js" as its value\)/],
  [['sample', 'nope.js'], /script not found: nope\.js$/],
  [['sample', 'tsx', app], /script not found: tsx \(give the script itself: stackscope sample app\.js;/],
  [['sample', dir], /script is a folder: /],
  [['sample', '--bogus', app], /Unknown argument: bogus/],
  [['sample', '--output', dir, app], /cannot write the profile to .*EISDIR/],
  [['sample', '-o', missingDir, app], /cannot write the profile to .*ENOENT/],
  [['sample', '-o', '', app], /no file name given for the profile/],
  [['sample', '--format', 'svg', app], /bad format "svg": use one of trace, cpuprofile, folded, pprof/],
  [['sample', '-o', 'out.xyz', app], /cannot tell the output format from "out\.xyz": name it \.cpuprofile, \.folded, \.pb\.gz or \.json/],
  [['attach', '-o', 'out.xyz', noPid], /cannot tell the output format from "out\.xyz"/],
  [['sample', '--interval', '-5', app], /bad interval "-5"/],
  [['sample', '--interval', '10s', app], /bad interval "10s": must be between 50us and 1s/],
  [['sample', '--duration', '0', app], /bad duration "0"/],
  [['sample', '--duration', '1e12', app], /bad duration .*up to 2147483/],
  [['sample', '--interval'], /--interval needs a value/],

  [['attach'], /missing PID/],
  [['attach', 'abc'], /bad PID "abc"/],
  [['attach', '-5'], /bad PID "-5"/],
  [['attach', noPid], /no process with PID 999999999/],
  [['attach', noPid, '7'], /Unknown argument: 7/],
  [['attach', noPid, '--bogus'], /Unknown argument: bogus/],
  [['attach', noPid, '--duration', 'abc'], /bad duration "abc"/],
  [['attach', noPid, '--duration', '-1'], /bad duration "-1"/],
  [['attach', noPid, '--duration', '1e9'], /bad duration .*up to 2147483/],
  [['attach', noPid, '--duration'], /--duration needs a value/],
  [['attach', noPid, '--interval', '1us'], /bad interval "1us"/],
  [['attach', noPid, '--format', 'x'], /bad format "x"/],
  [['attach', noPid, '-o', dir], /cannot write the profile to .*EISDIR/],

  [['bench'], /missing bench file: stackscope bench <file>/],
  [['bench', 'nope.bench.ts'], /nope\.bench\.ts: no such bench file/],
  [['bench', dir], /a folder, not a bench file/],
  [['bench', '--bogus', bench], /Unknown argument: bogus/],
  [['bench', bench, 'extra'], /Unknown argument: extra/],
  [['bench', bench, '--runs', '0'], /--runs must be an integer from 1 to 100,000 \(got 0\)/],
  [['bench', bench, '--runs', 'abc'], /--runs must be an integer/],
  [['bench', bench, '--runs', '1e12'], /--runs must be an integer from 1 to 100,000/],
  [['bench', bench, '--warmup', '-1'], /--warmup must be an integer from 0/],
  [['bench', bench, '--timeout', '0'], /--timeout must be a number of seconds > 0/],
  [['bench', bench, '--timeout', '1e10'], /--timeout .* at most 2,147,483/],
  [['bench', bench, '--mode', 'x'], /Invalid values: Argument: mode, Given: "x"/],
  [['bench', bench, '--mode'], /--mode needs a value/],
  [['bench', bench, '--interval', 'abc'], /bad --interval "abc"/],
  [['bench', bench, '--interval', '5'], /--interval must be from 10 µs to 1 s/],
  [['bench', bench, '--mode', 'trace', '-o', app], /cannot write outputs to .*app\.js is not a folder/],

  [['compare'], /missing files: stackscope compare <a> <b>/],
  [['compare', trace], /missing second file/],
  [['compare', '--bogus', trace, trace], /Unknown argument: bogus/],
  [['compare', trace, trace, 'extra'], /Unknown argument: extra/],
  [['compare', 'nope.json', trace], /nope\.json: no such file/],
  [['compare', dir, trace], /: a folder, not a file/],
  [['compare', empty, trace], /empty\.json: empty file/],
  [['compare', badJson, trace], /bad\.json: not valid JSON/],
  [['compare', app, trace], /app\.js: not a trace, \.cpuprofile or folded file/],
  [['compare', trace, trace, '--top', '0'], /--top must be a positive integer/],
  [['compare', trace, trace, '--top'], /--top needs a value/],
];

test('bad input: one line on stderr starting "stackscope:", naming the problem; non-zero exit; nothing run', async () => {
  const failures: string[] = [];
  await all(BAD, async ([args, re]) => {
    const r = await stackscope(args);
    const lines = r.stderr.split('\n').filter(Boolean);
    const why =
      r.code === 0 || r.code === null
        ? `exit ${r.code}`
        : lines.length !== 1
          ? `${lines.length} lines on stderr`
          : !lines[0]!.startsWith('stackscope: ')
            ? 'no "stackscope: " prefix'
            : !re.test(lines[0]!)
              ? `message does not match ${re}`
              : r.stdout !== ''
                ? 'wrote to stdout (did the program run?)'
                : '';
    if (why) failures.push(`stackscope ${args.join(' ')}: ${why}\n    ${r.stderr.trimEnd().split('\n').join('\n    ')}`);
  });
  assert.deepEqual(failures, []);
});

test('--help of every command exits 0 and shows an example', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--help'], /stackscope trace app\.js/],
    [['trace', '--help'], /stackscope trace .*app\.js/],
    [['-h', 'trace'], /stackscope trace .*app\.js/],
    [['help', 'trace'], /stackscope trace .*app\.js/],
    [['help', 'compare'], /stackscope compare \S+\.json \S+/],
    [['sample', '--help'], /stackscope sample .*app\.js/],
    [['attach', '--help'], /stackscope attach \d+/],
    [['bench', '--help'], /stackscope bench \S+\.bench\.ts/],
    [['compare', '--help'], /stackscope compare \S+\.json \S+/],
  ];
  await all(cases, async ([args, example]) => {
    const r = await stackscope(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr, '', args.join(' '));
    assert.match(r.stdout, /Examples:/, args.join(' '));
    assert.match(r.stdout, example, args.join(' '));
  });
});

test("--version prints stackscope's own version on every command, whatever folder it runs in", async () => {
  const own = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  // A project of the user's with a package.json of its own: its version is not stackscope's.
  const project = fs.mkdtempSync(path.join(tmp, 'project-'));
  fs.writeFileSync(path.join(project, 'package.json'), '{"name":"myapp","version":"9.9.9"}');
  await all([[], ['trace'], ['sample'], ['collect'], ['compare']], async (command) => {
    const r = await stackscope([...command, '--version'], project);
    assert.equal(r.code, 0, `${command.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, `${own}\n`, command.join(' '));
  });
});

test('the output option is -o, --out and --output on every command that writes files', async () => {
  await all(['trace', 'sample', 'attach', 'bench'], async (command) => {
    const r = await stackscope([command, '--help']);
    assert.match(r.stdout, /-o, --out, --output /, command);
  });
});

test('a program that cannot start leaves an existing trace or profile as it was', async () => {
  const kept = file('kept.json', '{"traceEvents":[],"mine":true}\n');
  const t = await stackscope(['trace', '-o', kept, '--node-arg=--no-such-node-flag', app]);
  assert.notEqual(t.code, 0);
  assert.equal(t.stdout, '');
  assert.match(t.stderr, /stackscope: no recording was saved .*nothing written to .*kept\.json\n$/);
  assert.equal(fs.readFileSync(kept, 'utf8'), '{"traceEvents":[],"mine":true}\n');

  const keptProfile = file('kept.folded', 'main;work 3\n');
  const s = await stackscope(['sample', '-o', keptProfile, '--node-arg=--no-such-node-flag', app]);
  assert.notEqual(s.code, 0);
  assert.equal(fs.readFileSync(keptProfile, 'utf8'), 'main;work 3\n');
});

test("sample: options stop at the script, --json is one line on stderr, stdout stays the program's", async () => {
  const out = path.join(tmp, 'p.folded');
  const r = await stackscope(['sample', '--json', '--output', out, app, 'a', '--json', '-o', 'x']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'ran a --json -o x\n');
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  const summary = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(summary.profile, out);
  assert.equal(summary.format, 'folded');
  assert.equal(summary.exitCode, 0);
  assert.equal(typeof summary.samples, 'number');
  assert.ok(fs.existsSync(out));
});
