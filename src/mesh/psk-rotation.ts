import type { MeshContext } from './context.js';
import type { MemberFacts } from './members.js';
import type { Body } from './protocol.js';
import { decapsulatePsk, encapsulatePsk, encapsulator } from './psk.js';

function kemKeyOf(m: MemberFacts): Uint8Array {
  return new Uint8Array(Buffer.from(m.kemKey, 'base64'));
}

/**
 * New PSKs for every pair where this node encapsulates (its name sorts first): encapsulate, send the
 * ciphertext, and once the peer has set it, set it here. The session carries on (a PSK is only used at
 * the next handshake). Returns the peers rotated.
 */
export async function rotatePsks(ctx: MeshContext, only?: readonly string[]): Promise<string[]> {
  const me = ctx.members.find(ctx.name);
  if (!me) throw new Error(`${ctx.name} is not a member`);
  const targets = ctx.members.all.filter((m) => m.name !== ctx.name && encapsulator(ctx.name, m.name) === ctx.name && (!only || only.includes(m.name)));
  const done: string[] = [];
  const errors: string[] = [];
  await Promise.all(
    targets.map(async (peer) => {
      const epoch = (ctx.keys.psk(peer.name)?.epoch ?? 0) + 1;
      const { psk, offer } = encapsulatePsk(ctx.name, kemKeyOf(me), peer.name, kemKeyOf(peer), epoch);
      try {
        await ctx.send(peer.name, 'psk.offer', offer);
      } catch (e) {
        errors.push(`${peer.name}: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      await ctx.locked(async () => {
        ctx.keys.setPsk(peer.name, { epoch, psk });
        await ctx.dev.applyOps([{ kind: 'set', publicKey: peer.publicKey, psk }]);
        const s = ctx.staged.get(peer.name);
        if (s) await ctx.dev.applyOps([{ kind: 'set', publicKey: s.moved ? s.oldPublicKey : s.newPublicKey, psk }]);
      });
      done.push(peer.name);
    }),
  );
  if (errors.length > 0) throw new Error(`PSK rotation failed for ${errors.join('; ')} (those pairs keep their previous PSK)`);
  return done.sort();
}

/** Asks every member (this node included) to rotate the PSKs it encapsulates: all pairs get new PSKs. */
export async function rotateAllPsks(ctx: MeshContext): Promise<string[]> {
  const out = [...(await rotatePsks(ctx)).map((p) => `${ctx.name}-${p}`)];
  for (const m of ctx.members.others()) {
    const r = (await ctx.send(m.name, 'psk.rotate', {})) as { rotated?: string[] };
    out.push(...(r.rotated ?? []).map((p) => `${m.name}-${p}`));
  }
  return out.sort();
}

/** A peer's PSK offer: decapsulated with this node's KEM key, set on the peer. */
export async function onPskOffer(ctx: MeshContext, from: MemberFacts, offer: Body<'psk.offer'>): Promise<unknown> {
  if (offer.from !== from.name || offer.to !== ctx.name) throw new Error('PSK offer names do not match the sender/receiver');
  const prev = ctx.keys.psk(from.name);
  if (prev && offer.epoch <= prev.epoch) throw new Error(`PSK offer epoch ${offer.epoch} is not newer than ${prev.epoch}`);
  const psk = decapsulatePsk(offer, ctx.keys.kemSecret(), kemKeyOf(from));
  return ctx.locked(async () => {
    ctx.keys.setPsk(from.name, { epoch: offer.epoch, psk });
    await ctx.dev.applyOps([{ kind: 'set', publicKey: from.publicKey, psk }]);
    return { ok: true, epoch: offer.epoch };
  });
}

/** Pairs this node encapsulates whose PSK is missing or older than `maxAgeMs`. */
export function pairsDueForPsk(ctx: MeshContext, maxAgeMs: number, now = Date.now()): string[] {
  return ctx.members.all
    .filter((m) => m.name !== ctx.name && encapsulator(ctx.name, m.name) === ctx.name)
    .filter((m) => {
      const p = ctx.keys.psk(m.name);
      return !p || (maxAgeMs > 0 && now - (p.created ?? 0) > maxAgeMs);
    })
    .map((m) => m.name);
}
