/**
 * Names for instrumented functions, as a person reads them and close to what V8 infers, so a trace
 * and a sampled profile of the same program name the same function the same way:
 *
 *   function foo() {}                 foo
 *   const f = () => {}                f
 *   a.b.c = function () {}            a.b.c
 *   class A { m() {} static s() {} }  A.m, A.s      (constructor: A, getter: A.get x, #p: A.#p)
 *   const obj = { m() {} }            obj.m         (literal not bound to a name: m)
 *   __name(() => {}, "f")             f             (esbuild/tsx keepNames helper)
 *   anything else                     (anonymous)
 *
 * Minified code keeps its original names in its source map: the map's `names` entry at a binding
 * identifier (`function y`, `const y =`, `y = class`) is the name the author gave it, and
 * `idName` returns it in place of `y`.
 */
import type { AnyNode } from './ast.js';

export const ANONYMOUS = '(anonymous)';

/** The name to show for a binding identifier (an Identifier node); by default its own. */
export type IdName = (id: AnyNode) => string;
const ownName: IdName = (id) => id.name;

/** Name of a property key: `x`, `#x`, `"a b"` → `a b`, `[expr]` → `[expr]` (source text). */
export function keyName(key: AnyNode, computed: boolean, source: string): string | undefined {
  if (!key) return undefined;
  if (!computed) {
    if (key.type === 'Identifier') return key.name;
    if (key.type === 'PrivateIdentifier') return '#' + key.name;
    if (key.type === 'Literal') return String(key.value);
  }
  if (key.type === 'Literal' && (typeof key.value === 'string' || typeof key.value === 'number')) {
    return String(key.value);
  }
  const text = source.slice(key.start, key.end);
  return text.length <= 40 && !text.includes('\n') ? `[${text}]` : undefined;
}

/** `a.b.c`, `this.x`, `exports.foo` for assignment targets; undefined for anything fancier. */
export function memberPath(node: AnyNode, source: string, idName: IdName = ownName): string | undefined {
  if (node.type === 'Identifier') return idName(node);
  if (node.type === 'ThisExpression') return 'this';
  if (node.type === 'MemberExpression') {
    const obj = memberPath(node.object, source, idName);
    const prop = keyName(node.property, node.computed, source);
    if (obj === undefined || prop === undefined) return undefined;
    return prop.startsWith('[') ? obj + prop : `${obj}.${prop}`;
  }
  return undefined;
}

/** The name a variable, assignment or `__name()` call gives to the expression `node`. */
function boundName(node: AnyNode, parent: AnyNode | undefined, source: string, idName: IdName): string | undefined {
  if (!parent) return undefined;
  switch (parent.type) {
    case 'VariableDeclarator':
      return parent.init === node && parent.id.type === 'Identifier' ? idName(parent.id) : undefined;
    case 'AssignmentExpression':
      return parent.right === node ? memberPath(parent.left, source, idName) : undefined;
    case 'AssignmentPattern':
      return parent.right === node && parent.left.type === 'Identifier' ? idName(parent.left) : undefined;
    case 'PropertyDefinition':
      return parent.value === node ? keyName(parent.key, parent.computed, source) : undefined;
    case 'ExportDefaultDeclaration':
      return 'default';
    case 'CallExpression': {
      // esbuild's keepNames (used by tsx): `__name(fn, "name")`; esbuild renames the helper
      // `__name2`, `__name3`... when the module already has a `__name` binding.
      const [first, second] = parent.arguments;
      if (
        parent.callee.type === 'Identifier' &&
        /^__name\d*$/.test(parent.callee.name) &&
        first === node &&
        second?.type === 'Literal' &&
        typeof second.value === 'string'
      )
        return second.value;
      return undefined;
    }
  }
  return undefined;
}

/** Skip transparent wrappers (parentheses) between a node and the node that names it. */
function namingParent(ancestors: AnyNode[], index: number): { node: AnyNode; parent?: AnyNode; at: number } {
  let node = ancestors[index]!;
  let at = index - 1;
  while (at >= 0 && ancestors[at]!.type === 'ParenthesizedExpression') node = ancestors[at--]!;
  return { node, parent: at >= 0 ? ancestors[at] : undefined, at };
}

/** Name of a class (declaration, named expression, or `const A = class {}`); undefined if anonymous. */
function className(ancestors: AnyNode[], classIndex: number, source: string, idName: IdName): string | undefined {
  const cls = ancestors[classIndex]!;
  if (cls.id) return idName(cls.id);
  const { node, parent } = namingParent(ancestors, classIndex);
  return boundName(node, parent, source, idName);
}

function qualify(owner: string | undefined, name: string): string {
  return owner ? `${owner}.${name}` : name;
}

/**
 * Name of the function `ancestors[ancestors.length - 1]`; `ancestors` runs from the Program down
 * to the function itself.
 */
export function functionName(ancestors: AnyNode[], source: string, idName: IdName = ownName): string {
  const index = ancestors.length - 1;
  const fn = ancestors[index]!;
  if (fn.type === 'FunctionDeclaration') return fn.id ? idName(fn.id) : 'default';
  const { node, parent, at } = namingParent(ancestors, index);
  if (!parent) return ANONYMOUS;

  // class members: methods, accessors, constructors, field initialisers
  if (parent.type === 'MethodDefinition' || parent.type === 'PropertyDefinition') {
    const owner = className(ancestors, at - 2, source, idName); // parent → ClassBody → Class
    if (parent.kind === 'constructor') return owner ?? 'constructor';
    const key = keyName(parent.key, parent.computed, source) ?? ANONYMOUS;
    const prefix = parent.kind === 'get' || parent.kind === 'set' ? parent.kind + ' ' : '';
    return qualify(owner, prefix + key);
  }

  // object literal members: `{ m() {}, p: () => {}, get x() {} }`
  if (parent.type === 'Property' && parent.value === node) {
    const key = keyName(parent.key, parent.computed, source) ?? ANONYMOUS;
    const prefix = parent.kind === 'get' || parent.kind === 'set' ? parent.kind + ' ' : '';
    const obj = namingParent(ancestors, at - 1); // Property → ObjectExpression
    return qualify(boundName(obj.node, obj.parent, source, idName), prefix + key);
  }

  // a named function expression keeps its own name, as in V8
  if (fn.id) return idName(fn.id);
  return boundName(node, parent, source, idName) ?? ANONYMOUS;
}
