/**
 * Compact binary dump of one ThreadRecording, written by the traced process at exit and read by
 * the `stackscope trace` CLI after the program has finished.
 *
 * Layout (little-endian):
 *   "SSDUMP01"                     8 bytes magic
 *   u32 header length, u32 0       8 bytes
 *   header JSON (utf8), zero-padded to a multiple of 8
 *   records: count * RECORD_STRIDE float64
 * The records are written straight from the Float64Array (no per-record formatting), so dumping a
 * full 1M-record ring takes a few milliseconds inside an 'exit' handler. Function files are
 * interned in the header because thousands of functions share a handful of files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { RECORD_STRIDE, type NodeEvent, type ThreadRecording, type ThrottledFunction } from './recording.js';
import type { FunctionInfo } from '../model/frame.js';
import { replaceFile } from '../util/output-file.js';

const MAGIC = 'SSDUMP01';
export const DUMP_EXT = '.ssdump';

interface DumpHeader {
  pid: number;
  tid: number;
  threadName: string;
  processName: string;
  timeOrigin: number;
  count: number;
  dropped: number;
  droppedNodeEvents: number;
  files: string[];
  /** [name, file index, line, col] */
  functions: Array<[string, number, number, number]>;
  spanNames: string[];
  nodeEvents: NodeEvent[];
  minDurationUs?: number;
  minDurationRaises?: Array<{ atUs: number; minUs: number }>;
  throttled?: ThrottledFunction[];
  throttleAfter?: number;
}

/** A dump as read back: the recording plus the label of its process. */
export interface DumpedThread {
  recording: ThreadRecording;
  processName: string;
}

/** File name of a thread's dump: one per pid and thread, so forks and workers never collide. */
export function dumpFileName(pid: number, tid: number): string {
  return `${pid}-${tid}${DUMP_EXT}`;
}

/** Writes `rec` into `dir` (atomically: readers never see a partial file). Returns the path. */
export function writeDump(dir: string, rec: ThreadRecording, processName: string): string {
  const files: string[] = [];
  const fileIdx = new Map<string, number>();
  const functions = rec.functions.map((f: FunctionInfo): [string, number, number, number] => {
    let i = fileIdx.get(f.file);
    if (i === undefined) {
      i = files.length;
      files.push(f.file);
      fileIdx.set(f.file, i);
    }
    return [f.name, i, f.line, f.col];
  });
  const header: DumpHeader = {
    pid: rec.pid,
    tid: rec.tid,
    threadName: rec.threadName,
    processName,
    timeOrigin: rec.timeOrigin,
    count: rec.count,
    dropped: rec.dropped,
    droppedNodeEvents: rec.droppedNodeEvents,
    files,
    functions,
    spanNames: rec.spanNames,
    nodeEvents: rec.nodeEvents,
    minDurationUs: rec.minDurationUs,
    minDurationRaises: rec.minDurationRaises,
    throttled: rec.throttled,
    throttleAfter: rec.throttleAfter,
  };
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  const head = Buffer.alloc(16 + padded);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(json.length, 8);
  json.copy(head, 16);

  const records = rec.records.subarray(0, rec.count * RECORD_STRIDE);
  const body = Buffer.from(records.buffer, records.byteOffset, records.byteLength);
  if (!littleEndian()) throw new Error('dump format needs a little-endian machine');

  const final = path.join(dir, dumpFileName(rec.pid, rec.tid));
  replaceFile(final, (tmp) => {
    const fd = fs.openSync(tmp, 'w');
    try {
      fs.writeSync(fd, head);
      let off = 0;
      while (off < body.length) off += fs.writeSync(fd, body, off, Math.min(body.length - off, 1 << 24));
    } finally {
      fs.closeSync(fd);
    }
  });
  return final;
}

/** Reads one dump file. Throws on a file that is not a dump. */
export function readDump(file: string): DumpedThread {
  const fd = fs.openSync(file, 'r');
  let h: DumpHeader, records: Float64Array;
  try {
    const size = fs.fstatSync(fd).size;
    const pre = Buffer.alloc(16);
    if (readFully(fd, pre, 0) < 16 || pre.toString('latin1', 0, 8) !== MAGIC) throw new Error(`${file} is not a stackscope dump`);
    const len = pre.readUInt32LE(8);
    const json = Buffer.alloc(len);
    if (readFully(fd, json, 16) < len) throw new Error(`${file} is truncated`);
    h = JSON.parse(json.toString('utf8')) as DumpHeader;
    const start = 16 + Math.ceil(len / 8) * 8;
    const n = h.count * RECORD_STRIDE;
    if (size < start + n * 8) throw new Error(`${file} is truncated`);
    // Read straight into a Float64Array of its own: no copy, and V8 reads such an array several
    // times faster than a view into a file Buffer (1M records: 15 ms against 135 ms cold).
    records = new Float64Array(n);
    if (readFully(fd, new Uint8Array(records.buffer), start) < n * 8) throw new Error(`${file} is truncated`);
  } finally {
    fs.closeSync(fd);
  }
  return {
    processName: h.processName,
    recording: {
      pid: h.pid,
      tid: h.tid,
      threadName: h.threadName,
      timeOrigin: h.timeOrigin,
      functions: h.functions.map(([name, fi, line, col]) => ({ name, file: h.files[fi] ?? '', line, col })),
      spanNames: h.spanNames,
      records,
      count: h.count,
      dropped: h.dropped,
      nodeEvents: h.nodeEvents,
      droppedNodeEvents: h.droppedNodeEvents,
      ...(typeof h.minDurationUs === 'number' ? { minDurationUs: h.minDurationUs } : {}),
      ...(Array.isArray(h.minDurationRaises) ? { minDurationRaises: h.minDurationRaises } : {}),
      ...(Array.isArray(h.throttled) && typeof h.throttleAfter === 'number'
        ? { throttled: h.throttled, throttleAfter: h.throttleAfter }
        : {}),
    },
  };
}

/** Fills `into` from `pos` on, or up to the end of the file; returns the bytes read. */
function readFully(fd: number, into: Uint8Array, pos: number): number {
  let off = 0;
  while (off < into.length) {
    const got = fs.readSync(fd, into, off, Math.min(into.length - off, 1 << 30), pos + off);
    if (got === 0) break;
    off += got;
  }
  return off;
}

/** Reads every dump in `dir`, skipping unreadable ones (reported through `onError`). */
export function readDumpDir(dir: string, onError?: (file: string, err: unknown) => void): DumpedThread[] {
  const out: DumpedThread[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    if (!name.endsWith(DUMP_EXT)) continue;
    try {
      out.push(readDump(path.join(dir, name)));
    } catch (err) {
      onError?.(name, err);
    }
  }
  return out;
}

function littleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
