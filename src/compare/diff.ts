/** Function-by-function difference between two profiles, largest change first. */
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

type ProfileHead = Pick<ProfileTimes, 'file' | 'kind' | 'unit' | 'grandTotal' | 'process' | 'processes'>;

export interface ProfileDiff {
  a: ProfileHead;
  b: ProfileHead;
  /** 'us' or 'samples' when both profiles share it; 'share' (fractions) when they do not */
  unit: 'us' | 'samples' | 'share';
  rows: FunctionDiff[];
}

/**
 * Rows are sorted by the size of the change in self time, then in total time: self time is where
 * the work is, so the function that got cheaper or dearer tops the list rather than its callers,
 * whose totals move by the same amount.
 */
export function diffProfiles(a: ProfileTimes, b: ProfileTimes): ProfileDiff {
  [a, b] = alignNames(a, b);
  const unit = a.unit === b.unit ? a.unit : 'share';
  const norm = (p: ProfileTimes, v: number) => (unit === 'share' ? (p.grandTotal > 0 ? v / p.grandTotal : 0) : v);
  const labels = new Set([...a.functions.keys(), ...b.functions.keys()]);
  const rows: FunctionDiff[] = [];
  for (const label of labels) {
    const fa = a.functions.get(label) ?? null;
    const fb = b.functions.get(label) ?? null;
    rows.push({
      label,
      a: fa,
      b: fb,
      selfDelta: norm(b, fb?.self ?? 0) - norm(a, fa?.self ?? 0),
      totalDelta: norm(b, fb?.total ?? 0) - norm(a, fa?.total ?? 0),
      selfShareA: a.grandTotal > 0 ? (fa?.self ?? 0) / a.grandTotal : 0,
      selfShareB: b.grandTotal > 0 ? (fb?.self ?? 0) / b.grandTotal : 0,
    });
  }
  rows.sort((x, y) => Math.abs(y.selfDelta) - Math.abs(x.selfDelta) || Math.abs(y.totalDelta) - Math.abs(x.totalDelta) || (x.label < y.label ? -1 : 1));
  const head = ({ functions: _, ...rest }: ProfileTimes): ProfileHead => rest;
  return { a: head(a), b: head(b), unit, rows };
}

const LOCATION = / \(([^()]+:\d+)\)$/;

/**
 * A sampled profile names a method by its bare name (`loadFolder`), the tracer by its qualified
 * one (`MessageStore.loadFolder`), both at the same `file:line`. When one function of each sits
 * at a location and their labels differ, both take the longer (more qualified) label so the two
 * rows become one.
 */
function alignNames(a: ProfileTimes, b: ProfileTimes): [ProfileTimes, ProfileTimes] {
  const byLoc = (p: ProfileTimes) => {
    const m = new Map<string, string[]>();
    for (const label of p.functions.keys()) {
      const loc = LOCATION.exec(label)?.[1];
      if (loc) m.set(loc, [...(m.get(loc) ?? []), label]);
    }
    return m;
  };
  const locA = byLoc(a);
  const rename = new Map<string, string>();
  for (const [loc, labelsB] of byLoc(b)) {
    const labelsA = locA.get(loc);
    if (labelsA?.length !== 1 || labelsB.length !== 1 || labelsA[0] === labelsB[0]) continue;
    const [la, lb] = [labelsA[0]!, labelsB[0]!];
    if (a.functions.has(lb) || b.functions.has(la)) continue; // the other name is taken: leave both
    const canonical = la.length >= lb.length ? la : lb;
    rename.set(la, canonical).set(lb, canonical);
  }
  if (rename.size === 0) return [a, b];
  const apply = (p: ProfileTimes): ProfileTimes => {
    const functions = new Map<string, FunctionTimes>();
    for (const [label, f] of p.functions) {
      const to = rename.get(label) ?? label;
      functions.set(to, to === label ? f : { ...f, label: to });
    }
    return { ...p, functions };
  };
  return [apply(a), apply(b)];
}
