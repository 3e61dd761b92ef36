/**
 * The packages to trace (`--include-package`) travel to the preload in the same JSON as the rest
 * of its configuration; older configurations without them read as none.
 */
import { TRACE_ENV } from '../recorder/config.js';

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
