/**
 * What the trace preload reads from the environment besides its PreloadConfig.
 */
import { TRACE_ENV } from '../recorder/protocol.js';

/**
 * `--require` preloads also run in the loader-hooks thread that module.register() starts (Node
 * strips only --import/--loader from its execArgv). That thread is Node's, not the program's: the
 * main thread marks it through the environment, which a new thread copies when it is created.
 */
export const HOOKS_THREAD_ENV = 'STACKSCOPE_HOOKS_THREAD';

/**
 * The packages to trace (`--include-package`) travel to the preload in the same JSON as the rest
 * of its configuration; older configurations without them read as none.
 */
export interface PreloadScope {
  includePackages: string[];
}

export function readPreloadScope(env: NodeJS.ProcessEnv = process.env): PreloadScope {
  try {
    const c = JSON.parse(env[TRACE_ENV] ?? '{}') as { includePackages?: unknown };
    return { includePackages: Array.isArray(c.includePackages) ? c.includePackages.map(String) : [] };
  } catch {
    return { includePackages: [] }; // the preload reports a bad configuration once, when it reads the rest
  }
}
