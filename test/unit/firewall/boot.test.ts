import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bootFiles, bootScript, documentTable, planFallback, renderBootUnit, renderFallback, savedDocument } from '../../../src/firewall/boot.js';
import { diffTable } from '../../../src/firewall/compare.js';
import type { NftDocument } from '../../../src/firewall/nft-json.js';
import { planFirewall, planTransaction } from '../../../src/firewall/plan.js';
import { tableText } from '../../../src/firewall/render-text.js';
import { makeOfflineRoot, parseUnit, splitExecLine, unitValues, verifyUnit } from '../../../src/systemd/units.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'bw-fwboot-'));
  dirs.push(d);
  return d;
}

describe('fail-closed fallback ruleset (pure)', () => {
  it('drops everything but loopback, established, neighbour discovery and SSH from the management networks', () => {
    const p = planFallback({ managementNetworks: ['198.51.100.0/24', '198.51.100.7', '2001:db8::/48'], ssh: { port: 2222 } });
    expect(p.chains.map((c) => `${c.name}:${c.hook}:${c.policy}`)).toEqual(['input:input:drop', 'forward:forward:drop', 'output:output:drop']);
    const text = tableText(p);
    expect(text).toContain('elements = {\n\t\t\t198.51.100.0/24\n');
    expect(text).not.toContain('198.51.100.7');
    expect(text).toContain('2001:db8::/48');
    expect(text).toContain('ip saddr @mgmt4 tcp dport 2222 counter accept comment "fallback-in-ssh4"');
    expect(text).toContain('ip6 saddr @mgmt6 tcp dport 2222 counter accept comment "fallback-in-ssh6"');
    // nothing else is accepted as new: no 443, no 80, no WireGuard, no metrics, no egress
    const accepts = p.rules.filter((r) => JSON.stringify(r.expr).includes('"accept"')).map((r) => r.comment);
    expect(accepts).toEqual([
      'fallback-in-loopback',
      'fallback-in-established',
      'fallback-in-icmp6-nd',
      'fallback-in-ssh4',
      'fallback-in-ssh6',
      'fallback-out-established',
      'fallback-out-loopback',
      'fallback-out-icmp6',
    ]);
    expect(text).not.toMatch(/dport 443|dport 80\b|udp/);
    expect(p.inputAllows).toEqual([{ id: 'fallback-in-ssh', proto: 'tcp', ports: [[2222, 2222]], from: expect.any(Array) }]);
  });

  it('keeps SSH open to any source only when the config says fromAnywhere, and says so when SSH is closed', () => {
    expect(tableText(planFallback({ ssh: { fromAnywhere: true } }))).toContain('tcp dport 22 counter accept comment "fallback-in-ssh-any"');
    const none = planFallback({});
    expect(none.notes.join()).toMatch(/SSH closed too/);
    expect(none.sets.every((s) => s.elem === undefined)).toBe(true);
  });

  it('fallback.json is one replace transaction of table inet bulwark (the full plan replaces it the same way)', () => {
    const doc = JSON.parse(renderFallback({ managementNetworks: ['198.51.100.0/24'] })) as NftDocument;
    expect(doc.nftables.slice(0, 3)).toEqual([
      { add: { table: { family: 'inet', name: 'bulwark' } } },
      { delete: { table: { family: 'inet', name: 'bulwark' } } },
      { add: { table: { family: 'inet', name: 'bulwark' } } },
    ]);
    expect(doc).toEqual(planTransaction(planFallback({ managementNetworks: ['198.51.100.0/24'] })));
    expect(renderFallback({ managementNetworks: ['198.51.100.0/24'] })).toBe(renderFallback({ managementNetworks: ['198.51.100.0/24'] }));
  });
});

describe('the saved ruleset (pure)', () => {
  const plan = planFirewall({ managementNetworks: ['198.51.100.0/24'] }, { self: { name: 'n1', endpoint: '192.0.2.11' }, peers: [{ name: 'n2', endpoint: '192.0.2.12' }], resolvers: [] });
  // What `nft -j list table` prints: metainfo, handles, live counters, a meter with entries.
  const listing = JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6', release_name: 'Lester Gooch #5', json_schema_version: 1 } },
      { table: { family: 'inet', name: 'bulwark', handle: 7 } },
      ...plan.sets.map((s, i) => ({ set: { ...s, handle: 10 + i, ...(s.flags?.includes('timeout') ? { elem: [{ elem: { val: '192.0.2.9', expires: 50 } }] } : {}) } })),
      ...plan.chains.map((c, i) => ({ chain: { ...c, handle: 1 + i } })),
      ...plan.rules.map((r, i) => ({ rule: { ...r, handle: 100 + i, expr: r.expr.map((e) => (JSON.stringify(e).startsWith('{"counter"') ? { counter: { packets: 42, bytes: 4200 } } : e)) } })),
    ],
  });

  it('drops handles, zeroes counters and leaves meters empty, so it changes only when the table does', () => {
    const doc = savedDocument(listing);
    const text = JSON.stringify(doc);
    expect(text).not.toContain('"handle"');
    expect(text).not.toContain('"packets":42');
    expect(text).not.toContain('192.0.2.9');
    expect(text).not.toContain('metainfo');
    expect(doc).toEqual(planTransaction(plan));
    expect(diffTable(documentTable(JSON.stringify(doc)), documentTable(JSON.stringify(planTransaction(plan)))).equal).toBe(true);
  });

  it('documentTable refuses what is not a libnftables document', () => {
    expect(() => documentTable('{"x":1}')).toThrow(/not a libnftables JSON document/);
    expect(() => documentTable('broken')).toThrow();
  });
});

describe('bulwark-firewall.service (pure text, checked by systemd-analyze)', () => {
  const unit = parseUnit(renderBootUnit('/var/lib/bulwark/firewall'));

  it('runs before any network is configured, outside the default dependencies, from sysinit', () => {
    expect(unitValues(unit, 'Unit', 'DefaultDependencies')).toEqual(['no']);
    expect(unitValues(unit, 'Unit', 'Before').join(' ').split(' ')).toContain('network-pre.target');
    expect(unitValues(unit, 'Unit', 'Wants')).toEqual(['network-pre.target']);
    expect(unitValues(unit, 'Unit', 'After')).toEqual(['nftables.service']);
    expect(unitValues(unit, 'Install', 'WantedBy')).toEqual(['sysinit.target']);
    expect(unitValues(unit, 'Service', 'Type')).toEqual(['oneshot']);
    expect(unitValues(unit, 'Service', 'RemainAfterExit')).toEqual(['yes']);
    // either file may trigger it (a missing saved file still loads the fallback)
    expect(unitValues(unit, 'Unit', 'ConditionPathExists')).toEqual(['|/var/lib/bulwark/firewall/last-applied.json', '|/var/lib/bulwark/firewall/fallback.json']);
  });

  it('needs no Node.js: plain sh and nft, the saved file first, then the fallback', () => {
    const exec = unitValues(unit, 'Service', 'ExecStart');
    expect(exec).toHaveLength(1);
    const words = splitExecLine(exec[0]!);
    expect(words.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(words[2]).toBe(bootScript('/var/lib/bulwark/firewall'));
    expect(exec[0]).not.toMatch(/node|bulwark\.mjs/);
    expect(words[2]).toMatch(/nft -j -f \/var\/lib\/bulwark\/firewall\/last-applied\.json.*elif nft -j -f \/var\/lib\/bulwark\/firewall\/fallback\.json/);
  });

  it('passes systemd-analyze verify', async () => {
    const src = tmp();
    writeFileSync(join(src, 'bulwark-firewall.service'), renderBootUnit());
    const root = makeOfflineRoot(['bulwark-firewall.service'], src, { stubBinaries: ['/bin/sh', '/usr/sbin/nft'] });
    try {
      const v = await verifyUnit(root.root, 'bulwark-firewall.service');
      expect(v.findings).toEqual([]);
      expect(v.code).toBe(0);
    } finally {
      root.cleanup();
    }
  });

  it('the boot script (real sh, a stand-in nft): saved file if it loads, else the fallback, else the unit fails', () => {
    const d = tmp();
    const bin = join(d, 'bin');
    execFileSync('mkdir', ['-p', bin]);
    // stand-in nft: "loads" a file whose content is "ok", logs what it was asked
    writeFileSync(join(bin, 'nft'), `#!/bin/sh\necho "$*" >>"${d}/calls"\n[ "$(cat "$3" 2>/dev/null)" = ok ]\n`, { mode: 0o755 });
    const f = bootFiles(d);
    const runIt = () => spawnSync('/bin/sh', ['-c', bootScript(d)], { env: { PATH: `${bin}:/usr/bin:/bin` }, encoding: 'utf8' });
    writeFileSync(f.saved, 'ok');
    writeFileSync(f.fallback, 'ok');
    let r = runIt();
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('loaded the last applied table');
    expect(readFileSync(join(d, 'calls'), 'utf8')).toBe(`-j -f ${f.saved}\n`);
    writeFileSync(f.saved, 'broken');
    r = runIt();
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('loaded the fail-closed fallback');
    rmSync(f.saved);
    expect(runIt().status).toBe(0);
    writeFileSync(f.fallback, 'broken');
    r = runIt();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('neither the last applied ruleset nor the fallback loads');
  });
});
