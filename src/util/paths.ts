import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The file a module URL or path names: a file: URL's path or an absolute path as is; undefined for
 * everything that is no file (`node:` internals, `data:`, eval, http, relative names).
 */
export function filePathOf(urlOrPath: string): string | undefined {
  if (urlOrPath.startsWith('file:')) {
    try {
      return fileURLToPath(urlOrPath);
    } catch {
      return undefined;
    }
  }
  return path.isAbsolute(urlOrPath) ? urlOrPath : undefined;
}
