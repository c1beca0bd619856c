import type { MeshContext } from './context.js';
import { onPeerRotation, rotateOwnKey } from './key-rotation.js';
import { bodySchemas, envelopeSchema, type Body, type CapabilityMessage, type MessageType } from './protocol.js';
import { onPskOffer, rotateAllPsks, rotatePsks } from './psk-rotation.js';
import { signMessage, type MessageVerifier, type SignedMessage } from './signing.js';

/** A message from this node to `to`, signed with its Ed25519 key. */
export function signFor<T extends MessageType>(ctx: MeshContext, to: string, type: T, body: Body<T>): SignedMessage<Body<T>> {
  return signMessage(ctx.keys.signSecret(), { type, from: ctx.name, to, body });
}

/**
 * Handles a message from another agent: validated, signature checked against the sender's key on record, then
 * acted on. `forgetMember` is the node's own (it reconverges the interface); `capabilityHandlers` answer the message
 * types other capabilities own (e.g. certs: acme.publish).
 */
export async function handleMessage(
  ctx: MeshContext,
  verifier: MessageVerifier,
  raw: unknown,
  forgetMember: (name: string) => Promise<void>,
  capabilityHandlers: ReadonlyMap<CapabilityMessage, (from: string, body: unknown) => Promise<unknown>> = new Map(),
): Promise<unknown> {
  const env = envelopeSchema.parse(raw);
  const msg = verifier.verify(env as SignedMessage);
  const type = env.type;
  const body = bodySchemas[type].parse(msg.body) as Body<typeof type>;
  const from = ctx.members.find(msg.from);
  if (!from) throw new Error(`unknown sender ${msg.from}`);
  if (type === 'rotate.run') {
    if (msg.from !== ctx.name) throw new Error('rotate.run is only accepted from this node itself');
    const b = body as Body<'rotate.run'>;
    if (b.what === 'psk') return { rotated: await rotateAllPsks(ctx) };
    const r = await rotateOwnKey(ctx, ctx.mesh.rotationTimeoutSec * 1000);
    return { oldPublicKey: r.oldPublicKey, newPublicKey: r.newPublicKey, confirmMs: r.confirmMs };
  }
  switch (type) {
    case 'ping':
      return { ok: true, name: ctx.name };
    case 'rotate.stage':
    case 'rotate.commit':
    case 'rotate.status':
    case 'rotate.finish':
    case 'rotate.rollback':
      return onPeerRotation(ctx, type, from, body as Body<'rotate.stage'>);
    case 'psk.offer':
      return onPskOffer(ctx, from, body as Body<'psk.offer'>);
    case 'psk.rotate':
      return { rotated: await rotatePsks(ctx) };
    case 'acme.publish':
    case 'acme.unpublish':
    case 'fabric.cert': {
      const h = capabilityHandlers.get(type);
      if (!h) throw new Error(`${type} is not handled on ${ctx.name}`);
      return h(msg.from, body);
    }
    case 'members.remove': {
      const b = body as Body<'members.remove'>;
      if (b.name === ctx.name) throw new Error(`${ctx.name} cannot be told to forget itself`);
      await forgetMember(b.name);
      return { ok: true };
    }
  }
}
