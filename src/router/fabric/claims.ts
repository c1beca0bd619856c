import type { Logger } from 'pino';
import type { KV, NatsConnection } from 'nats';
import { E } from '../wamp/codes.js';
import type { ClaimBook } from './fabric.js';
import { claimKey } from './ids.js';

export const CLAIM_BUCKET = 'bulwark_fabric_claims';

interface ClaimValue {
  node: string;
  epoch: string;
  invoke: string;
}

/**
 * Registration claims in a JetStream KV bucket (replicated on min(3, nodes) servers): a new registration
 * of a URI + match policy is made only after `create` of its key succeeded (atomic: of two nodes racing,
 * one wins), or the key already holds the same shared invoke policy. A key whose node restarted (another
 * epoch) or is not alive for this node is stale and taken over (`update` at its revision). Without a
 * JetStream quorum (this node is on the minority side of a partition) create fails: the REGISTER is
 * refused with bulwark.error.fabric_unavailable while local traffic goes on.
 */
export class KvClaims implements ClaimBook {
  private constructor(
    private readonly kv: KV,
    /** Replicas of the bucket (as asked when it was made or bound; logged). */
    readonly replicas: number,
    private readonly epoch: string,
    private readonly alive: (node: string) => boolean,
    private readonly log: Logger,
    /** JetStream's request timeout (ms). */
    private readonly timeoutMs: number,
  ) {}

  /**
   * `settle`: a clustered server refusing 3 replicas may only lack peers that are still starting (the
   * first node up makes the bucket), so fewer are tried only once `settle` is false (the caller gives the
   * cluster time first); a server that is not clustered gets 1 at once.
   */
  static async open(nc: NatsConnection, epoch: string, alive: (node: string) => boolean, log: Logger, timeoutMs: number, settle: boolean): Promise<KvClaims> {
    const js = nc.jetstream({ timeout: timeoutMs });
    let last: unknown;
    // replicas = min(3, servers): a smaller cluster refuses more replicas than it has servers, so the next
    // smaller count is tried (only on that refusal)
    const clustered = nc.info?.cluster !== undefined;
    const counts = !clustered ? [1] : settle ? [3] : [3, 2, 1];
    for (const replicas of counts) {
      try {
        // reads go to the stream's leader (no direct get): a replica that is catching up after a partition
        // would answer with a claim that is no longer so, and a clash would be settled the wrong way round
        const kv = await js.views.kv(CLAIM_BUCKET, { replicas, history: 1, allow_direct: false });
        const st = await kv.status();
        return new KvClaims(kv, st.replicas, epoch, alive, log, timeoutMs);
      } catch (e) {
        last = e;
        if (!/insufficient resources|replicas > 1 not supported|peer/i.test(String(e))) throw e;
      }
    }
    throw last;
  }

  /**
   * Claims the key; JetStream's passing failures (no leader while a dead node's replica is replaced: 503 or a
   * timeout) are tried again until twice the request timeout has gone, then thrown (the REGISTER is refused
   * as fabric_unavailable: the minority side of a partition ends there).
   */
  async claim(node: string, procedure: string, match: string, invoke: string): Promise<{ ok: true } | { ok: false; uri: string; message: string }> {
    const until = Date.now() + 2 * this.timeoutMs;
    for (let changed = 0; ; ) {
      try {
        return await this.claimOnce(node, procedure, match, invoke);
      } catch (e) {
        // the key changed between reading and writing it (a release or another claim): decided again
        if (/wrong last sequence|key exists/i.test(String(e)) && ++changed < 5) continue;
        if (!isPassing(e) || Date.now() + RETRY_MS > until) throw e;
        this.log.debug({ err: String(e), procedure }, 'fabric: registration claim tried again');
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  private async claimOnce(node: string, procedure: string, match: string, invoke: string): Promise<{ ok: true } | { ok: false; uri: string; message: string }> {
    const key = claimKey(match, procedure);
    const value = Buffer.from(JSON.stringify({ node, epoch: this.epoch, invoke } satisfies ClaimValue));
    try {
      await this.kv.create(key, value);
      return { ok: true };
    } catch (e) {
      if (!/wrong last sequence|key exists/i.test(String(e))) throw e;
    }
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== 'PUT') {
      // deleted meanwhile: one more create (over the delete marker, at its revision); another writer
      // first shows as a changed key, and claim() decides again
      await this.kv.create(key, value);
      return { ok: true };
    }
    const held = JSON.parse(entry.string()) as ClaimValue;
    if (held.invoke === invoke && invoke !== 'single') return { ok: true };
    // Another live node's claim refuses. This node's own claim is taken (written again): of an earlier run
    // (another epoch) it is stale; of this run it is no conflict (an earlier attempt whose answer was lost,
    // or a release not yet done), and the dealer checks again for a local registration once the claim
    // answers. Written again, a release that read the old revision cannot delete it.
    if (held.node !== node && this.alive(held.node)) return refused(procedure);
    if (held.node !== node || held.epoch !== this.epoch) this.log.info({ procedure, node: held.node }, 'fabric: stale registration claim taken over');
    await this.kv.update(key, value, entry.revision);
    return { ok: true };
  }

  async owner(procedure: string, match: string): Promise<{ node: string; epoch: string } | undefined> {
    const entry = await this.kv.get(claimKey(match, procedure));
    if (!entry || entry.operation !== 'PUT') return undefined;
    const held = JSON.parse(entry.string()) as ClaimValue;
    return { node: held.node, epoch: held.epoch };
  }

  release(procedure: string, match: string, ownerNode: string | undefined, registeredAgain: () => boolean): void {
    const key = claimKey(match, procedure);
    void (async () => {
      const entry = await this.kv.get(key);
      if (!entry || entry.operation !== 'PUT') return;
      const held = JSON.parse(entry.string()) as ClaimValue;
      // a dead node's claim: only if it is still that node's (a survivor may have claimed it anew); this
      // node's own: only if this run made it (the epoch is this run's alone)
      if (ownerNode !== undefined ? held.node !== ownerNode : held.epoch !== this.epoch) return;
      // registered here again meanwhile: the claim is the new registration's (a newer revision, or this one)
      if (registeredAgain()) return;
      await this.kv.delete(key, { previousSeq: entry.revision });
    })().catch((e: unknown) => this.log.debug({ err: String(e), procedure }, 'fabric: claim release failed (stale claims are taken over later)'));
  }

  async close(): Promise<void> {}
}

/** Pause between claim attempts while JetStream elects a leader. */
const RETRY_MS = 250;

/** A JetStream failure that passes by itself: no responders (503, no leader yet) or a request timeout. */
function isPassing(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return code === '503' || code === 'TIMEOUT' || /\b503\b|TIMEOUT|no responders/i.test(String(e));
}

function refused(procedure: string): { ok: false; uri: string; message: string } {
  return { ok: false, uri: E.procedureAlreadyExists, message: `${procedure} is already registered (on another node)` };
}
