/**
 * The addresses a collector polls: `--target host:port`, a targets file (one `host:port [label=value …]`
 * a line, `#` comments), and port ranges on a host (`--host h --ports 9000-9015`), as fleets run one
 * worker per port.
 */
import fs from 'node:fs';
import { UserError } from '../util/errors.js';

export interface Target {
  /** `host:port` as polled */
  address: string;
  /** labels given for it in the targets file */
  labels: Record<string, string>;
}

const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?)$/;
const LABEL_KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

function parsePort(text: string, what: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new UserError(`bad port "${text}" in ${what}: give a number from 1 to 65535`);
  return port;
}

/** `host:port` (or `[v6]:port`) checked; throws a one-line UserError naming `what`. */
export function parseAddress(text: string, what = '--target'): string {
  const m = /^(.*):([^:\]]*)$/.exec(text.trim());
  if (!m || !HOST.test(m[1]!)) throw new UserError(`bad target "${text}" in ${what}: give host:port, e.g. 127.0.0.1:9464`);
  return `${m[1]}:${parsePort(m[2]!, what)}`;
}

/** "9000-9015" or "9000,9002,9010-9012" → ports; UserError when unusable or over 10,000 ports. */
export function parsePorts(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new UserError(`bad --ports "${text}": give ports like 9000-9015 or 9000,9002`);
    const a = parsePort(m[1]!, '--ports');
    const b = m[2] === undefined ? a : parsePort(m[2], '--ports');
    if (b < a) throw new UserError(`bad --ports "${text}": ${a}-${b} goes backwards`);
    if (out.length + (b - a + 1) > 10_000) throw new UserError(`bad --ports "${text}": more than 10,000 ports`);
    for (let p = a; p <= b; p++) out.push(p);
  }
  return out;
}

/** The lines of a targets file; throws a one-line UserError naming the file and line. */
export function parseTargetsFile(text: string, file: string): Target[] {
  const out: Target[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const [addr, ...rest] = line.split(/\s+/);
    const where = `${file} line ${i + 1}`;
    const labels: Record<string, string> = {};
    for (const kv of rest) {
      const eq = kv.indexOf('=');
      if (eq <= 0 || !LABEL_KEY.test(kv.slice(0, eq))) throw new UserError(`bad label "${kv}" in ${where}: give label=value`);
      labels[kv.slice(0, eq)] = kv.slice(eq + 1);
    }
    out.push({ address: parseAddress(addr!, where), labels });
  });
  return out;
}

/** Reads a targets file; UserError when it cannot be read or is bad. */
export function readTargetsFile(file: string): Target[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read the targets file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseTargetsFile(text, file);
}

/** The targets of a targets file, re-read when the file changes (size or modification time). */
export class TargetsFile {
  private stamp = '';
  private current: Target[] = [];

  constructor(readonly file: string) {
    this.current = readTargetsFile(file);
    this.stamp = this.stat();
  }

  private stat(): string {
    try {
      const s = fs.statSync(this.file);
      return `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch {
      return 'missing';
    }
  }

  /**
   * The targets now: re-read when the file changed. A file that became unreadable or bad keeps the
   * last good list, and `error` says why (once per change).
   */
  refresh(): { targets: Target[]; changed: boolean; error?: string } {
    const stamp = this.stat();
    if (stamp === this.stamp) return { targets: this.current, changed: false };
    this.stamp = stamp;
    try {
      this.current = readTargetsFile(this.file);
      return { targets: this.current, changed: true };
    } catch (err) {
      return {
        targets: this.current,
        changed: false,
        error: `${(err as Error).message}; keeping the ${this.current.length} targets read before`,
      };
    }
  }
}

/** Targets merged by address (later labels win), in first-seen order. */
export function mergeTargets(...lists: Target[][]): Target[] {
  const out = new Map<string, Target>();
  for (const list of lists) {
    for (const t of list) out.set(t.address, { address: t.address, labels: { ...out.get(t.address)?.labels, ...t.labels } });
  }
  return [...out.values()];
}
