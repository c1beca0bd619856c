import { readFileSync } from 'node:fs';
import { DEFAULT_MESH_ROOT, MEMBERS_FILE } from '../config/locate.js';

/** The mesh's member list on this node (public facts, written by `mesh set-members`). */
export const MESH_MEMBERS = `${DEFAULT_MESH_ROOT}/${MEMBERS_FILE}`;

/** Member names in the mesh's members.json text; undefined when absent or unreadable. Pure. */
export function parseMemberNames(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  try {
    const list = JSON.parse(text) as unknown;
    if (!Array.isArray(list)) return undefined;
    return list.flatMap((m: unknown) => {
      const name = (m as { name?: unknown } | null)?.name;
      return typeof name === 'string' && /^[a-z][a-z0-9-]{0,30}$/.test(name) ? [name] : [];
    });
  } catch {
    return undefined;
  }
}

export function readMemberNames(path = MESH_MEMBERS): string[] | undefined {
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    text = undefined;
  }
  return parseMemberNames(text);
}

/** How a member name becomes its mesh address: the mesh's allocation, handed in by src/cli/plugins.ts. */
export type MeshAddresses = (cidr: string, names: readonly string[], pinned: Readonly<Record<string, string>>) => Map<string, string>;
