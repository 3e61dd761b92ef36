/** Function-by-function difference between two profiles, largest change first. */
import { diffFunctions, type FunctionChange } from '../model/index.js';
import type { FunctionTimes, ProfileTimes } from './model.js';

export interface FunctionDiff {
  label: string;
  a: FunctionTimes | null;
  b: FunctionTimes | null;
  /** b.self - a.self (in the common unit, or in percentage points of share when units differ) */
  selfDelta: number;
  totalDelta: number;
  /** self share of each profile's grand total, 0..1 */
  selfShareA: number;
  selfShareB: number;
}

type ProfileHead = Pick<ProfileTimes, 'file' | 'kind' | 'unit' | 'grandTotal' | 'process' | 'processes' | 'warning'>;

export interface ProfileDiff {
  a: ProfileHead;
  b: ProfileHead;
  /** 'us' or 'samples' when both profiles share it; 'share' (fractions) when they do not */
  unit: 'us' | 'samples' | 'share';
  rows: FunctionDiff[];
}

/**
 * Functions are paired by the model (diffFunctions: `name (file:line)`, a relative file matching
 * the absolute one it ends with, so profiles recorded in different folders pair up whatever
 * folder compare runs in). Rows are sorted by the size of the change in self time, then in total
 * time: self time is where the work is, so the function that got cheaper or dearer tops the list
 * rather than its callers, whose totals move by the same amount.
 */
export function diffProfiles(a: ProfileTimes, b: ProfileTimes, cwd: string = process.cwd()): ProfileDiff {
  const unit = a.unit === b.unit ? a.unit : 'share';
  const norm = (p: ProfileTimes, v: number) => (unit === 'share' ? (p.grandTotal > 0 ? v / p.grandTotal : 0) : v);
  const rows: FunctionDiff[] = alignNames(diffFunctions(a.profile, b.profile, cwd)).map((c) => {
    const fa = c.totalA > 0 || c.selfA > 0 ? { label: c.label, calls: c.callsA, self: c.selfA, total: c.totalA } : null;
    const fb = c.totalB > 0 || c.selfB > 0 ? { label: c.label, calls: c.callsB, self: c.selfB, total: c.totalB } : null;
    return {
      label: c.label,
      a: fa,
      b: fb,
      selfDelta: norm(b, c.selfB) - norm(a, c.selfA),
      totalDelta: norm(b, c.totalB) - norm(a, c.totalA),
      selfShareA: a.grandTotal > 0 ? c.selfA / a.grandTotal : 0,
      selfShareB: b.grandTotal > 0 ? c.selfB / b.grandTotal : 0,
    };
  });
  rows.sort(
    (x, y) =>
      Math.abs(y.selfDelta) - Math.abs(x.selfDelta) || Math.abs(y.totalDelta) - Math.abs(x.totalDelta) || (x.label < y.label ? -1 : 1),
  );
  const head = ({ functions: _f, profile: _p, ...rest }: ProfileTimes): ProfileHead => rest;
  return { a: head(a), b: head(b), unit, rows };
}

const inA = (c: FunctionChange) => c.totalA > 0 || c.selfA > 0;
const inB = (c: FunctionChange) => c.totalB > 0 || c.selfB > 0;

/**
 * A sampled profile names a method by its bare name (`loadFolder`), the tracer by its qualified
 * one (`MessageStore.loadFolder`), both at the same file and line. When exactly one function of
 * each profile sits at a place, each only in its own profile, and one name qualifies the other,
 * the two rows become one under the qualified name.
 */
function alignNames(changes: FunctionChange[]): FunctionChange[] {
  const byPlace = new Map<string, FunctionChange[]>();
  for (const c of changes) {
    if (!c.frame.file) continue;
    const key = `${c.frame.file}\u0000${c.frame.line}`;
    byPlace.set(key, [...(byPlace.get(key) ?? []), c]);
  }
  const gone = new Set<FunctionChange>();
  for (const group of byPlace.values()) {
    const as = group.filter(inA);
    const bs = group.filter(inB);
    if (as.length !== 1 || bs.length !== 1) continue;
    const [ca, cb] = [as[0]!, bs[0]!];
    if (ca === cb || inB(ca) || inA(cb)) continue;
    const [keep, drop] = ca.label.length >= cb.label.length ? [ca, cb] : [cb, ca];
    // Only a qualified name and its own bare name (minified code has many functions on one line).
    if (!keep.frame.name.endsWith('.' + drop.frame.name)) continue;
    keep.selfA += drop.selfA;
    keep.totalA += drop.totalA;
    keep.selfB += drop.selfB;
    keep.totalB += drop.totalB;
    if (drop === ca) keep.callsA = drop.callsA;
    else keep.callsB = drop.callsB;
    gone.add(drop);
  }
  return changes.filter((c) => !gone.has(c));
}
