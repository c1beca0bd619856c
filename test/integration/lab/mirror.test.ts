import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCanary, CANARY, publishToLabMirror, startLabMirror } from '../../../src/lab/mirror.js';
import { planLab } from '../../../src/lab/topology.js';
import { planSources } from '../../../src/updates/sources.js';
import { run, runOk } from '../../../src/util/exec.js';

// The lab's apt mirror, built and served in namespaces this test makes (bwtm-out holds 192.0.2.1 as the
// lab's outside network does; bwtm-c is an apt client), checked with the real apt: signature, indexes, and a
// security update published later. The .debs are what this host lacks for Bulwark's list (few, fast).
const state = mkdtempSync(join(tmpdir(), 'bw-mirror-'));
const plan = { ...planLab(1, 'bwtm', join(state, 'lab')), cacheDir: join(state, 'cache') };
const CLIENT = 'bwtm-c';
const apt = join(state, 'apt');

async function aptIn(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(['apt-get', ...args], { netns: CLIENT, env: { ...process.env, APT_CONFIG: join(apt, 'apt.conf'), DEBIAN_FRONTEND: 'noninteractive' }, timeoutMs: 120_000 });
}
async function policy(...pkgs: string[]): Promise<string> {
  return (await runOk(['apt-cache', 'policy', ...pkgs], { netns: CLIENT, env: { ...process.env, APT_CONFIG: join(apt, 'apt.conf') } })).stdout;
}

describe('the lab apt mirror, read by real apt', () => {
  let publicKey = '';
  beforeAll(async () => {
    for (const ns of [plan.outsideNs, CLIENT]) {
      await run(['ip', 'netns', 'del', ns]);
      await runOk(['ip', 'netns', 'add', ns]);
      await runOk(['ip', 'link', 'set', 'lo', 'up'], { netns: ns });
    }
    await runOk(['ip', 'link', 'add', 'bwtm-o0', 'netns', plan.outsideNs, 'type', 'veth', 'peer', 'name', 'bwtm-c0', 'netns', CLIENT]);
    await runOk(['ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'bwtm-o0'], { netns: plan.outsideNs });
    await runOk(['ip', 'addr', 'add', '192.0.2.50/24', 'dev', 'bwtm-c0'], { netns: CLIENT });
    await runOk(['ip', 'link', 'set', 'bwtm-o0', 'up'], { netns: plan.outsideNs });
    await runOk(['ip', 'link', 'set', 'bwtm-c0', 'up'], { netns: CLIENT });
    const m = await startLabMirror(plan, '/', (s) => process.stderr.write(`[mirror] ${s}\n`));
    publicKey = m.publicKey;
    // the client's apt: its own state, lists and sources; the sources are what Bulwark writes for a node
    for (const d of ['state/lists/partial', 'cache/archives/partial', 'sources.list.d', 'parts']) mkdirSync(join(apt, d), { recursive: true });
    // apt downloads as _apt: it must reach its lists directory
    chmodSync(state, 0o755);
    writeFileSync(join(apt, 'status'), '');
    writeFileSync(
      join(apt, 'apt.conf'),
      `Dir::State "${apt}/state"; Dir::State::status "${apt}/status"; Dir::Cache "${apt}/cache"; Dir::Etc::SourceList "/dev/null";\n` +
        `Dir::Etc::SourceParts "${apt}/sources.list.d"; Dir::Etc::Parts "${apt}/parts"; Dir::Etc::Preferences "/dev/null"; Dir::Etc::PreferencesParts "${apt}/parts"; Debug::NoLocking "1";\n`,
    );
    const p = planSources([], { id: 'debian', codename: 'bookworm' }, { mirrors: [m.url], securityMirror: m.securityUrl, signedBy: publicKey });
    for (const w of p.writes) writeFileSync(join(apt, 'sources.list.d', w.path.split('/').pop() as string), w.text);
  }, 600_000);
  afterAll(async () => {
    // every process in the outside namespace (the HTTP server) goes with it
    const pids = (await run(['ip', 'netns', 'pids', plan.outsideNs])).stdout.split('\n').filter(Boolean);
    for (const pid of pids) await run(['kill', '-9', pid]);
    await run(['ip', 'netns', 'del', plan.outsideNs]);
    await run(['ip', 'netns', 'del', CLIENT]);
    await run(['gpgconf', '--homedir', join(plan.stateDir, 'mirror', 'gnupg'), '--kill', 'all']);
    rmSync(state, { recursive: true, force: true });
  });

  it('apt-get update verifies every suite with the lab key (Signed-By embedded) and sees the canary 1.0', async () => {
    expect(publicKey).toContain('-----BEGIN PGP PUBLIC KEY BLOCK-----');
    const r = await aptIn(['update']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/NO_PUBKEY|not signed|W: /);
    expect(r.stdout).toMatch(/bookworm-security InRelease/);
    expect(await policy(CANARY)).toMatch(/Candidate: 1\.0/);
    expect(await policy()).toMatch(/o=Debian,a=stable,n=bookworm,l=Debian,c=main/);
  });

  it('a security update published later is in bookworm-security with the Debian-Security label', async () => {
    await publishToLabMirror(plan, 'bookworm-security', await buildCanary(state, '1.1'));
    const r = await aptIn(['update']);
    expect(r.code, r.stderr).toBe(0);
    expect(await policy(CANARY)).toMatch(/Candidate: 1\.1/);
    expect(await policy()).toMatch(/o=Debian,a=stable-security,n=bookworm-security,l=Debian-Security,c=main/);
    const dl = await aptIn(['install', '--download-only', '-y', CANARY]);
    expect(dl.code, dl.stderr).toBe(0);
  });

  it('a tampered index is refused: the signature covers it', async () => {
    const rel = join(plan.stateDir, 'mirror', 'www', 'debian', 'dists', 'bookworm', 'InRelease');
    const text = readFileSync(rel, 'utf8');
    writeFileSync(rel, text.replace('Label: Debian', 'Label: Debiam'));
    const r = await aptIn(['update']);
    expect(`${r.stdout}${r.stderr}`).toMatch(/BADSIG|not valid|is not signed|invalid/i);
  });
});
