/**
 * WAMP URI rules (loose: components without whitespace, '.' or '#') and pattern matching
 * (exact, prefix, wildcard with empty components). Pure. The empty prefix is valid and matches everything.
 */
export type MatchPolicy = 'exact' | 'prefix' | 'wildcard';

const LOOSE = /^([^\s.#]+\.)*[^\s.#]+$/;
const LOOSE_EMPTY = /^(([^\s.#]+\.)|\.)*([^\s.#]+)?$/;
const PREFIX = /^([^\s.#]+\.)*[^\s.#]*$/;

export function validUri(uri: string, match: MatchPolicy = 'exact'): boolean {
  // the empty prefix matches every URI (SUBSCRIBE/REGISTER "" with match: prefix)
  if (uri.length === 0) return match === 'prefix';
  if (uri.length > 1024) return false;
  if (match === 'exact') return LOOSE.test(uri);
  if (match === 'prefix') return PREFIX.test(uri);
  return LOOSE_EMPTY.test(uri);
}

export function wildcardMatch(pattern: string, uri: string): boolean {
  const p = pattern.split('.');
  const u = uri.split('.');
  if (p.length !== u.length) return false;
  for (let i = 0; i < p.length; i++) if (p[i] !== '' && p[i] !== u[i]) return false;
  return true;
}

export function matches(pattern: string, match: MatchPolicy, uri: string): boolean {
  if (match === 'exact') return pattern === uri;
  if (match === 'prefix') return uri.startsWith(pattern);
  return wildcardMatch(pattern, uri);
}

/** Higher = more specific: exact beats the longest prefix beats the wildcard with most fixed components. */
export function specificity(pattern: string, match: MatchPolicy): number {
  if (match === 'exact') return 3_000_000;
  if (match === 'prefix') return 2_000_000 + pattern.length;
  return 1_000_000 + pattern.split('.').filter((c) => c !== '').length * 1000 + pattern.length;
}
