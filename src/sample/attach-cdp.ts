/** A minimal DevTools-protocol client over one WebSocket, for attach. */
import WebSocket from 'ws';

type Message = { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: Record<string, unknown> };

export class Cdp {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private listeners = new Map<string, (params: Record<string, unknown>) => void>();
  readonly events: Array<{ method: string; params: Record<string, unknown> }> = [];
  collect = false;
  /** Resolves once the connection is gone, whoever closed it. */
  readonly closed: Promise<void>;
  private gone = false;
  /**
   * The connection is closing or closed. Closing counts: a send then fails ("inspector connection
   * closed") before the close event has arrived, and callers tell a lost target by this.
   */
  get isClosed(): boolean {
    return this.gone || this.ws.readyState !== WebSocket.OPEN;
  }

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      let msg: Message;
      // A malformed message from the target must not crash the CLI with a stack dump: skip it.
      try {
        msg = JSON.parse(String(data)) as Message;
      } catch {
        return;
      }
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(msg.error.message));
        else p?.resolve(msg.result);
      } else if (msg.method) {
        if (this.collect) this.events.push({ method: msg.method, params: msg.params ?? {} });
        this.listeners.get(msg.method)?.(msg.params ?? {});
      }
    });
    ws.on('error', () => undefined); // a reset connection ends in 'close' too
    this.closed = new Promise((resolve) =>
      ws.once('close', () => {
        this.gone = true;
        for (const p of this.pending.values()) p.reject(new Error('inspector connection closed'));
        this.pending.clear();
        resolve();
      }),
    );
  }

  static open(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
      ws.once('open', () => resolve(new Cdp(ws)));
      ws.once('error', reject);
    });
  }

  /** Calls `fn` for every event `method` (one listener per method). */
  on(method: string, fn: (params: Record<string, unknown>) => void): void {
    this.listeners.set(method, fn);
  }

  send<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    if (this.isClosed) return Promise.reject(new Error('inspector connection closed'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params }), (err) => {
        if (!err) return;
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  close(): void {
    this.ws.close();
  }
}
