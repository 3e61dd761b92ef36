/* global process, console */
// Workload: marked renders a large Markdown document (headings, lists, tables, code, links).
import { marked } from 'marked';
const sections = Number(process.argv[2] ?? 400);
let doc = '';
for (let i = 0; i < sections; i++) {
  doc +=
    `# Section ${i}\n\nSome *emphasis*, **strong** text, a [link](https://example.com/${i}) and \`code\`.\n\n` +
    `- item one\n- item two\n  - nested ${i}\n\n> a quote ${i}\n\n\`\`\`js\nconst x = ${i};\n\`\`\`\n\n| a | b |\n|---|---|\n| ${i} | ${i * 2} |\n\n`;
}
console.log(marked.parse(doc).length);
