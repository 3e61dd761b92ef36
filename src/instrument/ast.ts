/**
 * Reading acorn's AST structurally, as the instrumenter's passes all do: acorn's node types are a
 * closed union, so we treat nodes as plain records and walk whatever child nodes they hold.
 */
import type { Node } from 'acorn';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- acorn's nodes carry per-type fields its types do not list
export type AnyNode = Node & Record<string, any>;

const FUNCTION_TYPES = new Set(['FunctionDeclaration', 'FunctionExpression', 'ArrowFunctionExpression']);

export function isFunctionNode(node: AnyNode): boolean {
  return FUNCTION_TYPES.has(node.type);
}

/** Calls `fn(child, arg)` on each child node of `node`, in key order (`arg` spares a closure per node). */
export function forEachChild<A>(node: AnyNode, fn: (child: AnyNode, arg: A) => void, arg: A): void {
  for (const key in node) {
    const value = node[key];
    if (Array.isArray(value)) {
      for (const child of value) if (child && typeof child.type === 'string') fn(child, arg);
    } else if (value && typeof value === 'object' && typeof value.type === 'string') {
      fn(value, arg);
    }
  }
}
