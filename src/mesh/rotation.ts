/**
 * WireGuard key rotation of one node as a small state machine, independent of how messages travel and
 * how the local interface is changed (both injected), so tests can drive it in one process.
 *
 *   staging ──all peers staged──▶ switching ──all peers confirm──▶ finishing ──▶ done
 *      │ a peer fails                 │ timeout / a peer fails
 *      ▼                              ▼
 *   aborted (peers unstaged)       rolled-back (old key back on, peers moved back)
 *
 * staging:   every peer adds the new public key as an extra peer without allowed-ips (sessions untouched).
 * switching: this node loads the new private key and kicks a handshake to every peer while, at the same
 *            moment, every peer moves the allowed-ips to the new key with one `wg set` (atomic per peer).
 * confirm:   every peer reports a handshake on the new key.
 * finishing: peers drop the old key; the new key replaces the old on disk, the old is destroyed.
 */

export type RotationPhase = 'staging' | 'switching' | 'confirming' | 'finishing' | 'done' | 'aborted' | 'rolled-back';

export interface RotationLocal {
  /** Makes and stores the next key; returns [old, new] public keys. */
  stage(): Promise<{ oldPublicKey: string; newPublicKey: string }>;
  /** Loads the next (or, on rollback, the current) private key into the interface and kicks handshakes. */
  load(which: 'next' | 'current'): Promise<void>;
  promote(): Promise<void>;
  discard(): Promise<void>;
}

export interface RotationPeers {
  names: string[];
  send(
    peer: string,
    type: 'rotate.stage' | 'rotate.commit' | 'rotate.status' | 'rotate.finish' | 'rotate.rollback',
    body: { oldPublicKey: string; newPublicKey: string; at?: number },
  ): Promise<unknown>;
}

export class RotationError extends Error {
  override name = 'RotationError';
  constructor(
    message: string,
    readonly phase: RotationPhase,
    readonly failedPeers: string[],
  ) {
    super(message);
  }
}

export interface RotationResult {
  oldPublicKey: string;
  newPublicKey: string;
  phases: { phase: RotationPhase; atMs: number }[];
  /** ms from the switch to the last peer confirming. */
  confirmMs: number;
}

async function settle<T>(names: string[], f: (n: string) => Promise<T>): Promise<{ ok: string[]; failed: { name: string; error: string }[] }> {
  const rs = await Promise.allSettled(names.map((n) => f(n)));
  const ok: string[] = [];
  const failed: { name: string; error: string }[] = [];
  rs.forEach((r, i) => {
    const name = names[i] ?? '';
    if (r.status === 'fulfilled') ok.push(name);
    else failed.push({ name, error: r.reason instanceof Error ? r.reason.message : String(r.reason) });
  });
  return { ok, failed };
}

const describe_ = (failed: { name: string; error: string }[]) => failed.map((f) => `${f.name} (${f.error})`).join(', ');

/** Waits until the wall clock reads `at` (ms since the epoch), at most `capMs`. */
export function sleepUntil(at: number, capMs = 2_000): Promise<void> {
  const ms = Math.min(Math.max(0, at - Date.now()), capMs);
  return new Promise((r) => setTimeout(r, ms));
}

export async function rotateKey(
  local: RotationLocal,
  peers: RotationPeers,
  opts: { timeoutMs: number; pollMs?: number; onPhase?: (p: RotationPhase) => void /** lead time of the agreed switch instant */; switchLeadMs?: number },
): Promise<RotationResult> {
  const t0 = Date.now();
  const phases: RotationResult['phases'] = [];
  const enter = (phase: RotationPhase) => {
    phases.push({ phase, atMs: Date.now() - t0 });
    opts.onPhase?.(phase);
  };
  enter('staging');
  const keys = await local.stage();
  const staged = await settle(peers.names, (n) => peers.send(n, 'rotate.stage', keys));
  if (staged.failed.length > 0) {
    await settle(staged.ok, (n) => peers.send(n, 'rotate.rollback', keys));
    await local.discard();
    enter('aborted');
    throw new RotationError(
      `peer unreachable during rotation: ${describe_(staged.failed)}; rotation aborted before the switch, old key kept, mesh intact`,
      'aborted',
      staged.failed.map((f) => f.name),
    );
  }

  enter('switching');
  const tSwitch = Date.now();
  // Everyone switches at one agreed instant (peers hold the commit until then; clocks agree to NTP
  // precision), so the gap between this node's new key and the peers' allowed-ips move stays far below
  // one packet interval whatever the message latency was.
  const at = Date.now() + (opts.switchLeadMs ?? 150);
  const [loaded, committed] = await Promise.all([
    sleepUntil(at)
      .then(() => local.load('next'))
      .then(
        () => null,
        (e: unknown) => (e instanceof Error ? e.message : String(e)),
      ),
    settle(peers.names, (n) => peers.send(n, 'rotate.commit', { ...keys, at })),
  ]);

  const rollback = async (why: string, failedPeers: string[]): Promise<never> => {
    await local.load('current').catch(() => undefined);
    await settle(peers.names, (n) => peers.send(n, 'rotate.rollback', keys));
    await local.discard();
    enter('rolled-back');
    throw new RotationError(`${why}; rolled back to the old key, mesh intact`, 'rolled-back', failedPeers);
  };
  if (loaded !== null) await rollback(`loading the new key failed: ${loaded}`, []);
  if (committed.failed.length > 0)
    await rollback(
      `peer unreachable during rotation: ${describe_(committed.failed)}`,
      committed.failed.map((f) => f.name),
    );

  enter('confirming');
  const pending = new Set(peers.names);
  const deadline = Date.now() + opts.timeoutMs;
  while (pending.size > 0) {
    await settle([...pending], async (n) => {
      const r = (await peers.send(n, 'rotate.status', keys)) as { handshake?: number } | null;
      if (r && typeof r.handshake === 'number' && r.handshake > 0) pending.delete(n);
    });
    if (pending.size === 0) break;
    if (Date.now() > deadline) await rollback(`no handshake on the new key from ${[...pending].join(', ')} within ${opts.timeoutMs} ms`, [...pending]);
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 50));
  }
  const confirmMs = Date.now() - tSwitch;

  enter('finishing');
  await local.promote();
  // The old key is no longer loaded anywhere here; peers forgetting it is cleanup (a late one is fixed
  // by its reconciler, which no longer wants the old key).
  await settle(peers.names, (n) => peers.send(n, 'rotate.finish', keys));
  enter('done');
  return { ...keys, phases, confirmMs };
}
