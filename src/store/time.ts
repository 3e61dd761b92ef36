/** Times and durations as users give them: `now`, `-15m`, ISO dates, `7d`. */
import { UserError } from '../util/errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "10s", "15m", "7d", "1.5h" → ms; UserError when unusable. */
export function parseDuration(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/.exec(text);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
  if (!(ms > 0) || !Number.isFinite(ms)) throw new UserError(`bad ${what} "${text}": give a duration like 10s, 15m, 24h or 7d`);
  return Math.round(ms);
}

/**
 * A point in time: `now`, `-15m` (before now), an ISO 8601 date (`2026-12-01T10:00:00Z`, or a date
 * without zone, read as local time), or seconds since the epoch. UserError when unparseable.
 */
export function parseTime(text: string, what: string, nowMs = Date.now()): number {
  const t = text.trim();
  if (t === 'now') return nowMs;
  const rel = /^-(.+)$/.exec(t);
  if (rel) {
    try {
      return nowMs - parseDuration(rel[1]!, what);
    } catch {
      throw new UserError(`bad ${what} "${text}": give now, a time before now like -15m or -2h, an ISO date, or epoch seconds`);
    }
  }
  if (/^\d{9,11}(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  if (/^\d{4}-\d\d-\d\d/.test(t)) {
    const ms = Date.parse(t);
    if (Number.isFinite(ms)) return ms;
  }
  throw new UserError(`bad ${what} "${text}": give now, a time before now like -15m or -2h, an ISO date, or epoch seconds`);
}

/** A time range [fromMs, untilMs); UserError when empty or reversed. */
export function parseRange(from: string, until: string, nowMs = Date.now()): { fromMs: number; untilMs: number } {
  const fromMs = parseTime(from, '--from', nowMs);
  const untilMs = parseTime(until, '--until', nowMs);
  if (fromMs >= untilMs) {
    throw new UserError(
      `bad range: --from ${from} (${new Date(fromMs).toISOString()}) is not before --until ${until} (${new Date(untilMs).toISOString()})`,
    );
  }
  return { fromMs, untilMs };
}
