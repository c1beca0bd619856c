/**
 * A small typed builder for libnftables JSON (see `man libnftables-json`). Expressions are written in the
 * form `nft -j list` prints them back, so a plan and a live table can be compared after normalising.
 */

export type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

export const FAMILY = 'inet';
export const TABLE = 'bulwark';

export interface NftTable {
  family: string;
  name: string;
  handle?: number;
}
export interface NftSet {
  family: string;
  table: string;
  name: string;
  type: string | string[];
  flags?: string[];
  size?: number;
  timeout?: number;
  elem?: Json[];
  handle?: number;
}
export interface NftChain {
  family: string;
  table: string;
  name: string;
  type?: string;
  hook?: string;
  prio?: number;
  policy?: string;
  handle?: number;
}
export interface NftRule {
  family: string;
  table: string;
  chain: string;
  expr: Json[];
  comment?: string;
  handle?: number;
}
export interface NftElement {
  family: string;
  table: string;
  name: string;
  elem: Json[];
}

export type NftObject = { table: NftTable } | { set: NftSet } | { chain: NftChain } | { rule: NftRule } | { element: NftElement };
export type NftCommand = { add: NftObject } | { delete: NftObject } | { flush: NftObject };
export interface NftDocument {
  nftables: NftCommand[];
}

// ---- expressions -------------------------------------------------------------------------------------------
export const payload = (protocol: string, field: string): Json => ({ payload: { protocol, field } });
export const meta = (key: string): Json => ({ meta: { key } });
export const ct = (key: string): Json => ({ ct: { key } });
export const concat = (...parts: Json[]): Json => ({ concat: parts });
export const match = (left: Json, right: Json, op: '==' | '!=' | 'in' = '=='): Json => ({ match: { op, left, right } });
export const setRef = (name: string): string => `@${name}`;
/** An anonymous set; one element is written bare (that is how nft lists it). */
export const anon = (values: readonly Json[]): Json => (values.length === 1 ? (values[0] as Json) : { set: [...values] });
export const range = (lo: Json, hi: Json): Json => ({ range: [lo, hi] });
export const prefix = (addr: string, len: number): Json => ({ prefix: { addr, len } });
export const counter = (): Json => ({ counter: { packets: 0, bytes: 0 } });
export const limit = (rate: number, per: string, burst: number, inv = false): Json => (inv ? { limit: { rate, burst, per, inv: true } } : { limit: { rate, burst, per } });
export const log = (prefix: string): Json => ({ log: { prefix } });
export const ACCEPT: Json = { accept: null };
export const DROP: Json = { drop: null };
export const ctState = (...states: string[]): Json => match(ct('state'), states.length === 1 ? (states[0] as string) : states, 'in');
export const addToSet = (set: string, elem: Json, stmt: Json[]): Json => ({ set: { op: 'add', elem, set: setRef(set), stmt } });
