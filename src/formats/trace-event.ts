/**
 * Chrome trace-event JSON (the format the DevTools Performance panel and Perfetto load).
 *
 * Writer: streams `{"traceEvents":[...],"metadata":{...}}` to a file with synchronous writes of
 * ~1 MiB chunks, so a multi-million-event trace never becomes one giant string, memory stays flat,
 * and it can run inside a process 'exit' handler (where only synchronous work happens). Hot
 * producers write `X` and `I` events straight into the chunk's bytes: the JSON of a name, a track
 * and args is encoded once (`completeHead`, `trackBytes`, `argsBytes`) and copied per event, and
 * times are printed as digits without making strings. With `gzip` the file is one gzip member
 * (what DevTools opens when a `.json.gz` is dropped on it), each chunk compressed on its own.
 * Reader: loads a trace file (plain or gzip-compressed) in either the object or the bare-array form.
 * Facts about what DevTools accepts are in docs/design.md: object form, `ts`/`dur` in µs,
 * `ts >= 1`, `X` events for slices, `I` for instants, `M` metadata for track names.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';

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

export interface TraceWriterOptions {
  /** write the file gzip-compressed (for `.json.gz`) */
  gzip?: boolean;
}

/** True for an output path that should be written gzip-compressed (`trace.json.gz`). */
export function isGzipPath(file: string): boolean {
  return /\.gz$/i.test(file);
}

const CHUNK_BYTES = 1 << 20;
/** Room for the fixed parts of one event besides its interned pieces: two times, keys, separator. */
const EVENT_SLACK = 96;
/**
 * zlib level of `.json.gz` output. On a 1M-event tsc trace: level 1 compresses 10×, level 6 (zlib's
 * default) 13.6× but takes ~2.8× as long, which would more than double the time to write the trace.
 */
const GZIP_LEVEL = 1;

const enc = (text: string): Uint8Array => Buffer.from(text, 'utf8');

/** `{"ph":"X","name":NAME[,"cat":CAT],"ts":` for TraceEventWriter.complete; JSON texts in. */
export function completeHead(nameJson: string, catJson?: string): Uint8Array {
  return enc(`{"ph":"X","name":${nameJson},${catJson ? `"cat":${catJson},` : ''}"ts":`);
}
/** `{"ph":"I","s":"t","name":NAME[,"cat":CAT],"ts":` (a thread-scoped instant) for TraceEventWriter.instant. */
export function instantHead(nameJson: string, catJson?: string): Uint8Array {
  return enc(`{"ph":"I","s":"t","name":${nameJson},${catJson ? `"cat":${catJson},` : ''}"ts":`);
}
/** `,"pid":P,"tid":T`: the track of an event. */
export function trackBytes(pid: number, tid: number): Uint8Array {
  return enc(`,"pid":${pid},"tid":${tid}`);
}
/** `,"args":ARGS` from the args' JSON text. */
export function argsBytes(argsJson: string): Uint8Array {
  return enc(`,"args":${argsJson}`);
}

const POW10 = Array.from({ length: 17 }, (_, i) => 10 ** i);
/** Larger times (in ns) are printed by JSON.stringify: beyond it, digits of an integer are not exact. */
const MAX_DIGITS_NS = 2 ** 53;
/** "00" "01" … "99": two digits per division when printing numbers */
const PAIRS = Uint8Array.from(Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0')).join(''), (c) => c.charCodeAt(0));

export class TraceEventWriter {
  private fd: number;
  private buf: Buffer = Buffer.allocUnsafe(CHUNK_BYTES + EVENT_SLACK);
  private pos = 0;
  private first = true;
  private closed = false;
  private readonly gzip: GzipMember | undefined;
  /** Number of events written so far. */
  count = 0;
  /** JSON bytes produced so far (before compression) */
  jsonBytes = 0;

  /** Opens (truncates) `path`. Throws the fs error if the path cannot be written. */
  constructor(
    readonly path: string,
    opts: TraceWriterOptions = {},
  ) {
    this.fd = fs.openSync(path, 'w');
    if (opts.gzip) this.gzip = new GzipMember();
    this.text('{"traceEvents":[\n');
  }

  /** Appends one event. */
  write(event: TraceEvent): void {
    this.writeRaw(JSON.stringify(event));
  }

  /** Appends one already-serialised event (a JSON object text). */
  writeRaw(json: string): void {
    this.text(this.first ? json : ',\n' + json);
    this.first = false;
    this.count++;
  }

  /**
   * Appends an `X` event: `head` from completeHead, times in µs printed to the ns (as round3),
   * `track` from trackBytes, `args` from argsBytes or none.
   */
  complete(head: Uint8Array, ts: number, dur: number, track: Uint8Array, args?: Uint8Array): void {
    this.completeNs(head, Math.round(ts * 1000), Math.round(dur * 1000), track, args);
  }

  /**
   * As `complete`, with the times given as whole ns (what is printed: `tsNs / 1000` µs with up to
   * three decimals). Producers that already hold ns print them without rounding twice.
   */
  completeNs(head: Uint8Array, tsNs: number, durNs: number, track: Uint8Array, args?: Uint8Array): void {
    const us = Math.floor(tsNs / 1000);
    this.completeUsNs(head, us, tsNs - us * 1000, durNs, track, args);
  }

  /**
   * As completeNs with ts given as whole µs plus ns (0-999): numbers that stay small integers
   * (no heap-allocated double per event) for any trace shorter than 35 minutes.
   */
  completeUsNs(head: Uint8Array, tsUs: number, tsFracNs: number, durNs: number, track: Uint8Array, args?: Uint8Array): void {
    let p = this.room(head.length + track.length + (args === undefined ? 0 : args.length));
    const b = this.buf;
    b.set(head, p);
    p =
      tsUs >= 0 && tsUs <= 0x7fffffff
        ? frac3(b, tsFracNs, digits(b, tsUs, p + head.length))
        : ns3(b, tsUs * 1000 + tsFracNs, p + head.length);
    // ,"dur":
    b[p] = 0x2c;
    b[p + 1] = 0x22;
    b[p + 2] = 0x64;
    b[p + 3] = 0x75;
    b[p + 4] = 0x72;
    b[p + 5] = 0x22;
    b[p + 6] = 0x3a;
    p = ns3(b, durNs, p + 7);
    b.set(track, p);
    p += track.length;
    if (args !== undefined) {
      b.set(args, p);
      p += args.length;
    }
    b[p] = 0x7d; // }
    this.pos = p + 1;
    this.count++;
  }

  /** Appends an `I` event: `head` from instantHead; otherwise as `complete`. */
  instant(head: Uint8Array, ts: number, track: Uint8Array, args?: Uint8Array): void {
    let p = this.room(head.length + track.length + (args === undefined ? 0 : args.length));
    const b = this.buf;
    p = put(b, head, p);
    p = ns3(b, Math.round(ts * 1000), p);
    p = put(b, track, p);
    if (args !== undefined) p = put(b, args, p);
    b[p] = 0x7d;
    this.pos = p + 1;
    this.count++;
  }

  /** Writes the metadata object and closes the file. */
  close(metadata: Record<string, unknown> = {}): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.text(`\n],\n"metadata":${JSON.stringify(metadata)}}\n`);
      this.flush();
      if (this.gzip) this.out(this.gzip.end());
    } finally {
      fs.closeSync(this.fd);
    }
  }

  /** Makes room for an event of `bytes` interned bytes plus its numbers; writes the separator. Returns where the event starts. */
  private room(bytes: number): number {
    if (this.pos + bytes + EVENT_SLACK > CHUNK_BYTES) this.spill(bytes + EVENT_SLACK);
    let p = this.pos;
    if (this.first) this.first = false;
    else {
      this.buf[p++] = 0x2c; // ,
      this.buf[p++] = 0x0a; // \n
    }
    return p;
  }

  private text(s: string): void {
    const max = s.length * 3;
    if (this.pos + max > CHUNK_BYTES) this.spill(max);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** Flushes, and grows the chunk for the rare event bigger than it (a very long name). */
  private spill(need: number): void {
    this.flush();
    if (need > this.buf.length) this.buf = Buffer.allocUnsafe(need + EVENT_SLACK);
  }

  private flush(): void {
    if (this.pos === 0) return;
    const data = this.buf.subarray(0, this.pos);
    this.jsonBytes += this.pos;
    this.out(this.gzip ? this.gzip.deflate(data) : data);
    this.pos = 0;
  }

  private out(data: Uint8Array): void {
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.fd, data, off, data.length - off);
  }
}

/** Copies `src` into `b` at `p`; returns the position after it. */
function put(b: Uint8Array, src: Uint8Array, p: number): number {
  b.set(src, p);
  return p + src.length;
}

/**
 * Prints a time given in whole ns as round3 and JSON.stringify would print it in µs (no trailing
 * zeros), as ASCII digits at `p`; returns the position after them. The digits of the integer
 * number of ns with a point three places from the right parse back to exactly `ns / 1000`, the
 * double round3 gives.
 */
function ns3(b: Uint8Array, ns: number, p: number): number {
  if (!(ns >= 0 && ns < MAX_DIGITS_NS)) {
    // Negative, huge or not a number (never produced by the builder): the slow, general way.
    const s = JSON.stringify(ns / 1000);
    for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
    return p;
  }
  let whole: number, frac: number;
  if (ns <= 0x7fffffff) {
    whole = ((ns | 0) / 1000) | 0;
    frac = (ns | 0) - whole * 1000;
  } else {
    whole = Math.floor(ns / 1000);
    frac = ns - whole * 1000;
  }
  return frac3(b, frac, digits(b, whole, p));
}

/** `.ddd` without trailing zeros for 0 < frac < 1000 ns, nothing for 0; returns the position after. */
function frac3(b: Uint8Array, frac: number, p: number): number {
  if (frac === 0) return p;
  b[p] = 0x2e; // .
  const d1 = (frac / 100) | 0,
    r = frac - d1 * 100;
  b[p + 1] = 0x30 + d1;
  if (r === 0) return p + 2;
  const d2 = (r / 10) | 0,
    d3 = r - d2 * 10;
  b[p + 2] = 0x30 + d2;
  if (d3 === 0) return p + 3;
  b[p + 3] = 0x30 + d3;
  return p + 4;
}

/** Decimal digits of a whole number 0 <= n < 2^53 at `p`; returns the position after them. */
function digits(b: Uint8Array, n: number, p: number): number {
  if (n <= 0x7fffffff) {
    let m = n | 0;
    let len = 1;
    while (len < 10 && m >= POW10[len]!) len++;
    let q = p + len;
    while (m >= 100) {
      const k = (m / 100) | 0;
      const r = (m - k * 100) << 1;
      b[--q] = PAIRS[r + 1]!;
      b[--q] = PAIRS[r]!;
      m = k;
    }
    if (m >= 10) {
      b[q - 1] = PAIRS[(m << 1) + 1]!;
      b[q - 2] = PAIRS[m << 1]!;
    } else b[q - 1] = 0x30 + m;
    return p + len;
  }
  let len = 10;
  while (len < 16 && n >= POW10[len]!) len++;
  let q = p + len;
  while (q > p) {
    const k = Math.floor(n / 10);
    b[--q] = 0x30 + n - k * 10;
    n = k;
  }
  return p + len;
}

/**
 * One gzip member built from chunks compressed independently: each chunk is raw deflate ending
 * in a sync flush (byte-aligned, not final), so their concatenation is one deflate stream, which
 * an empty final block ends; the trailer's CRC-32 and length cover all chunks.
 */
class GzipMember {
  private crc = 0;
  private size = 0;
  private started = false;

  deflate(data: Uint8Array): Uint8Array {
    this.crc = zlib.crc32(data, this.crc);
    this.size = (this.size + data.length) % 2 ** 32;
    const body = zlib.deflateRawSync(data, { level: GZIP_LEVEL, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    if (this.started) return body;
    this.started = true;
    return Buffer.concat([GZIP_HEADER, body]);
  }

  end(): Uint8Array {
    const last = zlib.deflateRawSync(Buffer.alloc(0));
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.size, 4);
    return Buffer.concat([this.started ? Buffer.alloc(0) : GZIP_HEADER, last, trailer]);
  }
}

/** magic, deflate, no flags, no mtime, no extra flags, OS unknown */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);

/**
 * Fast hand-formatted `X` event as a string, for producers of few events. Name, cat and args
 * must already be JSON texts; flows bind to slices by ts, pid, tid and cat.
 */
export function completeEventJson(
  nameJson: string,
  ts: number,
  dur: number,
  pid: number,
  tid: number,
  argsJson?: string,
  catJson?: string,
): string {
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

/** Reads a trace file (object form or bare array form; gzip-compressed or not). */
export function readTraceFile(path: string): TraceFile {
  let raw = fs.readFileSync(path);
  if (raw[0] === 0x1f && raw[1] === 0x8b) raw = zlib.gunzipSync(raw);
  const data: unknown = JSON.parse(raw.toString('utf8'));
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
