/**
 * stackscope's own version, from its package.json (src/util and dist/util are both two levels
 * below it): what `--version` prints, trace metadata and the agent's identity carry. Never the
 * package.json of the folder it runs in.
 */
import fs from 'node:fs';

let cached: string | undefined;

export function ownVersion(): string {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      cached = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
