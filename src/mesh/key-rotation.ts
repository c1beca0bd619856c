import type { MeshContext } from './context.js';
import { keysEqual } from './keys.js';
import type { MemberFacts } from './members.js';
import { desiredInterface } from './plan.js';
import { rotateKey, sleepUntil, type RotationResult } from './rotation.js';

export type RotationMessage = 'rotate.stage' | 'rotate.commit' | 'rotate.status' | 'rotate.finish' | 'rotate.rollback';

/** A peer's rotation, seen from this node: stage its new key, move its allowed-ips at the agreed instant, finish or roll back. */
export async function onPeerRotation(ctx: MeshContext, type: RotationMessage, from: MemberFacts, b: { oldPublicKey: string; newPublicKey: string; at?: number }): Promise<unknown> {
  // A commit takes effect at the instant the rotating node chose (it loads its new key then too).
  if (type === 'rotate.commit' && b.at !== undefined) await sleepUntil(b.at);
  const s = ctx.staged.get(from.name);
  if (type === 'rotate.status') {
    const dump = await ctx.dev.dump();
    const p = dump?.peers.find((x) => x.publicKey === b.newPublicKey);
    return { handshake: p?.latestHandshake ?? 0 };
  }
  return ctx.locked(async () => {
    const d = desiredInterface(ctx.mesh, ctx.members.all, ctx.name, ctx.keys.psks()).peers.find((p) => p.name === from.name);
    if (!d) throw new Error(`${from.name} is not a peer of ${ctx.name}`);
    switch (type) {
      case 'rotate.stage':
        if (!keysEqual(from.publicKey, b.oldPublicKey)) throw new Error(`${from.name}: old key does not match the key on record`);
        ctx.staged.set(from.name, { ...b, moved: false });
        await ctx.dev.applyOps([{ kind: 'set', publicKey: b.newPublicKey, ...(d.endpoint ? { endpoint: d.endpoint } : {}), allowedIps: [], keepalive: d.keepalive, psk: d.psk }]);
        return { ok: true };
      case 'rotate.commit':
        if (!s || !keysEqual(s.newPublicKey, b.newPublicKey)) throw new Error(`no staged rotation of ${from.name} with that key`);
        s.moved = true;
        // One transaction: the allowed-ips move from the old peer to the new one atomically.
        await ctx.dev.moveAllowedIps(b.newPublicKey, d.allowedIps);
        return { ok: true };
      case 'rotate.rollback':
        if (s && keysEqual(s.newPublicKey, b.newPublicKey)) {
          ctx.staged.delete(from.name);
          await ctx.dev.moveAllowedIps(b.oldPublicKey, d.allowedIps);
          await ctx.dev.applyOps([{ kind: 'remove', publicKey: b.newPublicKey }]);
        }
        return { ok: true };
      case 'rotate.finish': {
        if (!s || !keysEqual(s.newPublicKey, b.newPublicKey)) throw new Error(`no staged rotation of ${from.name} with that key`);
        ctx.staged.delete(from.name);
        ctx.members.setPublicKey(from.name, b.newPublicKey);
        await ctx.dev.applyOps([{ kind: 'remove', publicKey: b.oldPublicKey }]);
        return { ok: true };
      }
    }
  });
}

/** Loads this node's current or next private key and makes every peer handshake now. */
export async function loadKey(ctx: MeshContext, which: 'current' | 'next'): Promise<void> {
  const file = which === 'next' ? ctx.keys.nextWgKeyPath : ctx.keys.wgKeyPath;
  const peers = desiredInterface(ctx.mesh, ctx.members.all, ctx.name).peers;
  await ctx.dev.loadPrivateKey(
    file,
    peers.map((p) => p.publicKey),
    ctx.mesh.keepalive,
  );
  ctx.loaded = which;
}

/** Rotates this node's WireGuard key with every peer (the protocol is rotation.ts). */
export async function rotateOwnKey(ctx: MeshContext, timeoutMs: number): Promise<RotationResult> {
  if (ctx.rotating) throw new Error(`a rotation of ${ctx.name} is already running`);
  ctx.rotating = true;
  const peerNames = ctx.members.others().map((m) => m.name);
  try {
    const result = await rotateKey(
      {
        stage: async () => ({ oldPublicKey: ctx.keys.wgPublicKey(), newPublicKey: ctx.keys.stageNextWgKey() }),
        load: (which) => ctx.locked(() => loadKey(ctx, which)),
        promote: async () => {
          await ctx.locked(async () => {
            ctx.keys.promoteNextWgKey();
            ctx.loaded = 'current';
            ctx.members.setPublicKey(ctx.name, ctx.keys.wgPublicKey());
          });
        },
        discard: async () => {
          ctx.keys.discardNextWgKey();
          ctx.loaded = 'current';
        },
      },
      { names: peerNames, send: (peer, type, body) => ctx.send(peer, type, body) },
      { timeoutMs },
    );
    ctx.log?.info({ node: ctx.name, confirmMs: result.confirmMs }, 'WireGuard key rotated');
    return result;
  } finally {
    ctx.rotating = false;
  }
}
