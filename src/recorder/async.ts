/**
 * Async causality from async_hooks: which traced call scheduled each callback, and which HTTP
 * request each callback runs for.
 *
 * Every async resource (timer, immediate, nextTick, promise reaction, fs/net/http callback...)
 * created while a traced call runs gets a context naming that call (its slice's start and depth)
 * and the request being served. A resource created outside traced code takes the context of the
 * callback that created it, by reference (no allocation), so a chain of untraced callbacks keeps
 * pointing at the traced call that began it; with no context running it costs two checks.
 *
 * When a callback with a context runs traced code, one record goes into the ring at its end
 * (RecordKind.Callback: its window and request), preceded by a RecordKind.Cause record when a
 * traced call scheduled it. The trace builder turns them into flow arrows and `args.request`. So
 * the bookkeeping lives in the ring's bounded memory and overflows with it (counted); contexts
 * live on their resources and die with them.
 *
 * Callback windows never overlap: a callback entered from inside another (nested before/after)
 * closes the outer window, which reopens when the inner one ends. A request begins inside the
 * HTTP parser's callback: from that point the callback belongs to the request.
 *
 * Every hook is guarded: a failure here is reported once and tracing of async causality stops;
 * the program never sees it.
 */
import { createHook, executionAsyncResource, type AsyncHook } from 'node:async_hooks';
import type { Recorder } from './runtime.js';
import { RecordKind, recordCode } from './recording.js';
import { inOwnWork } from '../util/own-work.js';

const CTX = Symbol('stackscope.async');

/** What a callback runs on behalf of, shared by every resource created in the same place. */
interface AsyncContext {
  /** start (ring clock, ms) of the traced call that created the resource, NaN when none did */
  causeStart: number;
  causeDepth: number;
  /** resource type, as an index in the recorder's name table */
  type: number;
  /** request id, 0 when none */
  request: number;
  /** instance of the innermost user span open where the resource was created, 0 when none */
  span: number;
}

/** `prev` (the running context, if any) with a new request or span. */
function derived(prev: AsyncContext | undefined, request: number, span: number): AsyncContext {
  return { causeStart: prev?.causeStart ?? NaN, causeDepth: prev?.causeDepth ?? 0, type: prev?.type ?? 0, request, span };
}

type WithContext = { [CTX]?: AsyncContext };

/** Nesting of before/after beyond this is not followed (a runaway recursion of sync emits). */
const MAX_LEVELS = 1024;

export class AsyncTracker {
  private hook: AsyncHook | undefined;
  /** context of the running callback */
  private cur: AsyncContext | undefined;
  /** when the current window began (ring clock, ms), and the ring's count then */
  private winStart = 0;
  private winMark = 0;
  /** contexts of the callbacks the current one interrupted */
  private readonly saved: (AsyncContext | undefined)[] = [];
  private level = 0;
  private nextRequest = 0;
  private failed = false;

  constructor(private readonly rec: Recorder) {}

  enable(): void {
    // try/catch in each hook, not a wrapper: init runs for every promise the program creates.
    const hook = createHook({
      init: (_id, type, _trigger, resource) => {
        try {
          this.init(type, resource as WithContext);
        } catch (err) {
          this.fail(err);
        }
      },
      before: () => {
        try {
          this.before();
        } catch (err) {
          this.fail(err);
        }
      },
      after: () => {
        try {
          this.after();
        } catch (err) {
          this.fail(err);
        }
      },
    });
    this.hook = hook;
    hook.enable();
    this.rec.onSnapshot = () => this.guard(() => this.split());
  }

  disable(): void {
    this.hook?.disable();
    this.hook = undefined;
    if (this.rec.onSnapshot) this.rec.onSnapshot = undefined;
  }

  /**
   * An HTTP server request begins (called from its diagnostics channel, inside the parser's
   * callback): the rest of that callback, and everything scheduled from it, runs for it.
   * Returns the request's id.
   */
  beginRequest(): number {
    const id = ++this.nextRequest;
    if (this.hook && !this.failed && this.level > 0) {
      this.guard(() => {
        const t = this.rec.nowMs();
        if (this.cur) this.close(t);
        this.cur = derived(this.cur, id, this.cur?.span ?? 0);
        this.open(t);
      });
    }
    return id;
  }

  /**
   * A user span starts: what its function schedules runs inside it (not a callback window of its
   * own). Returns the span it began in (0: none) and a token for leaveSpan, called when the
   * function returns.
   */
  enterSpan(inst: number): { parent: number; token: AsyncContext | undefined } {
    const prev = this.cur;
    if (!this.hook || this.failed) return { parent: 0, token: prev };
    this.cur = derived(prev, prev?.request ?? 0, inst);
    return { parent: prev?.span ?? 0, token: prev };
  }

  leaveSpan(token: AsyncContext | undefined): void {
    if (this.hook && !this.failed) this.cur = token;
  }

  private init(type: string, resource: WithContext): void {
    if (inOwnWork()) return;
    const d = this.rec.innermostRecordedDepth();
    let ctx: AsyncContext | undefined;
    if (d >= 0) {
      const c = this.cur;
      ctx = {
        causeStart: this.rec.runningStart(d),
        causeDepth: d,
        type: this.rec.spanId(type),
        request: c?.request ?? 0,
        span: c?.span ?? 0,
      };
    } else {
      ctx = this.cur;
      if (ctx === undefined) return;
    }
    // Not enumerable: the program's util.inspect() and deepStrictEqual() of its promises and
    // timers must not see it.
    Object.defineProperty(resource, CTX, { value: ctx, writable: true, configurable: true });
  }

  private before(): void {
    const ctx = (executionAsyncResource() as WithContext | undefined)?.[CTX];
    if (this.level++ >= MAX_LEVELS) return;
    if (!this.cur && !ctx) {
      this.saved.push(undefined); // the common case: no context before or now, no clock read
      return;
    }
    const t = this.rec.nowMs();
    if (this.cur) this.close(t);
    this.saved.push(this.cur);
    this.cur = ctx;
    if (ctx) this.open(t);
  }

  private after(): void {
    if (this.level === 0) return; // unbalanced (hooks enabled inside a callback)
    if (--this.level >= MAX_LEVELS) return;
    const prev = this.saved.pop();
    if (!this.cur && !prev) return;
    const t = this.rec.nowMs();
    if (this.cur) this.close(t);
    this.cur = prev;
    if (prev) this.open(t);
  }

  /** A snapshot is being taken: what ran so far in the current callback is written now. */
  private split(): void {
    if (!this.cur) return;
    const t = this.rec.nowMs();
    this.close(t);
    this.open(t);
  }

  private open(t: number): void {
    this.winStart = t;
    this.winMark = this.rec.recorded;
  }

  /** Ends the current window at `t`: records it when traced code ran in it. */
  private close(t: number): void {
    const ctx = this.cur!;
    if (this.rec.recorded === this.winMark) return;
    const caused = !Number.isNaN(ctx.causeStart);
    if (caused) this.rec.recordAsync(recordCode(ctx.type, RecordKind.Cause), ctx.causeStart, t, ctx.causeDepth, 0);
    this.rec.recordAsync(recordCode(0, RecordKind.Callback), this.winStart, t, ctx.request, caused ? 1 : 0);
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.fail(err);
    }
  }

  /** Stops async tracing for good and says so once; the program never sees the error. */
  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.cur = undefined;
    try {
      this.disable();
    } catch {
      /* already off */
    }
    process.stderr.write(
      `stackscope: async tracing failed (${err instanceof Error ? err.message : String(err)}); calls are still traced, without async links\n`,
    );
  }
}
