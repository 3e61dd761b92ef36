/**
 * Functions whose source text is shipped somewhere else and run there: Playwright's and
 * Puppeteer's `page.evaluate(() => document.title)` send `fn.toString()` to the browser, and code
 * like `` `(${inject})()` `` or `inject.toString()` builds scripts from a function's text. An
 * instrumented function's text refers to `__ss$`, which does not exist over there, so it would
 * throw a ReferenceError in the browser (or worker, or vm context). Such functions, and everything
 * inside them, are left as they are:
 *
 *   - a function literal passed directly to a call named like a serializing API (`evaluate`,
 *     `evaluateHandle`, `evaluateInUtility`, `$eval`, `$$eval`, `waitForFunction`,
 *     `addInitScript`, `evaluateOnNewDocument`, ...);
 *   - a function declared (or bound with const/let/var) under a name the module turns into text:
 *     `name.toString()`, `String(name)`, `${name}` or `'...' + name`.
 *
 * A heuristic: a function handed to such an API through another variable or module is still
 * instrumented.
 */
import { forEachChild, isFunctionNode, type AnyNode } from './ast.js';

const SERIALIZING_CALL =
  /^(evaluate\w*|\$\$?eval|evalOnSelector(All)?|waitForFunction|addInitScript|evaluateOnNewDocument|addScriptToEvaluateOnNewDocument)$/;

export function findSerializedFunctions(ast: AnyNode): Set<AnyNode> {
  const stringified = new Set<string>();
  const out = new Set<AnyNode>();
  const named: { name: string; fn: AnyNode }[] = [];

  const asText = (n: AnyNode | undefined) => {
    if (n?.type === 'Identifier') stringified.add(n.name);
  };
  const unparen = (n: AnyNode | undefined): AnyNode | undefined => (n?.type === 'ParenthesizedExpression' ? unparen(n.expression) : n);

  (function walk(node: AnyNode): void {
    switch (node.type) {
      case 'CallExpression': {
        const callee = unparen(node.callee);
        const name =
          callee?.type === 'MemberExpression' && !callee.computed
            ? callee.property.name
            : callee?.type === 'Identifier'
              ? callee.name
              : undefined;
        if (name && SERIALIZING_CALL.test(name)) {
          for (const arg of node.arguments) {
            const a = unparen(arg);
            if (a && isFunctionNode(a)) out.add(a);
          }
        }
        if (name === 'toString' && callee!.type === 'MemberExpression' && node.arguments.length === 0) asText(unparen(callee!.object));
        if (name === 'String' && callee!.type === 'Identifier') asText(unparen(node.arguments[0]));
        break;
      }
      case 'TemplateLiteral':
        for (const e of node.expressions) asText(unparen(e));
        break;
      case 'BinaryExpression':
        if (node.operator === '+') {
          const l = unparen(node.left);
          const r = unparen(node.right);
          if (r?.type === 'Identifier' && isStringy(l)) asText(r);
          if (l?.type === 'Identifier' && isStringy(r)) asText(l);
        }
        break;
      case 'FunctionDeclaration':
        if (node.id) named.push({ name: node.id.name, fn: node });
        break;
      case 'VariableDeclarator': {
        const init = unparen(node.init);
        if (node.id.type === 'Identifier' && init && isFunctionNode(init)) named.push({ name: node.id.name, fn: init });
        break;
      }
    }
    forEachChild(node, walk, undefined);
  })(ast);

  for (const { name, fn } of named) if (stringified.has(name)) out.add(fn);
  return out;
}

function isStringy(n: AnyNode | undefined): boolean {
  return (
    !!n &&
    ((n.type === 'Literal' && typeof n.value === 'string') ||
      n.type === 'TemplateLiteral' ||
      (n.type === 'BinaryExpression' && n.operator === '+' && (isStringy(n.left) || isStringy(n.right))))
  );
}
