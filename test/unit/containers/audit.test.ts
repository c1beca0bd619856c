import { describe, expect, it } from 'vitest';
import { appMounts, evaluateContainer, exposureCheck, parseInspect, routerMounts, unitLimitCoreCheck } from '../../../src/containers/audit.js';
import { parseExposure } from '../../../src/systemd/units.js';

const good = {
  EffectiveCaps: null,
  Mounts: [{ Type: 'bind', Source: '/run/bulwark/components/echo', Destination: '/run/wamp', RW: true }],
  Config: { User: '60501:60501' },
  HostConfig: { NetworkMode: 'none', ReadonlyRootfs: true, CapAdd: [], SecurityOpt: ['no-new-privileges'], Privileged: false, Tmpfs: { '/tmp': 'rw,noexec' } },
};
const status = (checks: { id: string; status: string }[]) => Object.fromEntries(checks.map((c) => [c.id.split('.').at(-1), c.status]));

describe('container checks from inspect', () => {
  it('passes an isolated app container', () => {
    const [c] = parseInspect(JSON.stringify([good]));
    expect(Object.values(status(evaluateContainer('app-echo', c!, appMounts('echo'))))).toEqual(Array(6).fill('pass'));
  });
  it('fails each weakening on its own', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['network-none', { HostConfig: { ...good.HostConfig, NetworkMode: 'bridge' } }],
      ['read-only-root', { HostConfig: { ...good.HostConfig, ReadonlyRootfs: false } }],
      ['no-capabilities', { EffectiveCaps: ['CAP_NET_RAW'] }],
      ['no-capabilities', { HostConfig: { ...good.HostConfig, Privileged: true } }],
      ['no-new-privileges', { HostConfig: { ...good.HostConfig, SecurityOpt: [] } }],
      ['non-root', { Config: { User: '' } }],
      ['non-root', { Config: { User: '0:0' } }],
      ['mounts', { Mounts: [...good.Mounts, { Type: 'bind', Source: '/run/bulwark/components', Destination: '/x', RW: true }] }],
      ['mounts', { Mounts: [{ ...good.Mounts[0], RW: false }] }],
      ['mounts', { HostConfig: { ...good.HostConfig, Tmpfs: { '/tmp': '', '/var': '' } } }],
    ];
    for (const [what, patch] of cases) {
      const [c] = parseInspect(JSON.stringify([{ ...good, ...patch }]));
      const s = status(evaluateContainer('app-echo', c!, appMounts('echo')));
      expect(s[what], `${what} with ${JSON.stringify(patch)}`).toBe('fail');
      expect(Object.values(s).filter((x) => x === 'fail')).toHaveLength(1);
    }
  });
  it('the router may have exactly its three mounts', () => {
    const mounts = routerMounts().map((m) => ({ Type: 'bind', Source: m.source, Destination: m.destination, RW: m.rw }));
    const [c] = parseInspect(JSON.stringify([{ ...good, Mounts: mounts, Config: { User: '60500:60500' } }]));
    expect(status(evaluateContainer('router', c!, routerMounts())).mounts).toBe('pass');
  });
  it('rejects inspect output without HostConfig (external input is validated)', () => {
    expect(() => parseInspect('[{"Name":"x"}]')).toThrow();
  });
});

describe('unit checks', () => {
  it('LimitCORE=0 passes; unset or other values fail; missing unit is n/a', () => {
    expect(unitLimitCoreCheck('u', '[Service]\nLimitCORE=0\n').status).toBe('pass');
    expect(unitLimitCoreCheck('u', '[Service]\nExecStart=/x\n').status).toBe('fail');
    expect(unitLimitCoreCheck('u', '[Service]\nLimitCORE=0\nLimitCORE=infinity\n').status).toBe('fail');
    expect(unitLimitCoreCheck('u', undefined).status).toBe('n/a');
  });
  it('reports the exposure number', () => {
    const m = parseExposure('→ Overall exposure level for bulwark-router.service: 8.8 EXPOSED 🙁\n→ Overall exposure level for x.service: 0.9 SAFE 😀\n');
    expect(m.get('bulwark-router.service')).toEqual({ score: 8.8, verdict: 'EXPOSED' });
    const c = exposureCheck('bulwark-router.service', m.get('bulwark-router.service'), 9);
    expect(c).toMatchObject({ status: 'pass', evidence: 'exposure 8.8 EXPOSED (limit 9)' });
    expect(exposureCheck('x.service', { score: 3, verdict: 'OK' }, 2).status).toBe('fail');
  });
});
