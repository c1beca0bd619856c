import type { PortSpec } from './schema.js';
import { anon, range, type Json } from './nft-json.js';

export type PortRange = readonly [number, number];

export function portRange(p: PortSpec): PortRange {
  if (typeof p === 'number') return [p, p];
  const [a, b] = p.split('-').map(Number) as [number, number];
  return [a, b];
}

/** Sorted ranges with overlapping and adjacent ones merged: the form nft lists an anonymous port set in. */
export function mergeRanges(list: readonly PortRange[]): PortRange[] {
  const sorted = [...list].sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

export const rangeJson = ([lo, hi]: PortRange): Json => (lo === hi ? lo : range(lo, hi));
export const portsJson = (specs: readonly PortSpec[]): Json => anon(mergeRanges(specs.map(portRange)).map(rangeJson));
