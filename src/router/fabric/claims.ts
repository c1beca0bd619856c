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
        const kv = await js.views.kv(CLAIM_BUCKET, { replicas, history: 1 });
        const st = await kv.status();
        return new KvClaims(kv, st.replicas, epoch, alive, log);
      } catch (e) {
        last = e;
        if (!/insufficient resources|replicas > 1 not supported|peer/i.test(String(e))) throw e;
      }
    }
    throw last;
  }

  async claim(node: string, procedure: string, match: string, invoke: string): Promise<{ ok: true } | { ok: false; uri: string; message: string }> {
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
      // deleted meanwhile: one more create decides
      await this.kv.create(key, value).catch(() => undefined);
      const again = await this.kv.get(key);
      const v = again ? (JSON.parse(again.string()) as ClaimValue) : undefined;
      return v?.node === node && v.epoch === this.epoch ? { ok: true } : refused(procedure);
    }
    const held = JSON.parse(entry.string()) as ClaimValue;
    if (held.invoke === invoke && invoke !== 'single') return { ok: true };
    const stale = held.node === node ? held.epoch !== this.epoch : !this.alive(held.node);
    if (!stale) return refused(procedure);
    this.log.info({ procedure, node: held.node }, 'fabric: stale registration claim taken over');
    await this.kv.update(key, value, entry.revision);
    return { ok: true };
  }

  async owner(procedure: string, match: string): Promise<{ node: string; epoch: string } | undefined> {
    const entry = await this.kv.get(claimKey(match, procedure));
    if (!entry || entry.operation !== 'PUT') return undefined;
    const held = JSON.parse(entry.string()) as ClaimValue;
    return { node: held.node, epoch: held.epoch };
  }

  release(procedure: string, match: string, ownerNode: string | undefined): void {
    const key = claimKey(match, procedure);
    void (async () => {
      const entry = await this.kv.get(key);
      if (!entry || entry.operation !== 'PUT') return;
      const held = JSON.parse(entry.string()) as ClaimValue;
      // a dead node's claim: only if it is still that node's (a survivor may have claimed it anew)
      if (ownerNode !== undefined && held.node !== ownerNode) return;
      await this.kv.delete(key, { previousSeq: entry.revision });
    })().catch((e: unknown) => this.log.debug({ err: String(e), procedure }, 'fabric: claim release failed (stale claims are taken over later)'));
  }

  async close(): Promise<void> {}
}

function refused(procedure: string): { ok: false; uri: string; message: string } {
  return { ok: false, uri: E.procedureAlreadyExists, message: `${procedure} is already registered (on another node)` };
}
