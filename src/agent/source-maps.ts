/**
 * Source maps for the agent's worker thread. The worker sees the main thread's scripts only by URL:
 * maps on disk (a `sourceMappingURL` next to a built file) it reads itself, but a program run through
 * tsx (or any loader that compiles in memory) has its maps only in the main thread's own source map
 * cache. So the worker asks the main thread, once per script, for the maps it could not find on disk
 * (`module.findSourceMap` there), and keeps the answers.
 *
 * Cost: one message per window that meets a script never seen before, answered by the main thread
 * in its event loop (tens of µs per script, once in the life of the process); windows that meet
 * only known scripts send nothing. The sampling itself (V8's profiler thread) is not involved.
 */
import type { TraceMap, SourceMapInput } from '@jridgewell/trace-mapping';
import { MAX_CACHED_SCRIPTS, findSourceMapPayload, traceMapOf, type SourceMapLookup } from '../sample/index.js';
import { filePathOf } from '../util/paths.js';

export interface SourceMapRequest {
  type: 'sourceMaps';
  id: number;
  urls: string[];
}
export interface SourceMapAnswer {
  type: 'sourceMaps';
  id: number;
  maps: Array<[string, SourceMapInput | null]>;
}

/** Main thread: the answer to a worker's request (synchronous, never throws). */
export function answerSourceMapRequest(req: SourceMapRequest): SourceMapAnswer {
  return { type: 'sourceMaps', id: req.id, maps: req.urls.map((url) => [url, findSourceMapPayload(url)]) };
}

/** Worker side: maps the main thread knows, fetched once per script. */
export class MainThreadSourceMaps {
  private readonly maps = new Map<string, TraceMap | null>();
  private readonly waiting = new Map<number, () => void>();
  private nextId = 1;

  /** `ask` posts a request to the main thread; the answer must come back through `answer`. */
  constructor(
    private readonly ask: (req: SourceMapRequest) => void,
    private readonly timeoutMs = 2000,
  ) {}

  readonly lookup: SourceMapLookup = (url) => this.maps.get(url) ?? null;

  /**
   * Asks for the maps of the scripts among `urls` never asked about, and resolves when they are in
   * (or after the timeout: a main thread stuck in a loop answers later, and later windows use it).
   */
  fetch(urls: Iterable<string>): Promise<void> {
    const fresh: string[] = [];
    for (const url of urls) {
      if (this.maps.has(url) || !filePathOf(url)) continue;
      // Same bound as the other per-URL caches: vm scripts with fresh names must not grow memory for days.
      if (this.maps.size + fresh.length >= MAX_CACHED_SCRIPTS) break;
      fresh.push(url);
    }
    if (fresh.length === 0) return Promise.resolve();
    // Placeholder first: a second window meeting the same script while this request is out does not ask again.
    for (const url of fresh) this.maps.set(url, null);
    const id = this.nextId++;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve();
      }, this.timeoutMs);
      this.waiting.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        this.ask({ type: 'sourceMaps', id, urls: fresh });
      } catch {
        this.waiting.delete(id);
        clearTimeout(timer);
        resolve();
      }
    });
  }

  answer(a: SourceMapAnswer): void {
    for (const [url, payload] of a.maps) this.maps.set(url, traceMapOf(url, payload));
    const done = this.waiting.get(a.id);
    this.waiting.delete(a.id);
    done?.();
  }
}
