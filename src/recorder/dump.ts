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
import { RECORD_STRIDE, type NodeEvent, type ThreadRecording } from './recording.js';
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
  const buf = fs.readFileSync(file);
  if (buf.length < 16 || buf.toString('latin1', 0, 8) !== MAGIC) throw new Error(`${file} is not a stackscope dump`);
  const len = buf.readUInt32LE(8);
  const h = JSON.parse(buf.toString('utf8', 16, 16 + len)) as DumpHeader;
  const start = 16 + Math.ceil(len / 8) * 8;
  const n = h.count * RECORD_STRIDE;
  if (buf.length < start + n * 8) throw new Error(`${file} is truncated`);
  // A Float64Array needs an 8-byte aligned offset: a big file's Buffer has its own memory
  // (offset 0, and the header is padded to 8 bytes), a small one may sit anywhere in a pool.
  const at = buf.byteOffset + start;
  let records: Float64Array;
  if (at % 8 === 0) {
    records = new Float64Array(buf.buffer, at, n);
  } else {
    records = new Float64Array(n);
    new Uint8Array(records.buffer).set(buf.subarray(start, start + n * 8));
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
    },
  };
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
