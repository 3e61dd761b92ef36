export interface Item {
  id: number;
  name: string;
  tags: string[];
}
export function group(items: Item[]): Map<string, Item[]> {
  const m = new Map<string, Item[]>();
  for (const it of items)
    for (const t of it.tags) {
      const l = m.get(t) ?? [];
      l.push(it);
      m.set(t, l);
    }
  return m;
}
export class Store<T extends { id: number }> {
  private byId = new Map<number, T>();
  add(x: T): this {
    this.byId.set(x.id, x);
    return this;
  }
  get(id: number): T | undefined {
    return this.byId.get(id);
  }
  all(): T[] {
    return [...this.byId.values()];
  }
}
