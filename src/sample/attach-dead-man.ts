/**
 * The dead-man switch attach installs in a target whose inspector it opened: an unref'd timer in
 * the target that closes the inspector unless the attacher renews it, so the port never outlives
 * the attacher, however the attacher ends (SIGKILL included). It also closes the inspector when the
 * target exits, so that Node neither prints "Waiting for the debugger to disconnect..." nor waits
 * for us. Nothing of it runs in the target's own code paths: no output, no exception escapes, and
 * the timer keeps no process alive.
 *
 * It is evaluated with the console's command-line API, whose `require` exists in CommonJS and ESM
 * targets alike; `process._debugEnd` (what inspector.close is) covers a target that shadows it.
 * One switch per target, kept under a registered symbol on globalThis, counted by its users: an
 * attach that finds the inspector open and a switch installed adopts it (the inspector was opened by
 * an attach that died), and the last user to release it closes the inspector.
 */
import { Cdp } from './attach-cdp.js';

/** How long the target waits for a renewal before it closes its inspector, ms. */
export const DEAD_MAN_GRACE_MS = 3000;
/** How often the attacher renews, ms. */
export const DEAD_MAN_RENEW_MS = 1000;

// Runs in the target, as plain JavaScript (a string, so no build tool can rewrite it).
const DEAD_MAN_IN_TARGET = `(function (graceMs, create) {
  const g = globalThis;
  const key = Symbol.for('stackscope.attach.deadMan');
  let d = g[key];
  if (d === undefined) {
    if (!create) return undefined;
    let close, later, cancel;
    try { close = require('node:inspector').close; } catch {}
    try { const t = require('node:timers'); later = t.setTimeout; cancel = t.clearTimeout; } catch {}
    if (typeof close !== 'function') close = process._debugEnd;
    if (typeof later !== 'function' || typeof cancel !== 'function') { later = setTimeout; cancel = clearTimeout; }
    const end = () => {
      try {
        process.removeListener('exit', end);
        cancel(d.timer);
        delete g[key];
        close();
      } catch {}
    };
    d = {
      users: 0,
      timer: later(end, graceMs),
      renew() { this.timer.refresh(); },
      release() { if (--this.users <= 0) end(); },
    };
    d.timer.unref();
    const max = process.getMaxListeners();
    if (max === 0 || process.listenerCount('exit') < max) process.on('exit', end);
    Object.defineProperty(g, key, { value: d, configurable: true, enumerable: false, writable: false });
  }
  d.users++;
  return d;
})`;

/**
 * Installs (create) or adopts the switch; its remote object id, or null when there is none and
 * `create` is false.
 */
export async function armDeadMan(cdp: Cdp, create: boolean): Promise<string | null> {
  const r = await cdp.send<{ result: { objectId?: string; type: string }; exceptionDetails?: { text: string } }>('Runtime.evaluate', {
    expression: `${DEAD_MAN_IN_TARGET}(${DEAD_MAN_GRACE_MS}, ${create})`,
    includeCommandLineAPI: true,
    silent: true,
  });
  if (r.exceptionDetails) throw new Error(`the inspector's safety timer could not be set: ${r.exceptionDetails.text}`);
  return r.result.objectId ?? null;
}

export function renewDeadMan(cdp: Cdp, objectId: string): Promise<unknown> {
  return cdp.send('Runtime.callFunctionOn', { objectId, functionDeclaration: 'function () { this.renew(); }', silent: true });
}

/** Our use ends: the last user closes the inspector (no reply comes: our session ends with it). */
export function releaseDeadMan(cdp: Cdp, objectId: string): void {
  cdp
    .send('Runtime.callFunctionOn', { objectId, functionDeclaration: 'function () { this.release(); }', silent: true })
    .catch(() => undefined);
}
