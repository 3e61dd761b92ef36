/**
 * Wrapping a function body in `try { BODY }` turns BODY's top-level function declarations into
 * block-level ones. That is invisible except when a name is declared twice in a way only a
 * function body allows:
 *
 *   function f() { var g; function g() {} }          // fine in a body, SyntaxError in a block
 *   function f() { function g() {} function g() {} } // fine in a body, SyntaxError in a strict block
 *
 * (old and minified code does this). Such functions are left uninstrumented.
 */
import { forEachChild, isFunctionNode, type AnyNode } from './ast.js';

export function wrapChangesMeaning(fn: AnyNode): boolean {
  const declared = new Set<string>();
  for (const stmt of fn.body.body as AnyNode[]) {
    if (stmt.type !== 'FunctionDeclaration') continue;
    if (declared.has(stmt.id.name)) return true;
    declared.add(stmt.id.name);
  }
  if (declared.size === 0) return false;
  for (const name of varNames(fn.body)) if (declared.has(name)) return true;
  return false;
}

/** Names declared with `var` in this function's own scope (not in nested functions). */
function varNames(node: AnyNode, out: string[] = []): string[] {
  if (node.type === 'VariableDeclaration' && node.kind === 'var') {
    for (const d of node.declarations) patternNames(d.id, out);
  }
  forEachChild(node, varNamesOutsideFunctions, out);
  return out;
}

function varNamesOutsideFunctions(child: AnyNode, out: string[]): void {
  if (!isFunctionNode(child)) varNames(child, out);
}

function patternNames(p: AnyNode | null, out: string[]): void {
  if (!p) return;
  switch (p.type) {
    case 'Identifier':
      out.push(p.name);
      break;
    case 'ObjectPattern':
      for (const prop of p.properties) patternNames(prop.type === 'RestElement' ? prop.argument : prop.value, out);
      break;
    case 'ArrayPattern':
      for (const el of p.elements) patternNames(el, out);
      break;
    case 'RestElement':
      patternNames(p.argument, out);
      break;
    case 'AssignmentPattern':
      patternNames(p.left, out);
      break;
  }
}
