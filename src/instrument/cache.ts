/**
 * On-disk cache of instrumented modules, so big dependencies are transformed once. The key is a
 * hash of everything the output depends on: source, file name, format, input map, composeMaps and
 * the stackscope version (a new version may emit different code). Entries are written to a
 * temporary name and renamed, so concurrent processes never read half a file.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export class TransformCache {
  constructor(private readonly dir: string) {}

  key(parts: (string | undefined)[]): string {
    const h = createHash('sha256');
    for (const p of parts) h.update(p ?? '\u0000').update('\u0001');
    return h.digest('hex');
  }

  get(key: string): string | undefined {
    try { return fs.readFileSync(this.file(key), 'utf8'); } catch { return undefined; }
  }

  set(key: string, code: string): void {
    try {
      const target = this.file(key);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      const tmp = `${target}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
      fs.writeFileSync(tmp, code);
      fs.renameSync(tmp, target);
    } catch {
      // a read-only or full disk only costs speed
    }
  }

  private file(key: string): string {
    return path.join(this.dir, key.slice(0, 2), key.slice(2) + '.js');
  }
}
