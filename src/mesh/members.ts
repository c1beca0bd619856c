import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { MEMBERS_FILE } from '../config/locate.js';
import { MeshConfigError } from './addresses.js';
import { isWgKey } from './keys.js';
import { writeSecretFile, type NodeKeys } from './keystore.js';
import { desiredInterface } from './plan.js';
import type { MeshConfig } from './schema.js';

/** A member's public facts: its identity keys and underlay endpoint. */
export interface MemberFacts extends NodeKeys {
  endpoint: string;
}

export const memberFactsSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/),
  endpoint: z.union([z.ipv4(), z.ipv6()]),
  publicKey: z.string().refine(isWgKey, 'must be a WireGuard public key'),
  signKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be an Ed25519 public key (base64)'),
  kemKey: z.string().min(1500).max(1700),
});

/** The members a node knows (public facts only), kept in MEMBERS_FILE under the mesh root. */
export class Membership {
  private list: MemberFacts[] = [];

  constructor(
    readonly self: string,
    private readonly mesh: MeshConfig,
    private readonly root: string,
  ) {}

  private get path(): string {
    return join(this.root, MEMBERS_FILE);
  }

  /** Loads the list the node last saved (none: empty). */
  load(): void {
    if (existsSync(this.path)) this.list = z.array(memberFactsSchema).parse(JSON.parse(readFileSync(this.path, 'utf8')));
  }

  get all(): readonly MemberFacts[] {
    return this.list;
  }

  find(name: string): MemberFacts | undefined {
    return this.list.find((m) => m.name === name);
  }

  /** Every member but this node. */
  others(): MemberFacts[] {
    return this.list.filter((m) => m.name !== this.self);
  }

  /**
   * Replaces the member list (public facts); returns false when it equals the current one (nothing
   * written). Checks the mesh can hold them (CIDR size, endpoints).
   */
  set(members: readonly MemberFacts[]): boolean {
    const list = members.map((m) => memberFactsSchema.parse(m));
    const names = new Set<string>();
    const eps = new Map<string, string>();
    for (const m of list) {
      if (names.has(m.name)) throw new MeshConfigError(`node ${m.name} is listed twice`);
      names.add(m.name);
      const other = eps.get(m.endpoint);
      if (other) throw new MeshConfigError(`nodes ${other} and ${m.name} have the same endpoint ${m.endpoint}`);
      eps.set(m.endpoint, m.name);
    }
    if (!names.has(this.self)) throw new MeshConfigError(`node ${this.self} is not in the member list`);
    desiredInterface(this.mesh, list, this.self); // throws when the CIDR is too small
    if (JSON.stringify(list) === JSON.stringify(this.list)) return false;
    this.list = list;
    writeSecretFile(this.path, JSON.stringify(list, null, 2));
    return true;
  }

  /** A member's WireGuard public key changed (a finished rotation). */
  setPublicKey(name: string, publicKey: string): void {
    this.set(this.list.map((m) => (m.name === name ? { ...m, publicKey } : m)));
  }

  /** Drops a member from the list. */
  remove(name: string): void {
    this.set(this.list.filter((m) => m.name !== name));
  }

  /** Forgets every member (the node left the mesh); the file goes with the keys. */
  clear(): void {
    this.list = [];
  }
}
