/**
 * The configuration the `stackscope trace` session hands to the preload of the traced process
 * (and, through the inherited environment, to its workers and forked children).
 */
import { readChildEnv } from '../util/child-env.js';

export const TRACE_ENV = 'STACKSCOPE_TRACE';

/**
 * Calls in a row, each shorter than the minimum in force and with no traced call inside, after
 * which a function is throttled (src/recorder/runtime.ts says what that is). Measured on tsc
 * (benchmarks/real-packages.ts): after 10,000 calls the traced run took 2.7 s instead of 3.4 s,
 * after 1,000 2.6 s; 10,000 hid fewer calls that would have been kept (tsc: 866-1,155, almost all
 * tiny leaves stretched by a GC pause or by the machine; docs/design.md).
 */
export const DEFAULT_THROTTLE_AFTER = 10_000;

export interface PreloadConfig {
  /** directory where every thread writes its dump */
  dumpDir: string;
  include: string[];
  exclude: string[];
  /** packages traced wherever they are installed (`--include-package`) */
  includePackages: string[];
  cwd: string;
  typescript: boolean;
  bufferSize?: number;
  minDurationUs?: number;
  /** what a full ring does (RecorderOptions.onFull) */
  onFull?: 'raise' | 'drop-oldest';
  maxDepth?: number;
  /** RecorderOptions.throttleAfter (0: never throttle) */
  throttleAfter?: number;
  /** checked transform cache folder; false: run uncached (the session has said why) */
  cacheDir?: string | false;
  /** `trace --sample`: run V8's CPU profiler in every traced thread at this interval (µs) */
  sampleIntervalUs?: number;
  /** async causality through async_hooks (flows from the scheduling call, request ids); default off */
  async?: boolean;
}

/** Parses the environment variable; undefined when absent (the process is not being traced). */
export function readPreloadConfig(env: NodeJS.ProcessEnv = process.env): PreloadConfig | undefined {
  const c = readChildEnv<PreloadConfig>(TRACE_ENV, { env });
  if (!c) return undefined;
  if (typeof c.dumpDir !== 'string') throw new Error(`${TRACE_ENV} has no dumpDir`);
  return {
    dumpDir: c.dumpDir,
    include: Array.isArray(c.include) ? c.include.map(String) : [],
    exclude: Array.isArray(c.exclude) ? c.exclude.map(String) : [],
    includePackages: Array.isArray(c.includePackages) ? c.includePackages.map(String) : [],
    cwd: typeof c.cwd === 'string' ? c.cwd : process.cwd(),
    typescript: Boolean(c.typescript),
    bufferSize: typeof c.bufferSize === 'number' ? c.bufferSize : undefined,
    minDurationUs: typeof c.minDurationUs === 'number' ? c.minDurationUs : undefined,
    onFull: c.onFull === 'drop-oldest' ? 'drop-oldest' : undefined,
    maxDepth: typeof c.maxDepth === 'number' ? c.maxDepth : undefined,
    throttleAfter: typeof c.throttleAfter === 'number' ? c.throttleAfter : undefined,
    cacheDir: typeof c.cacheDir === 'string' || c.cacheDir === false ? c.cacheDir : undefined,
    sampleIntervalUs: typeof c.sampleIntervalUs === 'number' && c.sampleIntervalUs > 0 ? c.sampleIntervalUs : undefined,
    async: c.async === true,
  };
}
