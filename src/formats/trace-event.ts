/**
 * Chrome trace-event JSON (the format the DevTools Performance panel and Perfetto load).
 *
 * Writer: streams `{"traceEvents":[...],"metadata":{...}}` to a file with synchronous writes in
 * ~1 MiB chunks, so a multi-million-event trace never becomes one giant string, memory stays flat,
 * and it can run inside a process 'exit' handler (where only synchronous work happens).
 * Reader: loads a trace file in either the object or the bare-array form.
 * Facts about what DevTools accepts are in docs/design.md: object form, `ts`/`dur` in µs,
 * `ts >= 1`, `X` events for slices, `I` for instants, `M` metadata for track names.
 */
import fs from 'node:fs';

export interface TraceEvent {
  name: string;
  ph: string;
  ts?: number;
  dur?: number;
  pid: number;
  tid?: number;
  cat?: string;
  id?: string | number;
  s?: string;
  bp?: string;
  args?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface TraceFile {
  traceEvents: TraceEvent[];
  metadata?: Record<string, unknown>;
}

const CHUNK_BYTES = 1 << 20;

export class TraceEventWriter {
  private fd: number;
  private parts: string[] = [];
  private size = 0;
  private first = true;
  private closed = false;
  /** Number of events written so far. */
  count = 0;

  /** Opens (truncates) `path`. Throws the fs error if the path cannot be written. */
  constructor(readonly path: string) {
    this.fd = fs.openSync(path, 'w');
    this.push('{"traceEvents":[\n');
  }

  /** Appends one event. */
  write(event: TraceEvent): void {
    this.writeRaw(JSON.stringify(event));
  }

  /**
   * Appends one already-serialised event (a JSON object text). Lets hot producers format
   * their events by hand, which is several times faster than JSON.stringify for `X` events.
   */
  writeRaw(json: string): void {
    this.push(this.first ? json : ',\n' + json);
    this.first = false;
    this.count++;
  }

  /** Writes the metadata object and closes the file. */
  close(metadata: Record<string, unknown> = {}): void {
    if (this.closed) return;
    this.push(`\n],\n"metadata":${JSON.stringify(metadata)}}\n`);
    this.flush();
    fs.closeSync(this.fd);
    this.closed = true;
  }

  private push(s: string): void {
    this.parts.push(s);
    this.size += s.length;
    if (this.size >= CHUNK_BYTES) this.flush();
  }

  private flush(): void {
    if (this.parts.length === 0) return;
    fs.writeSync(this.fd, this.parts.join(''));
    this.parts = [];
    this.size = 0;
  }
}

/**
 * Fast hand-formatted `X` event. Name, cat and args must already be JSON texts (`nameJson` and
 * `catJson` string literals); flows bind to slices by ts, pid, tid and cat.
 */
export function completeEventJson(nameJson: string, ts: number, dur: number, pid: number, tid: number, argsJson?: string, catJson?: string): string {
  return `{"ph":"X","name":${nameJson},${catJson ? `"cat":${catJson},` : ''}"ts":${round3(ts)},"dur":${round3(dur)},"pid":${pid},"tid":${tid}${argsJson ? `,"args":${argsJson}` : ''}}`;
}

/** Hand-formatted thread-scoped `I` (instant) event; JSON texts as for completeEventJson. */
export function instantEventJson(nameJson: string, ts: number, pid: number, tid: number, argsJson?: string, catJson?: string): string {
  return `{"ph":"I","s":"t","name":${nameJson},${catJson ? `"cat":${catJson},` : ''}"ts":${round3(ts)},"pid":${pid},"tid":${tid}${argsJson ? `,"args":${argsJson}` : ''}}`;
}

/** µs with ns precision: keeps files short without losing timing fidelity. */
export function round3(us: number): number {
  return Math.round(us * 1000) / 1000;
}

/** Reads a trace file (object form or bare array form). */
export function readTraceFile(path: string): TraceFile {
  const data: unknown = JSON.parse(fs.readFileSync(path, 'utf8'));
  if (Array.isArray(data)) return { traceEvents: data as TraceEvent[] };
  if (data && typeof data === 'object' && Array.isArray((data as TraceFile).traceEvents)) return data as TraceFile;
  throw new Error(`${path} is not a Chrome trace-event file (no traceEvents array)`);
}

/** Metadata events naming a process and a thread track. */
export function processNameEvent(pid: number, name: string): TraceEvent {
  return { name: 'process_name', ph: 'M', pid, tid: 0, args: { name } };
}
export function threadNameEvent(pid: number, tid: number, name: string): TraceEvent {
  return { name: 'thread_name', ph: 'M', pid, tid, args: { name } };
}
export function threadSortEvent(pid: number, tid: number, index: number): TraceEvent {
  return { name: 'thread_sort_index', ph: 'M', pid, tid, args: { sort_index: index } };
}
