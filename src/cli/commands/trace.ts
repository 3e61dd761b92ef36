import { UserError } from '../../util/errors.js';
import { formatUs, thousands } from '../../util/numbers.js';
import {
  JSON_SUMMARY,
  REPEATABLE,
  exitAsProgram,
  numberOption,
  outOption,
  parseProgramArgs,
  programCommand,
  programOf,
  single,
} from '../options.js';
import type { ProgramSpec } from '../options.js';
import { runTrace, type TraceOptions, type TraceResult } from '../../trace/session.js';
import { DEFAULT_THROTTLE_AFTER } from '../../recorder/protocol.js';
import { statusLine } from '../progress.js';
import { parseInterval } from '../../sample/options.js';

const OPEN_HINT = 'Chrome DevTools → Performance → Load profile… (or drag the file in); also https://ui.perfetto.dev';

const TRACE = 'Run a program with every call of its own code traced; write a Chrome trace';

/**
 * `stackscope trace <script> [args..]`. The program owns stdout/stderr while it runs; stackscope's
 * own lines go to stderr after it has finished. `--json` prints the summary as one JSON line on
 * stderr too (stdout carries the program's output and must stay byte-identical).
 */
export const traceCommand = programCommand('trace', TRACE, async (tokens) => {
  const opts = await parseTraceArgs(tokens);
  const progress = opts.json ? undefined : progressPrinter(process.stderr);
  let result: TraceResult;
  try {
    result = await runTrace({ ...opts, onProgress: progress?.update });
  } finally {
    progress?.end();
  }
  report(result, opts.json);
  exitAsProgram(result.exitCode, result.signal);
});

/** `trace`'s options, help and examples. */
export const TRACE_SPEC: ProgramSpec = {
  name: 'trace',
  describe: TRACE,
  epilogue:
    'Options go before the script; everything after the script is passed to the program.\n' +
    'stackscope prints its summary on stderr once the program has ended (with --json: one JSON line).\n' +
    `Open the trace: ${OPEN_HINT}`,
  options: {
    out: {
      ...outOption('where to write the trace (an existing file is replaced only once the new trace is complete)'),
      default: 'trace.json',
    },
    include: {
      ...REPEATABLE,
      describe:
        'also trace files matching this glob (repeatable; e.g. "node_modules/lodash/**", which also matches hoisted, pnpm and linked installs)',
    },
    'include-package': {
      ...REPEATABLE,
      describe: 'also trace this package, wherever it is installed (repeatable; e.g. lodash, @scope/name)',
    },
    exclude: { ...REPEATABLE, describe: 'do not trace files matching this glob (repeatable)' },
    'buffer-size': numberOption('ring buffer capacity in calls per thread (default 500000); see --on-full for what happens beyond it'),
    'on-full': single({
      type: 'string',
      describe:
        "when a thread's buffer fills: raise (default) its minimum duration, so the trace covers the whole run without the shortest calls; drop-oldest: keep every call of the run's end",
    }),
    'min-duration': numberOption('drop calls shorter than this many µs'),
    'max-depth': numberOption('drop calls nested deeper than this (1 = top-level calls only)'),
    throttle: numberOption(
      `stop timing a function after this many calls in a row shorter than the minimum duration, with no traced call inside (default ${thousands(DEFAULT_THROTTLE_AFTER)}; 0 = never)`,
    ),
    'node-arg': { ...REPEATABLE, describe: 'extra option for node itself (repeatable), e.g. --node-arg=--enable-source-maps' },
    sample: {
      type: 'boolean',
      default: false,
      describe: "also sample every traced thread with V8's CPU profiler: library code, builtins and GC under your own calls",
    },
    interval: single({ type: 'string', describe: 'with --sample: sampling interval, 50us to 1s (default 1ms)' }),
    async: {
      type: 'boolean',
      default: false,
      describe:
        'link callbacks (timers, promises, I/O, events) to the traced call that scheduled them, and tag slices with the HTTP request they served (async_hooks: see the README for its cost)',
    },
    json: JSON_SUMMARY,
  },
  examples: [
    ['$0 app.js', 'trace app.js, write trace.json'],
    ['$0 --sample --interval 200us app.js', 'your calls exact, everything under them sampled every 200 µs'],
    ['$0 -o run.json server.ts --port 8080', 'a TypeScript entry; --port 8080 is for it'],
    ['$0 --min-duration 50 -- app.mjs in.txt', 'only calls of 50 µs or more'],
    ['$0 --exclude "src/gen/**" app.js', 'skip generated code'],
    ['$0 --include-package marked app.js', 'trace the marked package too'],
    ['$0 --async server.js', 'arrows from each callback to the call that scheduled it; request ids'],
  ],
};

/** Parses `[options] <script> [args..]`: options stop at the script; the rest goes to the program. */
export async function parseTraceArgs(tokens: string[]): Promise<TraceOptions & { json: boolean }> {
  const argv = await parseProgramArgs<ParsedTraceArgs>(tokens, TRACE_SPEC);
  const { script, args } = programOf(argv, 'trace', tokens);
  if (argv.interval !== undefined && !argv.sample) throw new UserError('--interval needs --sample');
  const sampleIntervalUs = argv.sample ? parseInterval(argv.interval ?? '1ms') : undefined;
  const expected = {
    'buffer-size': 'a whole number of calls',
    'min-duration': 'a number of µs',
    'max-depth': 'a whole number >= 1',
    throttle: 'a whole number of calls (0: never throttle)',
  } as const;
  for (const [k, what] of Object.entries(expected) as [keyof typeof expected, string][]) {
    if (argv[k] !== undefined && !Number.isFinite(argv[k])) throw new UserError(`--${k} must be ${what}`);
  }
  return {
    script,
    args,
    out: argv.out,
    include: argv.include,
    exclude: argv.exclude,
    includePackages: argv['include-package'],
    // max-depth N keeps depths 0..N-1 (depth 0 = top-level calls).
    bufferSize: argv['buffer-size'],
    minDurationUs: argv['min-duration'],
    onFull: argv['on-full'] as TraceOptions['onFull'],
    maxDepth: argv['max-depth'],
    throttleAfter: argv.throttle,
    nodeArgs: argv['node-arg'],
    json: argv.json,
    sampleIntervalUs,
    async: argv.async,
  };
}

interface ParsedTraceArgs {
  out: string;
  include?: string[];
  exclude?: string[];
  'include-package'?: string[];
  'buffer-size'?: number;
  'min-duration'?: number;
  'on-full'?: string;
  'max-depth'?: number;
  throttle?: number;
  'node-arg'?: string[];
  sample: boolean;
  async: boolean;
  interval?: string;
  json: boolean;
  '--'?: unknown[];
}

/**
 * Beyond these DevTools struggles (docs/design.md): 1M X events took ~15 s to load, and the
 * whole file becomes one JS string, so ~512 MiB is a hard ceiling.
 */
export const LARGE_TRACE_EVENTS = 1_000_000;
export const LARGE_TRACE_BYTES = 500 * 1024 * 1024;

export function isLargeTrace(r: Pick<TraceResult, 'events' | 'bytes'>): boolean {
  return r.events > LARGE_TRACE_EVENTS || r.bytes > LARGE_TRACE_BYTES;
}

/** stackscope's closing lines on stderr (without --json). */
export function summaryLines(r: TraceResult): string[] {
  if (r.writeError) return [`stackscope: could not write the trace to ${r.tracePath}: ${r.writeError.split('\n')[0]}`];
  const lines: string[] = [];
  // Nothing is written then (session.ts): an earlier trace at that path is left as it was.
  if (r.threads === 0) {
    // A signal the recorder does not catch (SIGKILL, SIGABRT, SIGUSR2...) kills before it can save.
    const why = r.signal
      ? `the program was killed by ${r.signal} before it could save it`
      : 'node could not start the program, or it was killed before it could save it';
    return [`stackscope: no recording was saved (${why}): nothing written to ${r.tracePath}`];
  }
  lines.push(
    `stackscope: trace written to ${r.tracePath} (${thousands(r.events)} events, ${binarySize(r.bytes)}, ${r.threads} thread${r.threads === 1 ? '' : 's'})`,
  );
  const nothing = unmatchedLine(r);
  if (nothing) lines.push(nothing);
  if (r.samples !== undefined)
    lines.push(`stackscope: ${thousands(r.samples)} CPU samples in the trace, on each thread's track under the exact slices they fall in`);
  for (const g of r.samplesIncomplete ?? []) {
    const thread = g.thread.replace(/[^\x20-\x7e]/g, '?');
    lines.push(
      g.lastSampleTs === undefined
        ? `stackscope: ${thread} (pid ${g.pid}): ${g.why}`
        : `stackscope: the CPU samples of ${thread} (pid ${g.pid}) end early, ${g.why}`,
    );
  }
  const raised = r.minDurationRaised;
  if (raised) {
    lines.push(
      `stackscope: the ring buffer filled at ${raised.firstAtMs.toFixed(1)} ms${raised.threads > 1 ? ` (${raised.threads} threads)` : ''}, so calls shorter than ${formatUs(raised.minDurationUs)} µs are not in the trace, over the whole run; ` +
        "their time shows as their callers' self time (raise --buffer-size to keep more, or --on-full drop-oldest to keep every call of the run's end)",
    );
  }
  const th = r.throttled;
  if (th) {
    const more = th.functions - th.labels.length;
    const which = th.labels.map(printable).join(', ') + (more > 0 ? ` and ${thousands(more)} more` : '');
    const one = th.functions === 1;
    lines.push(
      `stackscope: ${one ? 'a function was' : `${thousands(th.functions)} functions were`} throttled${th.threads > 1 ? ` (in ${th.threads} threads)` : ''}: ${which}. ` +
        `After ${thousands(th.after)} calls in a row, each under the minimum duration and calling no traced function, ${one ? 'its' : 'their'} calls were no longer timed; ` +
        `any longer call after that is part of its caller's self time (the caller's slice says so in args.untimed; --throttle 0 times every call)` +
        (th.timedAgain > 0
          ? `. ${th.timedAgain === 1 ? 'One' : thousands(th.timedAgain)} of them ${th.timedAgain === 1 ? 'was' : 'were'} timed again later, having made a traced call (an instant marks it; that one call is not in the trace)`
          : ''),
    );
  }
  if (r.dropped > 0) {
    const from =
      r.completeFromMs === undefined
        ? ''
        : ` the trace is complete only from ${r.completeFromMs.toFixed(1)} ms on (calls running then start there);`;
    lines.push(
      `stackscope: ${thousands(r.dropped)} oldest events dropped (ring buffer full):${from} raise --buffer-size or use --min-duration/--max-depth`,
    );
  }
  if (isLargeTrace(r)) {
    lines.push(
      `stackscope: this trace is larger than DevTools opens comfortably (~${(LARGE_TRACE_EVENTS / 1e6).toFixed(0)}M events or ~${LARGE_TRACE_BYTES >> 20} MiB): ` +
        'record less with --min-duration <µs> (skip short calls) or --max-depth <n> (skip deep ones)',
    );
  }
  lines.push(`stackscope: open it in ${OPEN_HINT}`);
  return lines;
}

/** One line naming the include patterns and packages that traced nothing; undefined when all matched. */
export function unmatchedLine(r: Pick<TraceResult, 'unmatched'>): string | undefined {
  const names = [
    ...(r.unmatched?.include ?? []).map((g) => `--include ${JSON.stringify(g)}`),
    ...(r.unmatched?.packages ?? []).map((p) => `--include-package ${p}`),
  ];
  if (names.length === 0) return undefined;
  return (
    `stackscope: ${names.join(', ')} traced nothing: no module the program loaded matched ` +
    '(globs match the path from the working folder, from the last node_modules/, or an absolute path; --exclude wins)'
  );
}

/**
 * A name from the program, safe to print on a terminal: no control, line-separator or
 * direction-changing characters, at most 100 characters.
 */
function printable(name: string): string {
  const safe = name.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?');
  return safe.length > 100 ? `${safe.slice(0, 99)}…` : safe;
}

/** Sizes in binary units, named as such (1 MiB = 1,048,576 bytes). */
function binarySize(bytes: number): string {
  return bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

function report(r: TraceResult, json: boolean): void {
  if (json) {
    process.stderr.write(
      JSON.stringify({
        trace: r.writeError || r.threads === 0 ? null : r.tracePath,
        events: r.events,
        bytes: r.bytes,
        large: isLargeTrace(r),
        dropped: r.dropped,
        completeFromMs: r.completeFromMs,
        minDurationRaised: r.minDurationRaised,
        throttled: r.throttled,
        threads: r.threads,
        unmatched: r.unmatched,
        ...(r.samples !== undefined ? { samples: r.samples } : {}),
        exitCode: r.exitCode,
        signal: r.signal,
        error: r.writeError,
      }) + '\n',
    );
    return;
  }
  process.stderr.write(summaryLines(r).join('\n') + '\n');
}

/**
 * A one-line progress display for writing the trace, redrawn in place at most every `intervalMs`
 * and only once writing has taken `delayMs` (a small trace is written before anyone would look).
 * Only on a terminal: redirected stderr (logs, CI, tests) gets no progress at all, just the summary.
 */
export function progressPrinter(
  stream: Pick<NodeJS.WriteStream, 'isTTY' | 'write'>,
  intervalMs = 100,
  delayMs = 300,
): { update: (done: number, total: number) => void; end: () => void } | undefined {
  const line = statusLine(stream, intervalMs, delayMs);
  if (!line) return undefined;
  return {
    update: (done, total) => {
      const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
      line.show(`stackscope: writing the trace… ${pct}% (${thousands(done)} of ${thousands(total)} events)`, done >= total);
    },
    end: () => line.end(),
  };
}
