/**
 * The user span API. Spans are published on the `stackscope:span` tracing channel, so they cost
 * one `hasSubscribers` check when nothing listens (untraced runs) and other tools can see them too;
 * the recorder subscribes (channels.ts) and turns them into RecordKind.Span records.
 */
import diagnostics_channel from 'node:diagnostics_channel';

export const SPAN_CHANNEL = 'stackscope:span';

/** Context object carried through the tracing channel's events for one span. */
export interface SpanContext {
  name: string;
  result?: unknown;
  error?: unknown;
  /** set by the recorder on `start` */
  [key: symbol]: unknown;
}

const spanChannel = diagnostics_channel.tracingChannel<unknown, SpanContext>(SPAN_CHANNEL);

/**
 * Runs `fn` as a named span on the timeline. Works for sync and async functions: when `fn`
 * returns a promise, the span lasts until it settles. Returns what `fn` returns (for a promise,
 * a promise settling the same way).
 */
export function span<T>(name: string, fn: () => T): T {
  if (!spanChannel.hasSubscribers) return fn();
  const ctx: SpanContext = { name: String(name) };
  const result = spanChannel.traceSync(fn, ctx);
  if (!isThenable(result)) return result;
  // Returning the chained promise (not `result`) keeps an unhandled rejection unhandled.
  return result.then(
    (value) => {
      ctx.result = value;
      spanChannel.asyncStart.publish(ctx);
      spanChannel.asyncEnd.publish(ctx);
      return value;
    },
    (err: unknown) => {
      ctx.error = err;
      spanChannel.error.publish(ctx);
      spanChannel.asyncStart.publish(ctx);
      spanChannel.asyncEnd.publish(ctx);
      throw err;
    },
  ) as T;
}

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}
