import type { Permission } from '../config.js';
import { matches, specificity } from './uri.js';

export type Action = 'call' | 'register' | 'publish' | 'subscribe';

/**
 * Per-role URI permissions. The most specific matching rule decides (exact, then the longest prefix,
 * then the wildcard with most fixed components); no matching rule means deny. Pure, with a small cache.
 */
export class RolePermissions {
  private readonly rules: Permission[];
  private readonly cache = new Map<string, Permission | null>();

  constructor(rules: Permission[]) {
    this.rules = [...rules].sort((a, b) => specificity(b.uri, b.match) - specificity(a.uri, a.match));
  }

  /** The rule that applies to `uri`, or undefined (default deny). */
  ruleFor(uri: string): Permission | undefined {
    const hit = this.cache.get(uri);
    if (hit !== undefined) return hit ?? undefined;
    const rule = this.rules.find((r) => matches(r.uri, r.match, uri));
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(uri, rule ?? null);
    return rule;
  }

  allows(action: Action, uri: string): boolean {
    return this.ruleFor(uri)?.[action] === true;
  }

  /** Whether to disclose the caller/publisher: rule true → always, false → never, unset → as the client asked. */
  discloses(kind: 'caller' | 'publisher', uri: string, clientAsked: boolean): boolean {
    const d = this.ruleFor(uri)?.disclose[kind];
    return d === undefined ? clientAsked : d;
  }
}
