/**
 * The shell steps a README documents, so a test can run exactly what a reader types. A section is marked
 * with `<!-- NAME:begin -->` and `<!-- NAME:end -->`; every ```sh fenced block between the two is a step.
 * Pure.
 */
export function markedShellBlocks(markdown: string, name: string): string[] {
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const from = markdown.indexOf(begin);
  const to = markdown.indexOf(end);
  if (from < 0 || to < 0 || to < from) throw new Error(`no section marked ${begin} ... ${end}`);
  if (markdown.indexOf(begin, from + 1) >= 0) throw new Error(`${begin} appears twice`);
  const section = markdown.slice(from + begin.length, to);
  const blocks = [...section.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((m) => m[1] ?? '');
  if (blocks.length === 0) throw new Error(`no \`\`\`sh block between ${begin} and ${end}`);
  return blocks;
}
