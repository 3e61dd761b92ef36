import type { Session } from 'node:inspector';

/** A DevTools-protocol call as a promise: the one shape every inspector client here speaks. */
export type Post = <T = unknown>(method: string, params?: object) => Promise<T>;

/** `post` over an in-process inspector session (main thread or, from a worker, connectToMainThread). */
export function poster(session: Session): Post {
  return <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) => {
      session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res as T)));
    });
}
