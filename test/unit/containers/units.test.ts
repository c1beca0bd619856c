import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerAppArgv, dockerStalePreArgv, dockerStopArgv, podmanAppArgv, podmanRmArgv, podmanRouterArgv, podmanStopArgv } from '../../../src/containers/argv.js';
import { ROUTER_COMMAND, UNIT_APP_VARS, UNIT_ROUTER_VARS } from '../../../src/containers/unit-params.js';
import { makeOfflineRoot, parseUnit, securityExposure, shippedUnits, splitExecLine, unitValues, unitsSourceDir, verifyUnit, type OfflineRoot } from '../../../src/systemd/units.js';

const dir = unitsSourceDir();
const units = shippedUnits(dir);
const ours = ['bulwark-wireguard-go@.service', 'bulwark-app@.service', 'bulwark-app-docker@.service', 'bulwark-router.service', 'bulwark-router-https.socket', 'bulwark-router-http.socket'];
const read = (u: string) => parseUnit(readFileSync(join(dir, u), 'utf8'));
/** Template units are verified through an instance. */
const instance = (u: string) => u.replace('@.', '@echo.');

let root: OfflineRoot;
beforeAll(() => {
  root = makeOfflineRoot(units, dir);
});
afterAll(() => root?.cleanup());

describe('unit files', () => {
  it('ships every container unit', () => {
    for (const u of ours) expect(units).toContain(u);
  });

  it.each(ours)('%s passes systemd-analyze verify without a single warning', async (u) => {
    const r = await verifyUnit(root.root, instance(u));
    expect(r.findings).toEqual([]);
    expect(r.code).toBe(0);
  });

  it('the verifier does catch a bad unit (so an empty result means something)', async () => {
    const bad = makeOfflineRoot([], dir);
    try {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(join(bad.root, 'etc/systemd/system/bulwark-bad.service'), '[Service]\nExecStart=/usr/bin/podman run x\nLimitCORE=0\nBogusKey=1\n');
      const r = await verifyUnit(bad.root, 'bulwark-bad.service');
      expect(r.findings.join('\n')).toMatch(/Unknown key.*BogusKey/);
    } finally {
      bad.cleanup();
    }
  });

  it.each(ours.filter((u) => u.endsWith('.service')))('%s sets LimitCORE=0', (u) => {
    expect(unitValues(read(u), 'Service', 'LimitCORE')).toEqual(['0']);
  });

  it('sockets hand 443 and 80 to the router by name', () => {
    const https = read('bulwark-router-https.socket');
    const http = read('bulwark-router-http.socket');
    expect(unitValues(https, 'Socket', 'ListenStream')).toEqual(['443']);
    expect(unitValues(https, 'Socket', 'FileDescriptorName')).toEqual(['https']);
    expect(unitValues(http, 'Socket', 'ListenStream')).toEqual(['80']);
    expect(unitValues(http, 'Socket', 'FileDescriptorName')).toEqual(['http']);
    for (const s of [https, http]) expect(unitValues(s, 'Socket', 'Service')).toEqual(['bulwark-router.service']);
    expect(unitValues(read('bulwark-router.service'), 'Service', 'Sockets')).toEqual(['bulwark-router-https.socket bulwark-router-http.socket']);
  });

  it('ExecStart lines are exactly what the argv builders produce', () => {
    const exec = (u: string, key = 'ExecStart') => unitValues(read(u), 'Service', key).map(splitExecLine);
    expect(exec('bulwark-app@.service')).toEqual([podmanAppArgv({ ...UNIT_APP_VARS, extra: ['$BULWARK_PODMAN_CGROUPS'] })]);
    expect(exec('bulwark-app@.service', 'ExecStop')).toEqual([podmanStopArgv('bulwark-app-%i')]);
    expect(exec('bulwark-app@.service', 'ExecStopPost')).toEqual([podmanRmArgv('bulwark-app-%i')]);
    expect(exec('bulwark-app-docker@.service')).toEqual([dockerAppArgv(UNIT_APP_VARS)]);
    expect(exec('bulwark-app-docker@.service', 'ExecStartPre')[0]).toEqual(dockerStalePreArgv('%i'));
    expect(unitValues(read('bulwark-app-docker@.service'), 'Service', 'ExecStartPre')[0]?.startsWith('-')).toBe(true);
    expect(exec('bulwark-app-docker@.service', 'ExecStop')).toEqual([dockerStopArgv('%i')]);
    expect(exec('bulwark-router.service')).toEqual([podmanRouterArgv({ ...UNIT_ROUTER_VARS, command: ROUTER_COMMAND, extra: ['$BULWARK_PODMAN_CGROUPS'] })]);
  });

  it('restarts containers that die, and the docker unit runs in the foreground', () => {
    for (const u of ['bulwark-app@.service', 'bulwark-app-docker@.service', 'bulwark-router.service']) expect(unitValues(read(u), 'Service', 'Restart')).toEqual(['always']);
    expect(unitValues(read('bulwark-app@.service'), 'Service', 'Type')).toEqual(['notify']);
    expect(unitValues(read('bulwark-app-docker@.service'), 'Service', 'Type')).toEqual(['simple']);
  });

  it('systemd-analyze security works offline: the docker client unit is tightly sandboxed, podman units are scored', async () => {
    const scores = await securityExposure(['bulwark-app-docker@echo.service', 'bulwark-app@echo.service', 'bulwark-router.service'], root.root);
    expect(scores.get('bulwark-app-docker@echo.service')?.score).toBeLessThanOrEqual(2);
    // podman needs root to set a container up (the container itself has no capabilities); the limits and
    // what holds each unit's score up are in src/containers/audit.ts (test/unit/containers/exposure.test.ts)
    expect(scores.get('bulwark-app@echo.service')?.score).toBeLessThanOrEqual(5);
    expect(scores.get('bulwark-router.service')?.score).toBeLessThanOrEqual(5);
  });
});
