/**
 * Where the page's profiles come from: the collector's store (a time range of the fleet, filtered by
 * service, host, pid and labels) or local profile files (given on the command line or dropped on the
 * page). The server only talks to a ProfileSource.
 */
import { filterTime, type Profile } from '../model/index.js';
import { readProfileBytes, type ReadProfile } from '../formats/read.js';
import { listTargets, openStore, queryProfile, queryTimeline, timelineStep, type Store, type TargetFilter } from '../store/index.js';

/** A time range, [fromMs, untilMs): epoch ms for the store, the file's own clock for files. */
export interface Range {
  fromMs: number;
  untilMs: number;
}

/** What to show: which targets (store) or which file (files). */
export interface Filters {
  service?: string;
  host?: string;
  /** the process id an agent reported (every run with that pid) */
  pid?: number;
  labels: Record<string, string>;
  /** files: the id of the file shown */
  file?: string;
}

export interface TimelineData {
  stepMs: number;
  /** [step start ms, weight in the step] */
  points: Array<[number, number]>;
  /** what a point counts */
  unit: string;
  clock: 'epoch' | 'relative';
  /** the whole span the source holds for these filters (files), or the range asked (store) */
  fromMs: number;
  untilMs: number;
  notes: string[];
  /** split by service: one series per service (same steps as `points`, which holds the total) */
  series?: Array<{ name: string; values: number[] }>;
}

export interface SourceProfile {
  profile: Profile;
  /** what the figures are missing or only estimate, one sentence each */
  notes: string[];
}

/** Choices for the page's pickers. */
export interface SourceInfo {
  kind: 'store' | 'files';
  /** store: where it is (without a password) */
  where?: string;
  services: string[];
  hosts: string[];
  /** every pid of a stored run, with the services and hosts of the runs that had it */
  pids: Array<{ pid: number; services: string[]; hosts: string[] }>;
  labels: Record<string, string[]>;
  targets: number;
  files: Array<{ id: string; name: string; format: string; timed: boolean }>;
}

export interface ProfileSource {
  readonly kind: 'store' | 'files';
  /** the range shown when the page gives none; null: the whole profile */
  defaultRange(): Range | null;
  info(): Promise<SourceInfo>;
  timeline(range: Range | null, f: Filters): Promise<TimelineData>;
  profile(range: Range | null, f: Filters): Promise<SourceProfile>;
  /** files: adds a profile read from uploaded bytes and returns its id */
  add?(bytes: Buffer, name: string): Promise<string>;
  close(): Promise<void>;
}

/** A filter's choice that the source cannot honour: one line for a 400. */
export class BadFilterError extends Error {}

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

/** The collector's store (SQLite file or PostgreSQL URL). */
export class StoreSource implements ProfileSource {
  readonly kind = 'store';
  private constructor(private readonly store: Store) {}

  static async open(db: string): Promise<StoreSource> {
    return new StoreSource(await openStore(db));
  }

  /** the last 15 minutes, "now" to the second (views asked for at once share one profile) */
  defaultRange(): Range {
    const now = Math.floor(Date.now() / 1000) * 1000;
    return { fromMs: now - 15 * 60_000, untilMs: now };
  }

  async info(): Promise<SourceInfo> {
    const targets = await listTargets(this.store);
    const labels: Record<string, string[]> = {};
    for (const t of targets) for (const [k, v] of Object.entries(t.labels)) (labels[k] ??= []).push(v);
    for (const k of Object.keys(labels)) labels[k] = sorted(labels[k]!);
    const byPid = new Map<number, { services: string[]; hosts: string[] }>();
    for (const t of targets) {
      const p = byPid.get(t.pid) ?? { services: [], hosts: [] };
      p.services.push(t.service);
      p.hosts.push(t.host);
      byPid.set(t.pid, p);
    }
    return {
      kind: 'store',
      where: this.store.where,
      targets: targets.length,
      files: [],
      labels,
      services: sorted(targets.map((t) => t.service)),
      hosts: sorted(targets.map((t) => t.host)),
      pids: [...byPid].sort(([a], [b]) => a - b).map(([pid, p]) => ({ pid, services: sorted(p.services), hosts: sorted(p.hosts) })),
    };
  }

  private filter(f: Filters): TargetFilter {
    if (f.file !== undefined) throw new BadFilterError("file= is for local files; this page shows a collector's store");
    return {
      ...(f.service !== undefined ? { service: f.service } : {}),
      ...(f.host !== undefined ? { host: f.host } : {}),
      ...(f.pid !== undefined ? { pid: f.pid } : {}),
      labels: f.labels,
    };
  }

  async timeline(range: Range | null, f: Filters): Promise<TimelineData> {
    const r = range ?? this.defaultRange();
    const t = await queryTimeline(this.store, { ...r, ...this.filter(f) });
    return {
      stepMs: t.stepMs,
      points: t.points.map((p) => [p.ms, p.samples]),
      unit: 'samples',
      clock: 'epoch',
      fromMs: t.fromMs,
      untilMs: t.untilMs,
      notes: t.notes,
    };
  }

  /** The timeline with one series per service of the matching targets (the total in `points`). */
  async timelineByService(range: Range | null, f: Filters): Promise<TimelineData> {
    const total = await this.timeline(range, f);
    const services = sorted((await listTargets(this.store, this.filter(f))).map((t) => t.service));
    const r = range ?? this.defaultRange();
    const series: NonNullable<TimelineData['series']> = [];
    for (const service of services) {
      const t = await queryTimeline(this.store, { ...r, ...this.filter(f), service, stepMs: total.stepMs });
      const byMs = new Map(t.points.map((p) => [p.ms, p.samples]));
      series.push({ name: service, values: total.points.map(([ms]) => byMs.get(ms) ?? 0) });
    }
    return { ...total, series };
  }

  async profile(range: Range | null, f: Filters): Promise<SourceProfile> {
    const r = range ?? this.defaultRange();
    const q = await queryProfile(this.store, { ...r, ...this.filter(f) });
    return { profile: q.profile, notes: q.notes };
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

interface LoadedFile {
  id: string;
  name: string;
  read: ReadProfile;
  timed: boolean;
  spanMs: Range | null;
}

/** Local profile files: each shown on its own, picked with `file=`. */
export class FileSource implements ProfileSource {
  readonly kind = 'files';
  private readonly files = new Map<string, LoadedFile>();
  private uploads = 0;

  /** @param maxUploads dropped files kept in memory; the oldest is forgotten past it */
  constructor(private readonly maxUploads = 20) {}

  /** Adds a profile read from `bytes` (UserError with one line when it is not a profile). */
  addRead(id: string, name: string, read: ReadProfile): string {
    const times = read.profile.sampleTime.filter((t) => Number.isFinite(t));
    let spanMs: Range | null = null;
    if (times.length) {
      let lo = Infinity;
      let hi = -Infinity;
      for (const t of times) {
        if (t < lo) lo = t;
        if (t > hi) hi = t;
      }
      spanMs = { fromMs: Math.floor(lo / 1000), untilMs: Math.floor(hi / 1000) + 1 };
    }
    this.files.set(id, { id, name, read, timed: spanMs !== null, spanMs });
    return id;
  }

  async add(bytes: Buffer, name: string): Promise<string> {
    const read = readProfileBytes(bytes, name);
    const id = `u${++this.uploads}`;
    this.addRead(id, name, read);
    const dropped = [...this.files.keys()].filter((k) => k.startsWith('u'));
    if (dropped.length > this.maxUploads) this.files.delete(dropped[0]!);
    return id;
  }

  defaultRange(): null {
    return null;
  }

  async info(): Promise<SourceInfo> {
    return {
      kind: 'files',
      services: [],
      hosts: [],
      pids: [],
      labels: {},
      targets: 0,
      files: [...this.files.values()].map((f) => ({ id: f.id, name: f.name, format: f.read.format, timed: f.timed })),
    };
  }

  private pick(f: Filters): LoadedFile {
    if (f.service !== undefined || f.host !== undefined || f.pid !== undefined || Object.keys(f.labels).length) {
      throw new BadFilterError("service, host, pid and label filters are for a collector's store; this page shows local files");
    }
    const id = f.file ?? [...this.files.keys()][0];
    const file = id === undefined ? undefined : this.files.get(id);
    if (!file)
      throw new BadFilterError(
        id === undefined ? 'no file loaded: drop one on the page' : `no file ${id} (dropped files are kept while the server runs)`,
      );
    return file;
  }

  /** A file's timeline always spans the whole file (the range chosen is shaded on it). */
  async timeline(_range: Range | null, f: Filters): Promise<TimelineData> {
    const file = this.pick(f);
    const p = file.read.profile;
    const clock = p.meta.clock ?? 'relative';
    if (!file.spanMs) {
      return {
        stepMs: 0,
        points: [],
        unit: p.unit,
        clock,
        fromMs: 0,
        untilMs: 0,
        notes: [`${file.name} has no sample times: the whole profile is shown`],
      };
    }
    const span = file.spanMs;
    const stepMs = fileStep(span.untilMs - span.fromMs);
    const from = Math.floor(span.fromMs / stepMs) * stepMs;
    const bins = new Float64Array(Math.max(1, Math.ceil((span.untilMs - from) / stepMs)));
    for (let i = 0; i < p.sampleTime.length; i++) {
      const t = p.sampleTime[i]!;
      if (!Number.isFinite(t)) continue;
      const k = Math.min(bins.length - 1, Math.floor((t / 1000 - from) / stepMs));
      bins[k]! += p.sampleWeight[i]!;
    }
    return {
      stepMs,
      points: Array.from(bins, (w, i) => [from + i * stepMs, w] as [number, number]),
      unit: p.unit,
      clock,
      fromMs: from,
      untilMs: from + bins.length * stepMs,
      notes: [],
    };
  }

  async profile(range: Range | null, f: Filters): Promise<SourceProfile> {
    const file = this.pick(f);
    const p = file.read.profile;
    const notes = [...(p.meta.notes ?? [])];
    if (!range) return { profile: p, notes };
    if (!file.timed) throw new BadFilterError(`${file.name} has no sample times, so no time range can be chosen`);
    return { profile: filterTime(p, range.fromMs * 1000, range.untilMs * 1000), notes };
  }

  async close(): Promise<void> {}
}

/** A file's timeline step: about 300 steps over its span, a round number of ms. */
function fileStep(spanMs: number): number {
  const want = Math.max(1, spanMs / 300);
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 300_000, 600_000, 3_600_000];
  return steps.find((s) => s >= want) ?? timelineStep(spanMs);
}
