import { describe, expect, it } from 'vitest';
import { rotateKey, RotationError, type RotationLocal, type RotationPeers } from '../../../src/mesh/rotation.js';

/** Records every step, so the order the state machine takes is what is checked. */
function fakes(behaviour: { failOn?: (peer: string, type: string) => boolean; confirms?: (peer: string) => boolean } = {}) {
  const log: string[] = [];
  const local: RotationLocal = {
    stage: async () => {
      log.push('local stage');
      return { oldPublicKey: 'OLD', newPublicKey: 'NEW' };
    },
    load: async (w) => void log.push(`local load ${w}`),
    promote: async () => void log.push('local promote'),
    discard: async () => void log.push('local discard'),
  };
  const peers: RotationPeers = {
    names: ['n2', 'n3'],
    send: async (peer, type) => {
      if (behaviour.failOn?.(peer, type)) throw new Error('unreachable');
      if (type !== 'rotate.status') log.push(`${peer} ${type}`);
      if (type === 'rotate.status') return { handshake: (behaviour.confirms ?? (() => true))(peer) ? 1700000000 : 0 };
      return { ok: true };
    },
  };
  return { log, local, peers };
}

describe('rotation state machine', () => {
  it('stages on every peer before switching, finishes after every confirm', async () => {
    const f = fakes();
    const phases: string[] = [];
    const r = await rotateKey(f.local, f.peers, { timeoutMs: 1000, pollMs: 1, onPhase: (p) => phases.push(p) });
    expect(phases).toEqual(['staging', 'switching', 'confirming', 'finishing', 'done']);
    const i = (s: string) => f.log.indexOf(s);
    expect(i('n2 rotate.stage')).toBeLessThan(i('local load next'));
    expect(i('n3 rotate.stage')).toBeLessThan(i('local load next'));
    expect(i('local promote')).toBeLessThan(i('n2 rotate.finish'));
    expect(f.log).not.toContain('local discard');
    expect(r).toMatchObject({ oldPublicKey: 'OLD', newPublicKey: 'NEW' });
  });
  it('aborts before the switch when a peer cannot be staged, unstaging the others', async () => {
    const f = fakes({ failOn: (p, t) => p === 'n3' && t === 'rotate.stage' });
    const e = await rotateKey(f.local, f.peers, { timeoutMs: 1000 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RotationError);
    expect((e as RotationError).message).toMatch(/peer unreachable during rotation: n3 \(unreachable\).*old key kept, mesh intact/);
    expect((e as RotationError).failedPeers).toEqual(['n3']);
    expect(f.log).not.toContain('local load next');
    expect(f.log).toContain('n2 rotate.rollback');
    expect(f.log).toContain('local discard');
  });
  it('rolls back (old key reloaded, peers moved back) when a peer does not confirm in time', async () => {
    const f = fakes({ confirms: (p) => p !== 'n2' });
    const e = await rotateKey(f.local, f.peers, { timeoutMs: 50, pollMs: 5 }).catch((x: unknown) => x);
    expect((e as RotationError).phase).toBe('rolled-back');
    expect((e as RotationError).message).toMatch(/no handshake on the new key from n2 within 50 ms; rolled back/);
    expect(f.log.slice(-4)).toEqual(['local load current', 'n2 rotate.rollback', 'n3 rotate.rollback', 'local discard']);
    expect(f.log).not.toContain('local promote');
  });
  it('rolls back when a peer fails at the switch', async () => {
    const f = fakes({ failOn: (p, t) => p === 'n2' && t === 'rotate.commit' });
    await expect(rotateKey(f.local, f.peers, { timeoutMs: 1000 })).rejects.toThrow(/peer unreachable during rotation: n2.*rolled back to the old key, mesh intact/);
    expect(f.log).toContain('local load current');
  });
});
