import { group, Store, type Item } from './a.js';
const s = new Store<Item>();
for (let i = 0; i < 10; i++) s.add({ id: i, name: `n${i}`, tags: [`t${i % 3}`] });
export const g: Map<string, Item[]> = group(s.all());
export async function later(ms: number): Promise<number> {
  await new Promise((r) => setTimeout(r, ms));
  return ms;
}
