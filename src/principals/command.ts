import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { EXIT, type CliContext, type Command } from '../core/command.js';
import { UsageError } from '../core/errors.js';
import { ConfigError } from '../config/errors.js';
import type { Config } from '../config/schema.js';
import { hashTicket } from '../router/auth/ticket.js';
import { deriveCraKey } from '../router/auth/wampcra.js';
import {
  AUTHID,
  codeHash,
  keyOf,
  newActivationCode,
  newCraSecret,
  newestRecords,
  newTicket,
  parseDuration,
  parseExpiry,
  planAdd,
  planApprove,
  planEnrol,
  planRevoke,
  planRotate,
  PRINCIPAL_METHODS,
  PrincipalError,
  principalState,
  type PrincipalMethod,
  type PrincipalRecord,
  type Submission,
} from '../router/principals/model.js';
import type { NodeDump, PutResult } from './node.js';

const HELP = `Usage: bulwark principal add NAME --method ticket|wampcra|cryptosign [--pubkey HEX] --role ROLE [--realm R] [--expires WHEN]
       bulwark principal list [--realm R]
       bulwark principal rotate NAME [--realm R] [--pubkey HEX] [--overlap DURATION]
       bulwark principal revoke NAME [--realm R]
       bulwark principal enroll NAME --role ROLE [--realm R] [--expires WHEN] [--code-ttl DURATION]
       bulwark principal approve NAME [--realm R] [--pubkey HEX]
       bulwark principal reject NAME [--realm R]
  common: [--node N]... [--all] [--json]

Principals (WAMP authids with a role on a realm) kept in a store on every node
(/var/lib/bulwark/principals/principals.json) next to the ones in bulwark.yaml (router.auth, which
this command never changes: a NAME defined there is refused). Each change is one versioned record
written to every node; a node keeps only a newer version, so a late or repeated change never undoes
a later one. The router re-reads the store on reload (SIGHUP): no restart, no other session dropped.

  add       ticket: a random ticket is printed once and stored only as its scrypt hash.
            wampcra: a random secret is printed once; the node keeps its PBKDF2 key (salt, 1000
            iterations, 32 bytes printed too). cryptosign: --pubkey is the client's Ed25519 public
            key (64 hex; the private key stays with the client).
  rotate    a new ticket/secret (printed once) or --pubkey; the old one keeps working for the overlap
            (default router.principals.rotationOverlapSeconds, 24h), then stops by itself.
  revoke    refuses the principal from now on and ends its live sessions on every node at once.
  enroll    a cryptosign principal without a key yet: prints a single-use activation code, valid for
            --code-ttl (default router.principals.codeTtlSeconds, 15m), stored only as a hash. The
            client sends HELLO with authmethods [cryptosign], authid NAME and
            authextra {pubkey: HEX, activation_code: CODE} and signs the challenge with that key;
            the router records the key and refuses the session as pending
            (bulwark.error.enrolment_pending) until "principal approve" (or lets it in at once where
            router.principals.autoApprove is true).
  approve   takes the key a client presented with the code (--pubkey picks one when clients
            presented different keys on different nodes).
  reject    ends the enrolment; the name is refused (a new enroll or add may reuse it).
  list      every store principal with its state: active, expired, revoked, rejected, enrolling,
            code-expired, pending (code used, awaiting approval), and whether the nodes agree.

  --realm R       the realm (default: the only realm in router.realms)
  --expires WHEN  the principal stops authenticating then: a duration (90d, 12h) or an ISO date
  --overlap D, --code-ttl D   durations like 90s, 15m, 24h, 7d
  --node N/--all  the nodes to act on (default: all nodes; on a node: this node only)
  --json          one JSON document on stdout

On a node the command acts on that node's store; on the operator's machine it reads every target
node's store over SSH, computes the change once and writes it to each. Node-side forms (what the
operator's machine runs over SSH): principal node-dump, principal node-put RECORD_BASE64.

Exit codes: 0 ok, 1 the change was refused (e.g. no such principal, nothing to approve), 2 usage or
config error, 3 a node failed (the others still got the change).`;

const OPTIONS = {
  realm: { type: 'string' },
  role: { type: 'string' },
  method: { type: 'string' },
  pubkey: { type: 'string' },
  expires: { type: 'string' },
  overlap: { type: 'string' },
  'code-ttl': { type: 'string' },
  node: { type: 'string', multiple: true },
  all: { type: 'boolean' },
} as const;

const SUBS = ['add', 'list', 'rotate', 'revoke', 'enroll', 'approve', 'reject', 'node-dump', 'node-put'] as const;
type Sub = (typeof SUBS)[number];

export interface ParsedPrincipalArgs {
  sub: Sub;
  name?: string;
  realm?: string;
  role?: string;
  method?: PrincipalMethod;
  pubkey?: string;
  expires?: string;
  overlapMs?: number;
  codeTtlMs?: number;
  nodes: string[];
  all: boolean;
}

/** Parses and checks `bulwark principal` arguments. Pure (throws UsageError). */
export function parsePrincipalArgs(args: string[]): ParsedPrincipalArgs {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const { values: v, positionals } = parsed;
  const [sub, name, ...extra] = positionals;
  if (!SUBS.includes(sub as Sub)) throw new UsageError(`expected add, list, rotate, revoke, enroll, approve or reject${sub ? `, not "${sub}"` : ''}`);
  const s = sub as Sub;
  if (extra.length) throw new UsageError(`unexpected ${extra.join(' ')}`);
  if (s === 'list' || s === 'node-dump') {
    if (name !== undefined) throw new UsageError(`principal ${s} takes no name`);
  } else if (name === undefined) throw new UsageError(`principal ${s} needs ${s === 'node-put' ? 'RECORD' : 'NAME'}`);
  else if (s !== 'node-put' && !AUTHID.test(name)) throw new UsageError(`"${name}" is not a valid authid (letters, digits, _.@+-, up to 255)`);
  const allowed: Record<Sub, readonly string[]> = {
    add: ['realm', 'role', 'method', 'pubkey', 'expires'],
    list: ['realm'],
    rotate: ['realm', 'pubkey', 'overlap'],
    revoke: ['realm'],
    enroll: ['realm', 'role', 'expires', 'code-ttl'],
    approve: ['realm', 'pubkey'],
    reject: ['realm'],
    'node-dump': [],
    'node-put': [],
  };
  for (const k of ['realm', 'role', 'method', 'pubkey', 'expires', 'overlap', 'code-ttl'] as const) {
    if (v[k] !== undefined && !allowed[s].includes(k)) throw new UsageError(`--${k} is not for principal ${s}`);
  }
  if ((s === 'add' || s === 'enroll') && v.role === undefined) throw new UsageError(`principal ${s} needs --role ROLE`);
  let method: PrincipalMethod | undefined;
  if (s === 'add') {
    if (!PRINCIPAL_METHODS.includes(v.method as PrincipalMethod)) throw new UsageError(`--method must be one of ${PRINCIPAL_METHODS.join(', ')}`);
    method = v.method as PrincipalMethod;
    if ((method === 'cryptosign') !== (v.pubkey !== undefined))
      throw new UsageError(method === 'cryptosign' ? 'cryptosign needs --pubkey HEX (or use principal enroll)' : '--pubkey is for cryptosign only');
  }
  const pubkey = v.pubkey?.toLowerCase();
  if (pubkey !== undefined && !/^[0-9a-f]{64}$/.test(pubkey)) throw new UsageError('--pubkey must be 64 hex characters (an Ed25519 public key)');
  const dur = (flag: string, x: string | undefined) => {
    if (x === undefined) return undefined;
    try {
      return parseDuration(x);
    } catch (e) {
      throw new UsageError(`--${flag}: ${(e as Error).message}`);
    }
  };
  if (v.all && v.node?.length) throw new UsageError('give --node or --all, not both');
  if (v.expires !== undefined) {
    try {
      parseExpiry(v.expires, Date.now());
    } catch (e) {
      throw new UsageError(`--expires: ${(e as Error).message}`);
    }
  }
  return {
    sub: s,
    name,
    realm: v.realm,
    role: v.role,
    method,
    pubkey,
    expires: v.expires,
    overlapMs: dur('overlap', v.overlap),
    codeTtlMs: dur('code-ttl', v['code-ttl']),
    nodes: v.node ?? [],
    all: v.all ?? false,
  };
}

/** A change computed on the operator side: the record to write and what to show once (secrets, codes). */
export interface Change {
  record: PrincipalRecord;
  /** Shown once to the operator (never stored): ticket, secret, activation code. */
  reveal: Record<string, string | number>;
}

/**
 * Computes the change for a request from the newest record across the nodes (`prev`) and every node's
 * submissions. Generates secrets and codes here; pure apart from randomness and the scrypt/PBKDF2 work.
 */
export function planChange(p: ParsedPrincipalArgs, cfg: Config, realm: string, prev: PrincipalRecord | undefined, submissions: readonly Submission[], now: number): Change {
  const authid = p.name!;
  const settings = cfg.router.principals;
  const expiresAt = p.expires !== undefined ? parseExpiry(p.expires, now) : undefined;
  switch (p.sub) {
    case 'add': {
      const method = p.method!;
      if (method === 'ticket') {
        const ticket = newTicket();
        return { record: planAdd(prev, { realm, authid, role: p.role!, method, value: hashTicket(ticket), expiresAt }, now), reveal: { ticket } };
      }
      if (method === 'wampcra') {
        const secret = newCraSecret();
        const cra = { salt: randomBytes(16).toString('base64url'), iterations: 1000, keylen: 32 };
        const value = deriveCraKey(secret, cra.salt, cra.iterations, cra.keylen);
        return { record: planAdd(prev, { realm, authid, role: p.role!, method, value, cra, expiresAt }, now), reveal: { secret, ...cra } };
      }
      return { record: planAdd(prev, { realm, authid, role: p.role!, method, value: p.pubkey!, expiresAt }, now), reveal: {} };
    }
    case 'rotate': {
      const overlap = p.overlapMs ?? settings.rotationOverlapSeconds * 1000;
      if (!prev || prev.revokedAt !== undefined) throw new PrincipalError(`no principal ${authid} on realm ${realm}`);
      const until = new Date(now + overlap).toISOString();
      if (prev.method === 'ticket') {
        const ticket = newTicket();
        return { record: planRotate(prev, hashTicket(ticket), overlap, now), reveal: { ticket, oldWorksUntil: until } };
      }
      if (prev.method === 'wampcra') {
        const secret = newCraSecret();
        const cra = prev.cra!;
        return { record: planRotate(prev, deriveCraKey(secret, cra.salt, cra.iterations, cra.keylen), overlap, now), reveal: { secret, ...cra, oldWorksUntil: until } };
      }
      if (p.pubkey === undefined) throw new PrincipalError('rotating a cryptosign principal needs --pubkey HEX (the new key, made by the client)');
      return { record: planRotate(prev, p.pubkey, overlap, now), reveal: { oldWorksUntil: until } };
    }
    case 'revoke':
      return { record: planRevoke(prev, now), reveal: {} };
    case 'reject':
      if (!prev?.enrolment) throw new PrincipalError(`no enrolment of ${authid} to reject`);
      return { record: planRevoke(prev, now, 'rejected'), reveal: {} };
    case 'enroll': {
      const code = newActivationCode();
      const ttl = p.codeTtlMs ?? settings.codeTtlSeconds * 1000;
      const record = planEnrol(prev, { realm, authid, role: p.role!, codeHash: codeHash(code), enrolmentId: randomBytes(12).toString('hex'), codeTtlMs: ttl, expiresAt }, now);
      return { record, reveal: { activationCode: code, codeExpiresAt: new Date(now + ttl).toISOString() } };
    }
    case 'approve':
      return { record: planApprove(prev, submissions, now, p.pubkey), reveal: {} };
    default:
      throw new Error(`not a change: ${p.sub}`);
  }
}

/** Where the command acts: this node, or the nodes over SSH (remote/act.ts: the one "here or on the nodes" rule). */
interface Targets {
  dump(): Promise<{ node: string; dump?: NodeDump; error?: string }[]>;
  put(rec: PrincipalRecord): Promise<{ node: string; result?: PutResult; error?: string }[]>;
}

/** The last line of a node's stdout as JSON (throws when it isn't: the node then counts as failed). */
const lastJson = <T>(stdout: string): T => JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T;

function targets(ctx: CliContext, cfg: Config, p: ParsedPrincipalArgs): Targets {
  const run = async <T>(local: () => Promise<T>, argv: string[]) => {
    const { actOnNodes } = await import('../remote/act.js');
    const { outcomes } = await actOnNodes<T>(ctx, {
      targets: { names: p.nodes, all: p.all },
      whenNone: 'all',
      config: () => cfg,
      local: async (self) => {
        try {
          return { node: self, code: EXIT.OK, result: await local() };
        } catch (e) {
          return { node: self, code: EXIT.NODE_FAILED, error: (e as Error).message };
        }
      },
      remote: { argv, parse: (out) => lastJson<T>(out) },
    });
    return outcomes.map((o) => (o.result !== undefined && o.code === EXIT.OK ? { node: o.node, value: o.result } : { node: o.node, error: o.error ?? `exit ${o.code}` }));
  };
  return {
    dump: async () => {
      const { dumpNode } = await import('./node.js');
      return (await run(async () => dumpNode(), ['principal', 'node-dump'])).map((r) => ('value' in r ? { node: r.node, dump: r.value } : r));
    },
    put: async (rec) => {
      const { putOnNode } = await import('./node.js');
      const arg = Buffer.from(JSON.stringify(rec)).toString('base64');
      return (await run(() => putOnNode(rec, cfg.apps.routerUid, ctx.log), ['principal', 'node-put', arg])).map((r) => ('value' in r ? { node: r.node, result: r.value } : r));
    },
  };
}

function realmOf(p: ParsedPrincipalArgs, cfg: Config): string {
  const realms = cfg.router.realms.map((r) => r.name);
  if (p.realm !== undefined) {
    if (!realms.includes(p.realm)) throw new UsageError(`no realm "${p.realm}" in router.realms (have: ${realms.join(', ') || 'none'})`);
    return p.realm;
  }
  if (realms.length !== 1) throw new UsageError(`give --realm (router.realms has ${realms.length ? realms.join(', ') : 'none'})`);
  return realms[0]!;
}

const iso = (t: number | undefined) => (t === undefined ? '-' : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z'));

/** One line per principal for `list` (and its JSON form). Pure. */
export function listRows(dumps: readonly { node: string; dump?: NodeDump }[], now: number, realm?: string) {
  const ok = dumps.filter((d): d is { node: string; dump: NodeDump } => d.dump !== undefined);
  const newest = newestRecords(ok.map((d) => d.dump.store));
  const subs = ok.flatMap((d) => d.dump.submissions.map((s) => ({ ...s, node: d.node })));
  return [...newest.values()]
    .filter((r) => realm === undefined || r.realm === realm)
    .sort((a, b) => a.realm.localeCompare(b.realm) || a.authid.localeCompare(b.authid))
    .map((r) => {
      const mine = subs.filter((s) => r.enrolment && s.realm === r.realm && s.authid === r.authid && s.enrolmentId === r.enrolment.id);
      const lagging = ok.filter((d) => d.dump.store.principals.find((x) => keyOf(x.realm, x.authid) === keyOf(r.realm, r.authid))?.version !== r.version).map((d) => d.node);
      const live = r.credentials.filter((c) => c.notAfter === undefined || c.notAfter > now);
      return {
        realm: r.realm,
        authid: r.authid,
        role: r.role,
        method: r.method,
        state: principalState(r, now, mine.length > 0),
        version: r.version,
        expiresAt: r.expiresAt,
        credentials: live.map((c) => ({ createdAt: c.createdAt, notAfter: c.notAfter, ...(r.method === 'cryptosign' ? { pubkey: c.value } : {}) })),
        ...(mine.length ? { submitted: mine.map((s) => ({ node: s.node, pubkey: s.pubkey, at: s.at, source: s.source })) } : {}),
        lagging,
      };
    });
}

async function loadCfg(ctx: CliContext): Promise<Config> {
  const { loadConfig } = await import('../config/index.js');
  return loadConfig(ctx.configPath);
}

export const command: Command = {
  name: 'principal',
  summary: 'WAMP principals: add, list, rotate, revoke, enroll, approve, reject',
  help: HELP,
  async run(ctx, args) {
    const p = parsePrincipalArgs(args);
    let cfg: Config;
    try {
      cfg = await loadCfg(ctx);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      ctx.err.write(e.message + '\n');
      return EXIT.USAGE;
    }
    if (p.sub === 'node-dump') {
      const { dumpNode } = await import('./node.js');
      ctx.out.write(JSON.stringify(dumpNode()) + '\n');
      return EXIT.OK;
    }
    if (p.sub === 'node-put') {
      const { putOnNode } = await import('./node.js');
      let rec: unknown;
      try {
        rec = JSON.parse(Buffer.from(p.name ?? '', 'base64').toString('utf8'));
      } catch {
        throw new UsageError('node-put needs a base64 JSON record');
      }
      ctx.out.write(JSON.stringify(await putOnNode(rec, cfg.apps.routerUid, ctx.log)) + '\n');
      return EXIT.OK;
    }
    const where = targets(ctx, cfg, p);
    const now = Date.now();
    const dumps = await where.dump();
    const down = dumps.filter((d) => d.error !== undefined);
    for (const d of down) ctx.err.write(`${d.node}: ${d.error}\n`);

    if (p.sub === 'list') {
      const rows = listRows(dumps, now, p.realm);
      if (ctx.json) ctx.out.write(JSON.stringify({ principals: rows, failed: down.map((d) => d.node) }) + '\n');
      else if (rows.length === 0) ctx.out.write('no principals in the store\n');
      else {
        for (const r of rows) {
          const creds = r.credentials.map((c) => (c.notAfter ? `until ${iso(c.notAfter)}` : `since ${iso(c.createdAt)}`)).join(', ');
          const extra = r.submitted ? `  key from ${r.submitted.map((s) => `${s.node} ${s.pubkey.slice(0, 16)}…`).join(', ')}` : '';
          ctx.out.write(
            `${r.realm}/${r.authid}`.padEnd(28) +
              ` ${r.state.padEnd(12)} ${r.method.padEnd(10)} role ${r.role.padEnd(10)} expires ${iso(r.expiresAt)}  credentials ${creds || 'none'}${extra}${r.lagging.length ? `  (older on ${r.lagging.join(', ')})` : ''}\n`,
          );
        }
      }
      return down.length ? EXIT.NODE_FAILED : EXIT.OK;
    }

    const realm = realmOf(p, cfg);
    if (p.sub === 'add' || p.sub === 'enroll') {
      if (!cfg.router.realms.find((r) => r.name === realm)!.roles.some((r) => r.name === p.role)) throw new UsageError(`realm ${realm} has no role "${p.role}" in router.realms`);
    }
    const inConfig = (['ticket', 'wampcra', 'cryptosign'] as const).some((m) => cfg.router.auth[m].some((x) => x.realm === realm && x.authid === p.name));
    if (inConfig) {
      ctx.err.write(`${p.name} on realm ${realm} is defined in bulwark.yaml (router.auth); change it there\n`);
      return EXIT.CHECK_FAILED;
    }
    if (dumps.length === down.length) {
      ctx.err.write('no node answered: nothing changed\n');
      return EXIT.NODE_FAILED;
    }
    const ok = dumps.flatMap((d) => (d.dump ? [d.dump] : []));
    const prev = newestRecords(ok.map((d) => d.store)).get(keyOf(realm, p.name!));
    let change: Change;
    try {
      change = planChange(
        p,
        cfg,
        realm,
        prev,
        ok.flatMap((d) => d.submissions),
        now,
      );
    } catch (e) {
      if (!(e instanceof PrincipalError)) throw e;
      ctx.err.write(`${realm}/${p.name}: ${e.message}\n`);
      return EXIT.CHECK_FAILED;
    }
    const results = await where.put(change.record);
    const failed = results.filter((r) => r.error !== undefined);
    const state = principalState(change.record, now);
    if (ctx.json) {
      ctx.out.write(
        JSON.stringify({
          realm,
          authid: p.name,
          action: p.sub,
          state,
          version: change.record.version,
          ...change.reveal,
          nodes: Object.fromEntries(results.map((r) => [r.node, r.result ?? { error: r.error }])),
        }) + '\n',
      );
    } else {
      for (const r of results)
        ctx.out.write(r.result ? `${r.node}: ${r.result.applied ? 'applied' : 'not applied'} (version ${r.result.version}; ${r.result.note})\n` : `${r.node}: FAILED: ${r.error}\n`);
      ctx.out.write(`${realm}/${p.name}: ${p.sub === 'enroll' ? 'enrolling' : state}\n`);
      for (const [k, v] of Object.entries(change.reveal)) ctx.out.write(`  ${k}: ${v}\n`);
      if (change.reveal.ticket !== undefined || change.reveal.secret !== undefined || change.reveal.activationCode !== undefined) {
        ctx.out.write('  (shown once: only its hash is stored)\n');
      }
    }
    return failed.length || down.length ? EXIT.NODE_FAILED : EXIT.OK;
  },
};
