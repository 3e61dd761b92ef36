/**
 * The one entry point that reads a profile file of any supported format into the model, telling
 * the format by content, not by name: gzip magic (pprof, or a gzipped JSON trace), JSON shapes
 * (`traceEvents` or a bare array: a trace; `nodes`: a .cpuprofile), other binary data (plain pprof),
 * else folded text. An unreadable file is one UserError line naming the file and what it looked like.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import type { Profile } from '../model/index.js';
import { UserError } from '../util/errors.js';
import { cpuProfileToModel, type CpuProfile } from './cpuprofile.js';
import { foldedToModel, parseFolded } from './folded.js';
import { pprofToModel } from './pprof.js';
import { traceToModel, type TraceProcess } from './trace-read.js';
import type { TraceEvent } from './trace-event.js';

export type InputFormat = 'trace' | 'cpuprofile' | 'folded' | 'pprof';

export interface ReadProfile {
  profile: Profile;
  format: InputFormat;
  /** traces: the processes read (the one chosen, or all of them) */
  processes?: TraceProcess[];
  /** traces: true when one process was chosen */
  processChosen?: boolean;
  /** traces cut by the tracer's ring buffer: the sentence to follow the file's name (trace-read.ts traceCut) */
  cut?: string;
}

export interface ReadOptions {
  /** traces only: read this process (name or pid) instead of all of them */
  process?: string;
}

const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** True when the bytes look like text (no NUL, valid UTF-8 in the part looked at). */
function looksLikeText(b: Buffer): boolean {
  const head = b.subarray(0, 4096);
  if (head.includes(0)) return false;
  // Cut at the last complete character: a multi-byte one may straddle the 4 KiB mark.
  let end = head.length;
  while (end > 0 && end > head.length - 4 && (head[end - 1]! & 0xc0) === 0x80) end--;
  if (end > 0 && head[end - 1]! >= 0xc0) end--;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, end));
    return true;
  } catch {
    return false;
  }
}

/** The first line of an error, short, with control characters (from the file's own bytes) shown as '?'. */
function why(err: unknown): string {
  return (err instanceof Error ? err.message : String(err))
    .split('\n')[0]!
    .slice(0, 200)
    .replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** Reads `file` into the model; see the module comment. Throws UserError with one line. */
export function readProfile(file: string, opts: ReadOptions = {}): ReadProfile {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'a folder, not a file' : why(err)}`);
  }
  return readProfileBytes(buf, file, opts);
}

/** readProfile for bytes already read; `file` names them in messages. */
export function readProfileBytes(buf: Buffer, file: string, opts: ReadOptions = {}): ReadProfile {
  const onlyTraces = (what: string) => {
    if (opts.process !== undefined) throw new UserError(`${file}: a process can only be chosen in a trace, and this is ${what}`);
  };
  if (isGzip(buf)) {
    let raw: Buffer;
    try {
      raw = zlib.gunzipSync(buf);
    } catch (err) {
      throw new UserError(`${file}: gzip data that does not decompress (${why(err)})`);
    }
    // DevTools saves traces as .json.gz: the same reader as for plain JSON.
    const first = raw.subarray(0, 64).toString('utf8').trimStart()[0];
    if (first === '{' || first === '[') return readJson(raw.toString('utf8'), file, opts);
    onlyTraces('a pprof profile');
    try {
      return { profile: pprofToModel(raw, file), format: 'pprof' };
    } catch (err) {
      throw new UserError(`${file}: gzip-compressed, but neither pprof nor JSON (${why(err)})`);
    }
  }
  const empty = () => new UserError(`${file}: empty file, not a trace, .cpuprofile, pprof or folded stacks`);
  // An empty file is no profile of anything (a typo'd or truncated file), not one with no samples.
  if (buf.length === 0) throw empty();
  if (!looksLikeText(buf)) {
    onlyTraces('not one');
    try {
      return { profile: pprofToModel(buf, file), format: 'pprof' };
    } catch (err) {
      throw new UserError(`${file}: binary data, but not a pprof profile (${why(err)}); a trace, .cpuprofile or folded file is text`);
    }
  }
  const text = buf.toString('utf8');
  const head = text.trimStart()[0];
  if (head === undefined) throw empty();
  if (head === '{' || head === '[') return readJson(text, file, opts);
  onlyTraces('not one');
  try {
    return { profile: foldedToModel(parseFolded(text), file), format: 'folded' };
  } catch (err) {
    throw new UserError(`${file}: not a trace, .cpuprofile or folded file (${why(err)})`);
  }
}

function readJson(text: string, file: string, opts: ReadOptions): ReadProfile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${file}: not valid JSON: ${why(err)}`);
  }
  const obj = (data ?? {}) as Record<string, unknown>;
  const events = Array.isArray(data)
    ? (data as TraceEvent[])
    : Array.isArray(obj.traceEvents)
      ? (obj.traceEvents as TraceEvent[])
      : undefined;
  if (events) {
    const t = traceToModel(events, {
      file,
      metadata: Array.isArray(data) ? undefined : obj.metadata,
      ...(opts.process !== undefined ? { process: opts.process } : {}),
    });
    t.profile.meta.name ??= file;
    return {
      profile: t.profile,
      format: 'trace',
      processes: t.processes,
      processChosen: opts.process !== undefined,
      ...(t.cut ? { cut: t.cut } : {}),
    };
  }
  if (opts.process !== undefined)
    throw new UserError(
      `${file}: a process can only be chosen in a trace, and this is ${Array.isArray(obj.nodes) ? 'a .cpuprofile' : 'not one'}`,
    );
  if (Array.isArray(obj.nodes)) {
    const nodesOk = (obj.nodes as unknown[]).every(
      (n) =>
        n &&
        typeof n === 'object' &&
        typeof (n as { id?: unknown }).id === 'number' &&
        typeof (n as { callFrame?: unknown }).callFrame === 'object',
    );
    if (!nodesOk) throw new UserError(`${file}: JSON with a nodes array, but not a .cpuprofile (each node needs an id and a callFrame)`);
    return { profile: cpuProfileToModel(obj as unknown as CpuProfile, file), format: 'cpuprofile' };
  }
  if (typeof obj.$schema === 'string' && obj.$schema.includes('speedscope')) {
    throw new UserError(`${file}: a speedscope file, which stackscope writes but does not read (use the file it was made from)`);
  }
  throw new UserError(`${file}: JSON but neither a trace (traceEvents) nor a .cpuprofile (nodes)`);
}
