// Lists exports of src/ that nothing imports (src, tests, benchmarks, tools): `node tools/dead-exports.mjs`.
// An export used only inside its own file is shown with --all. Exits 1 when a dead export is found.
import ts from 'typescript';
import { readFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { resolve, dirname } from 'node:path';
const files = execSync("git ls-files 'src/**.ts' 'test/**.ts' 'bench/**.ts' 'tools/**.ts' 'test/**.mjs' 'bench/**.mjs'", { encoding: 'utf8' })
  .split('\n')
  .filter(Boolean)
  .concat(execSync("git ls-files -o --exclude-standard 'src/**.ts' 'tools/**.ts' 'test/**.ts'", { encoding: 'utf8' }).split('\n').filter(Boolean));
const exportsBy = new Map(); // file -> Set(names)
const used = new Map(); // file -> Set(names) imported by others
const add = (m, f, n) => {
  if (!m.has(f)) m.set(f, new Set());
  m.get(f).add(n);
};
for (const f of files) {
  const text = readFileSync(f, 'utf8');
  const sf = ts.createSourceFile(f, text, ts.ScriptTarget.Latest, true);
  const norm = (spec) => {
    if (!spec.startsWith('.')) return null;
    const p = resolve(dirname(f), spec).replace(/\.js$/, '.ts');
    return p.slice(process.cwd().length + 1);
  };
  const visit = (node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const target = norm(node.moduleSpecifier.text);
      if (target) {
        if (ts.isImportDeclaration(node)) {
          const c = node.importClause;
          if (c?.name) add(used, target, 'default');
          if (c?.namedBindings && ts.isNamedImports(c.namedBindings)) for (const e of c.namedBindings.elements) add(used, target, (e.propertyName ?? e.name).text);
          if (c?.namedBindings && ts.isNamespaceImport(c.namedBindings)) add(used, target, '*');
        } else {
          if (!node.exportClause) add(used, target, '*');
          else if (ts.isNamedExports(node.exportClause)) for (const e of node.exportClause.elements) add(used, target, (e.propertyName ?? e.name).text);
        }
      }
    }
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
      const target = norm(node.arguments[0].text);
      // (await import('x')).name  or const { a, b } = await import('x')
      let p = node.parent;
      while (p && (ts.isAwaitExpression(p) || ts.isParenthesizedExpression(p))) p = p.parent;
      if (target) {
        if (p && ts.isPropertyAccessExpression(p)) add(used, target, p.name.text);
        else if (p && ts.isVariableDeclaration(p) && ts.isObjectBindingPattern(p.name)) for (const e of p.name.elements) add(used, target, (e.propertyName ?? e.name).getText());
        else add(used, target, '*');
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  if (!f.startsWith('src/')) continue;
  for (const st of sf.statements) {
    const mods = ts.getModifiers?.(st) ?? [];
    if (!mods.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) continue;
    if (ts.isVariableStatement(st)) for (const d of st.declarationList.declarations) add(exportsBy, f, d.name.getText());
    else if (st.name) add(exportsBy, f, st.name.text);
  }
}
const all = process.argv.includes('--all');
let dead = 0;
for (const [f, names] of exportsBy) {
  const u = used.get(f) ?? new Set();
  if (u.has('*')) continue;
  const text = readFileSync(f, 'utf8');
  for (const n of names)
    if (!u.has(n)) {
      const localUses = (text.match(new RegExp(`\\b${n}\\b`, 'g')) ?? []).length;
      if (localUses <= 1) dead++;
      if (localUses <= 1 || all) console.log(`${f}: ${n}${localUses > 1 ? ' (used in its file only)' : ' (dead)'}`);
    }
}
process.exitCode = dead ? 1 : 0;
