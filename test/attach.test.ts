/**
 * `stackscope attach` against separately started Node processes: it must profile them, leave them
 * running as they were, and never leave their inspector open, whatever happens to stackscope or to
 * the target. Needs `npx tsc -p .` first.
 *
 * Targets are started with --inspect-port=0, so SIGUSR1 opens their inspector on a free port, not on
 * 9229 where another test (or another attach) could be.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { parseFolded } from '../src/formats/folded.js';
import { listeningPorts } from '../src/sample/attach.js';

const root = path.resolve(import.meta.dirname, '..');
const cli = path.join(root, 'dist/cli/index.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Target {
  app: ChildProcess;
  before: Set<number>;
  out: string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: string | null }>;
}

/** A separately started Node process (the agent fixture without the agent), ready, its ports noted. */
async function startTarget(nodeArgs = ['--inspect-port=0'], kind: 'esm' | 'cjs' | { source: string } = 'esm'): Promise<Target> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-attach-'));
  let script = path.join(root, 'fixtures/sample/agent-app.js'); // ESM: the package is "type": "module"
  if (kind === 'cjs') fs.copyFileSync(script, (script = path.join(dir, 'agent-app.cjs'))); // the same code as CommonJS
  if (typeof kind === 'object') fs.writeFileSync((script = path.join(dir, 'app.mjs')), kind.source);
  const app = spawn(process.execPath, [...nodeArgs, script], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  app.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; signal: string | null }>((res) =>
    app.on('exit', (code, signal) => res({ code, signal })),
  );
  await new Promise<void>((r) => app.stdout!.once('data', () => r()));
  return { app, before: listeningPorts(app.pid!), out: path.join(dir, 'p.folded'), stderr: () => err, exited };
}

function startAttach(pid: number, ...args: string[]) {
  const at = spawn(process.execPath, [cli, 'attach', String(pid), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  at.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<number | null>((res) => at.on('exit', (code) => res(code)));
  return { at, stderr: () => err, exited };
}

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * The target's stderr without the lines Node itself prints when its inspector opens (SIGUSR1), gets a
 * session, and closes with no session left (the dead-man switch after a killed attach).
 */
const programStderr = (t: Target) =>
  t
    .stderr()
    .split('\n')
    .filter((l) => l && !/^(Debugger listening on|For help, see|Debugger attached\.|Debugger ending on)/.test(l))
    .join('\n');

/** The program still obeys a command and exits normally, as it would have without attach. */
async function exitsNormally(t: Target): Promise<void> {
  t.app.stdin!.write('exit\n');
  assert.deepEqual(await t.exited, { code: 0, signal: null });
  assert.equal(programStderr(t), '', 'nothing printed in the target by attach');
}

test('attach profiles a running process, leaves it running and closes its inspector', async () => {
  const t = await startTarget();
  try {
    const r = spawnSync(process.execPath, [cli, 'attach', String(t.app.pid), '--duration', '1', '-o', t.out], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const said =
      /^stackscope: (\d+) samples(?: \((\d+) of them idle, not in the folded file\))? of PID \d+ over 1 s → .* \(folded\); inspector closed again\n$/.exec(
        r.stderr,
      );
    assert.ok(said, r.stderr);
    const stacks = parseFolded(fs.readFileSync(t.out, 'utf8'));
    // What the line counts agrees with the file: all samples, less the idle ones it leaves out.
    assert.equal(
      [...stacks.values()].reduce((a, b) => a + b, 0),
      Number(said[1]) - Number(said[2] ?? 0),
    );
    const keys = [...stacks.keys()].join('\n');
    assert.match(keys, /crunchNumbers \(fixtures\/sample\/agent-app\.js:3\)/);
    assert.equal(t.app.exitCode, null, 'still running');
    assert.deepEqual([...listeningPorts(t.app.pid!)], [...t.before], 'inspector port closed');
    await exitsNormally(t);
  } finally {
    t.app.kill();
  }
});

for (const sig of ['SIGINT', 'SIGHUP'] as const) {
  test(`${sig} to attach stops early, writes the profile and still closes the inspector`, async () => {
    const t = await startTarget();
    try {
      const a = startAttach(t.app.pid!, '--duration', '60', '-o', t.out);
      await until(() => t.stderr().includes('Debugger attached.'), 'the attach');
      await sleep(1500);
      const t0 = Date.now();
      a.at.kill(sig);
      const code = await a.exited;
      assert.equal(code, 0, a.stderr());
      assert.ok(Date.now() - t0 < 8000, 'stopped at once, not after 60 s');
      assert.match(a.stderr(), new RegExp(`^stackscope: \\d+ samples .*stopped early by ${sig}\\) → .*; inspector closed again\\n$`));
      assert.match(fs.readFileSync(t.out, 'utf8'), /crunchNumbers/);
      assert.deepEqual([...listeningPorts(t.app.pid!)], [...t.before], 'inspector port closed');
      await exitsNormally(t);
    } finally {
      t.app.kill();
    }
  });
}

for (const kind of ['esm', 'cjs'] as const) {
  test(`attach killed with SIGKILL: the target (${kind}) closes its inspector within 5 s by itself, and runs on unchanged`, async () => {
    const t = await startTarget(undefined, kind);
    try {
      const a = startAttach(t.app.pid!, '--duration', '60', '-o', t.out);
      await until(() => t.stderr().includes('Debugger attached.'), 'the attach');
      const port = [...listeningPorts(t.app.pid!)].find((p) => !t.before.has(p));
      assert.ok(port, 'the inspector port');
      assert.ok(await accepts(port), 'inspector listening while attached');
      await sleep(2000);
      a.at.kill('SIGKILL');
      await a.exited;
      const t0 = Date.now();
      while ((await accepts(port)) && Date.now() - t0 < 10_000) await sleep(100);
      const closedAfter = Date.now() - t0;
      assert.ok(closedAfter < 5000, `inspector port ${port} closed ${closedAfter} ms after attach was killed`);
      assert.equal(t.app.exitCode, null, 'target still running');
      assert.ok(!fs.existsSync(t.out), 'no profile from a killed attach');
      await exitsNormally(t);
    } finally {
      t.app.kill();
    }
  });
}

test('target killed mid-sample: one line, non-zero exit, and the samples taken so far are written', async () => {
  const t = await startTarget();
  try {
    const out = t.out.replace(/\.folded$/, '.cpuprofile');
    const a = startAttach(t.app.pid!, '--duration', '60', '-o', out);
    await until(() => t.stderr().includes('Debugger attached.'), 'the attach');
    await sleep(3000);
    t.app.kill('SIGKILL');
    const code = await a.exited;
    assert.equal(code, 1, a.stderr());
    assert.match(
      a.stderr(),
      /^stackscope: partial profile: PID \d+ exited \d+\.\d s into sampling; \d+ samples of the first \d+(\.\d)? s → .*p\.cpuprofile \(cpuprofile\)\n$/,
    );
    const samples = Number(/; (\d+) samples/.exec(a.stderr())![1]);
    assert.ok(samples > 0, 'some samples');
    const profile = JSON.parse(fs.readFileSync(out, 'utf8')) as {
      samples: number[];
      nodes: Array<{ callFrame: { functionName: string } }>;
    };
    assert.equal(profile.samples.length, samples, 'the file holds the samples the line counts');
    assert.ok(profile.nodes.some((n) => n.callFrame.functionName === 'crunchNumbers'));
    // Fetched in chunks and joined: one node tree, every sample on a node of it, no frame twice under one parent.
    const ids = new Set(profile.nodes.map((n) => n.id));
    assert.ok(profile.samples.every((id) => ids.has(id)));
    for (const n of profile.nodes as Array<{ children?: number[] }>) {
      const frames = (n.children ?? []).map((c) =>
        JSON.stringify((profile.nodes as Array<{ id: number; callFrame: unknown }>).find((x) => x.id === c)!.callFrame),
      );
      assert.equal(new Set(frames).size, frames.length);
    }
  } finally {
    t.app.kill();
  }
});

test('target ending by itself mid-sample ends on time, prints nothing, and --json reports the partial profile', async () => {
  // Ends when its event loop is empty: the attach's timer in it must hold nothing up, and Node
  // must not wait for the debugger to disconnect.
  const source = `
    const busy = setInterval(function crunch() { let s = 0; for (let i = 0; i < 1e6; i++) s += Math.sqrt(i); }, 5);
    process.stdin.once('data', () => { clearInterval(busy); process.stdin.destroy(); });
    console.log('ready');`;
  const t = await startTarget(undefined, { source });
  try {
    const a = startAttach(t.app.pid!, '--duration', '60', '-o', t.out, '--json');
    await until(() => t.stderr().includes('Debugger attached.'), 'the attach');
    await sleep(3000);
    const t0 = Date.now();
    t.app.stdin!.write('stop\n');
    assert.deepEqual(await t.exited, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 3000, `target ended ${Date.now() - t0} ms after being told to`);
    assert.equal(programStderr(t), '', 'no "Waiting for the debugger to disconnect..."');
    assert.equal(await a.exited, 1, a.stderr());
    const lines = a.stderr().trim().split('\n');
    assert.equal(lines.length, 1, a.stderr());
    const j = JSON.parse(lines[0]!);
    assert.equal(j.partial, true);
    assert.match(j.error, /^partial profile: PID \d+ exited/);
    assert.equal(j.profile, t.out);
    assert.ok(j.samples > 0);
    assert.match(fs.readFileSync(t.out, 'utf8'), /crunch \(.*app\.mjs:2\)/);
  } finally {
    t.app.kill();
  }
});

test('an inspector opened before attach stays open: after attach, and after a killed attach', async () => {
  const t = await startTarget(['--inspect=127.0.0.1:0']);
  try {
    const port = [...t.before].find(() => true);
    assert.ok(port !== undefined && (await accepts(port)), 'inspector open from the start');
    const r = spawnSync(process.execPath, [cli, 'attach', String(t.app.pid), '--duration', '1', '-o', t.out], {
      cwd: root,
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /its inspector was already open and stays open\n$/);
    assert.ok(await accepts(port), 'still open after attach');

    const a = startAttach(t.app.pid!, '--duration', '60', '-o', t.out);
    const attached = () => t.stderr().split('Debugger attached.').length - 1;
    await until(() => attached() >= 2, 'the second attach');
    await sleep(1500);
    a.at.kill('SIGKILL');
    await a.exited;
    await sleep(5000); // longer than a dead-man switch would wait
    assert.ok(await accepts(port), 'still open after a killed attach');
    t.app.stdin!.write('exit\n');
    assert.deepEqual(await t.exited, { code: 0, signal: null });
  } finally {
    t.app.kill();
  }
});

test(
  'a full disk: one line naming ENOSPC, non-zero exit, inspector closed',
  { skip: process.getuid?.() !== 0 && 'needs root to mount a small tmpfs' },
  async (ctx) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-full-'));
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]).status !== 0) {
      ctx.skip('cannot mount a tmpfs here');
      return;
    }
    const t = await startTarget();
    try {
      // Fill it up: a file as big as the disk takes.
      spawnSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'filler')}`, 'bs=4k', 'count=64']);
      const out = path.join(dir, 'p.cpuprofile');
      const r = spawnSync(process.execPath, [cli, 'attach', String(t.app.pid), '--duration', '1', '-o', out], {
        cwd: root,
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(r.status, 1, r.stderr);
      assert.match(
        r.stderr,
        /^stackscope: cannot write the profile to .*p\.cpuprofile \(ENOSPC: no space left on device\); \d+ samples of PID \d+ lost\n$/,
      );
      assert.deepEqual([...listeningPorts(t.app.pid!)], [...t.before], 'inspector port closed');
      await exitsNormally(t);
    } finally {
      t.app.kill();
      spawnSync('umount', [dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);

test('clear errors: missing PID, non-Node process, no process, bad PID', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'attach', ...args], { encoding: 'utf8' });
  const sh = spawn('sleep', ['5']);
  try {
    const cases: Array<[string[], RegExp]> = [
      [['999999'], /^stackscope: no process with PID 999999\n$/],
      [[String(sh.pid)], /^stackscope: PID \d+ is not a Node\.js process \(sleep\)\n$/],
      [['abc'], /^stackscope: bad PID "abc"/],
      [[], /^stackscope: missing PID/],
    ];
    for (const [args, re] of cases) {
      const r = run(...args);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, re);
    }
    const j = run('999999', '--json');
    assert.notEqual(j.status, 0);
    assert.deepEqual(JSON.parse(j.stderr), { profile: null, pid: 999999, error: 'no process with PID 999999' });
    assert.equal(sh.exitCode, null, 'the non-Node process was not signalled');
  } finally {
    sh.kill();
  }
});

test(
  'another user\'s process: "not a Node.js process" when it is not Node, "belongs to another user" when it is',
  { skip: process.getuid?.() !== 0 && 'needs root to run attach as another user' },
  async () => {
    const t = await startTarget();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ss-nobody-'));
    fs.chmodSync(dir, 0o777);
    const asNobody = (pid: number) =>
      spawnSync(process.execPath, [cli, 'attach', String(pid), '-o', path.join(dir, 'p.folded')], {
        cwd: dir,
        encoding: 'utf8',
        uid: 65534,
        gid: 65534,
      });
    try {
      const pid1 = fs.readFileSync('/proc/1/cmdline', 'utf8').split('\0')[0]!;
      if (!/node/.test(path.basename(pid1))) {
        const r = asNobody(1);
        assert.notEqual(r.status, 0);
        assert.equal(r.stderr, `stackscope: PID 1 is not a Node.js process (${path.basename(pid1)})\n`);
      }
      const r = asNobody(t.app.pid!);
      assert.notEqual(r.status, 0);
      assert.equal(r.stderr, `stackscope: PID ${t.app.pid} belongs to another user (uid 0): run stackscope as that user or as root\n`);
      assert.deepEqual([...listeningPorts(t.app.pid!)], [...t.before], 'not signalled');
    } finally {
      t.app.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
