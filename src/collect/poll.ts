/** One `GET /stacks?since=CURSOR` of one agent, with a timeout, classified into data or a problem. */
import { parseStacksResponse, ProtocolError, type StacksResponse } from '../agent/protocol.js';

/** What went wrong with a target: each is reported once when it starts, not per poll. */
export type ProblemKind = 'down' | 'slow' | 'garbage' | 'refused';

export type PollResult = { ok: true; response: StacksResponse; ms: number } | { ok: false; kind: ProblemKind; message: string };

export interface PollOptions {
  timeoutMs: number;
  token?: string;
}

function reason(err: unknown): string {
  const e = err as { cause?: { code?: string; message?: string }; message?: string };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}

export async function pollStacks(address: string, cursor: string | undefined, opts: PollOptions): Promise<PollResult> {
  const url = `http://${address}/stacks${cursor !== undefined ? `?since=${encodeURIComponent(cursor)}` : ''}`;
  const started = performance.now();
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let text: string;
  let status: number;
  try {
    const res = await fetch(url, { signal, headers: opts.token ? { authorization: `Bearer ${opts.token}` } : {} });
    status = res.status;
    text = await res.text();
  } catch (err) {
    if (signal.aborted) return { ok: false, kind: 'slow', message: `no answer within ${opts.timeoutMs / 1000} s` };
    return { ok: false, kind: 'down', message: reason(err) };
  }
  if (status !== 200) {
    const line = text.split('\n')[0]!.slice(0, 200);
    return { ok: false, kind: 'refused', message: `HTTP ${status}${line ? `: ${line}` : ''}` };
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, kind: 'garbage', message: `not JSON (${text.length} bytes starting ${JSON.stringify(text.slice(0, 40))})` };
  }
  try {
    return { ok: true, response: parseStacksResponse(body), ms: performance.now() - started };
  } catch (err) {
    if (err instanceof ProtocolError) return { ok: false, kind: 'garbage', message: err.message };
    throw err;
  }
}
