import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from './errors.js';

type Path = readonly PropertyKey[];

/** Finds the YAML node at `path`; with `key` the key node of the last segment (for unknown keys). */
function locate(doc: Document, path: Path, key?: string): { range?: readonly number[] | null } | undefined {
  let node: unknown = doc.contents;
  let last: unknown = node;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      last = pair.key;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)];
      if (item === undefined) break;
      node = item;
    } else break;
    if (node) last = node;
  }
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
    if (pair && isScalar(pair.key)) return pair.key;
  }
  return (node ?? last) as YamlNode | undefined;
}

/** Turns zod issues into file:line:col problems, one per issue (one per key for unknown keys). */
export function issuesToProblems(file: string, doc: Document, lc: LineCounter, issues: readonly z.core.$ZodIssue[]): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const at = (path: Path, key?: string) => {
    const n = locate(doc, path, key);
    const offset = n?.range?.[0] ?? 0;
    const pos = lc.linePos(offset);
    return { line: pos.line, col: pos.col };
  };
  for (const issue of issues) {
    const path = issue.path;
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        out.push({ file, ...at(path, k), field: [...path, k].map(String).join('.'), message: `unknown key "${k}"` });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === 'invalid_type' && issue.input === undefined) message = 'is required';
    out.push({ file, ...at(path), field: path.map(String).join('.'), message });
  }
  return out.sort((a, b) => a.line - b.line || a.col - b.col);
}

/** Parses YAML text and validates it; throws ConfigError listing every problem. Pure except for nothing. */
export function parseConfigText<S extends z.ZodType>(schema: S, text: string, file: string): z.infer<S> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => {
        const pos = lc.linePos(e.pos[0]);
        return { file, line: pos.line, col: pos.col, field: '', message: e.message.split('\n')[0] ?? e.message };
      }),
    );
  }
  const result = schema.safeParse(doc.toJS() ?? {});
  if (!result.success) throw new ConfigError(issuesToProblems(file, doc, lc, result.error.issues));
  return result.data as z.infer<S>;
}

/** Reads and validates a config file. */
export function loadConfigFile<S extends z.ZodType>(schema: S, file: string): z.infer<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError([{ file, line: 0, col: 0, field: '', message: code === 'ENOENT' ? 'no such file (create one with `bulwark init`)' : String(e) }]);
  }
  return parseConfigText(schema, text, file);
}
