import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Config, NodeSpec } from '../config/schema.js';
import type { BootstrapGuard } from '../core/cluster.js';
import { WIREGUARD_GO_UNIT_FILE } from '../config/locate.js';
import { assetPath } from '../util/assets.js';
import { bundleFor } from './bundle.js';
import { loadDistros, packagesFor, type Distro } from '../config/distros.js';
import { evaluatePreflight, FACTS_SCRIPT, parseFacts, type NodeFacts } from './preflight.js';
import { shQuote, type NodeSession } from '../remote/ssh.js';
import { NodeError } from '../core/errors.js';
import { RELEASE_LAYOUT, stageScript, switchScript } from './releases.js';

export interface StepResult {
  step: string;
  changed: boolean;
  detail: string;
}

export class PreflightError extends NodeError {
  override name = 'PreflightError';
}

export async function preflight(s: NodeSession, cfg: Config, guards: readonly BootstrapGuard<Config>[] = []): Promise<{ facts: NodeFacts; distro: Distro; result: StepResult }> {
  const r = await s.exec(FACTS_SCRIPT);
  const conn = await s.exec('echo "$SSH_CONNECTION"');
  for (const g of guards) {
    const refused = g.check(cfg, s.node.name, conn.stdout);
    if (refused) throw new PreflightError(refused);
  }
  if (r.code !== 0 && s.sudo) throw new PreflightError('sudo without a password is required for a non-root SSH user');
  const facts = parseFacts(r.stdout);
  const verdict = evaluatePreflight(facts, loadDistros(), cfg.provisioning.minFreeDiskMiB);
  if (!verdict.ok || !verdict.distro) throw new PreflightError(verdict.problems.join('; '));
  if (verdict.arch !== process.arch) throw new PreflightError(`node is ${facts.arch}; this runtime artifact is for ${process.arch}`);
  return { facts, distro: verdict.distro, result: { step: 'preflight', changed: false, detail: `${facts.pretty}, ${facts.arch}, ${facts.freeMiB} MiB free` } };
}

/**
 * Units that packages in our lists enable and start on install, which Bulwark runs its own way: masked before
 * apt-get runs, so they never start (Debian's nats-server.service listens without authentication; the fabric
 * runs bulwark-nats.service instead). A mask is a symlink to /dev/null, made even where systemd isn't running.
 */
export const MASK_BEFORE_INSTALL = ['nats-server.service'];
const maskFirst = MASK_BEFORE_INSTALL.map((u) => `[ -e /etc/systemd/system/${u} ] || ln -s /dev/null /etc/systemd/system/${u}`).join(' && ');

export async function installPackages(s: NodeSession, node: NodeSpec, cfg: Config, facts: NodeFacts, distro: Distro, say: (m: string) => void): Promise<StepResult> {
  const wanted = packagesFor(distro);
  const q = await s.exec(`dpkg-query -W -f='\${Package} \${Status}\\n' ${wanted.map(shQuote).join(' ')} 2>/dev/null; true`);
  const installed = new Set(
    q.stdout
      .split('\n')
      .filter((l) => l.endsWith('install ok installed'))
      .map((l) => l.split(' ')[0]),
  );
  const missing = wanted.filter((p) => !installed.has(p));
  if (missing.length === 0) return { step: 'packages', changed: false, detail: 'no changes' };
  const source = node.packages ?? cfg.provisioning.packages.mode;
  const env = 'DEBIAN_FRONTEND=noninteractive';
  if (source === 'apt') {
    say(`packages: apt-get install ${missing.join(' ')}`);
    await s.execOk(`${maskFirst} && ${env} apt-get update -qq && ${env} apt-get install -y -qq --no-install-recommends ${missing.map(shQuote).join(' ')}`);
    return { step: 'packages', changed: true, detail: `installed ${missing.join(' ')} from the node's apt sources` };
  }
  say(`packages: building offline bundle for ${missing.join(' ')}`);
  const status = await s.execOk('cat /var/lib/dpkg/status');
  const bundle = await bundleFor(facts, status.stdout, missing);
  say(`packages: uploading ${bundle.debs.length} .debs, installing`);
  const dir = '/var/cache/bulwark/bundle';
  // Readable by apt's unprivileged download user; packages are public, nothing secret here.
  await s.execOk(`rm -rf ${dir} && mkdir -p -m 0755 ${dir} && tar -xf - -C ${dir} --no-same-owner && chmod 0644 ${dir}/*.deb`, readFileSync(bundle.tarPath));
  await s.execOk(`${maskFirst} && cd ${dir} && ${env} apt-get install -y -qq --no-install-recommends ${bundle.debs.map((d) => './' + shQuote(basename(d))).join(' ')} && rm -rf ${dir}`);
  return { step: 'packages', changed: true, detail: `installed ${missing.join(' ')} (${bundle.debs.length} .debs from an offline bundle)` };
}

/** The runtime's path on a node: a link to the current release (src/provision/releases.ts). */
export const RUNTIME_DIR = RELEASE_LAYOUT.link;

export async function installRuntime(s: NodeSession, artifact: { path: string; sha256: string }, say: (m: string) => void): Promise<StepResult> {
  const cur = await s.exec(`cat ${RUNTIME_DIR}/.runtime-sha256 2>/dev/null`);
  if (cur.stdout.trim() === artifact.sha256) return { step: 'runtime', changed: false, detail: 'no changes' };
  const up = '/var/lib/bulwark/upload';
  await s.execOk(`mkdir -p -m 0700 /var/lib/bulwark ${up}` + (s.sudo ? ` && chown "$SUDO_USER" ${up}` : ''));
  say('runtime: uploading');
  const remote = `${up}/runtime.tar.gz`;
  await s.upload(artifact.path, remote);
  say('runtime: checking SHA-256, installing');
  // a release directory of its own under /opt/bulwark/releases, made current by an atomic link switch;
  // the release it replaces stays as `previous` (src/provision/releases.ts; `bulwark upgrade` rolls back to it)
  await s.execOk(stageScript(remote, artifact.sha256));
  await s.execOk(switchScript(artifact.sha256, RELEASE_LAYOUT, { agentUnit: false }));
  const r = await s.execOk(`${RELEASE_LAYOUT.wrapper} --version`);
  return { step: 'runtime', changed: true, detail: `installed ${r.stdout.trim()} (sha256 ${artifact.sha256.slice(0, 12)}… verified)` };
}

export async function installConfig(s: NodeSession, node: NodeSpec, cfg: Config, configText: string): Promise<StepResult> {
  await s.execOk('mkdir -p /etc/bulwark && chmod 0755 /etc/bulwark');
  const a = await s.writeFileIfChanged('/etc/bulwark/bulwark.yaml', configText, '0640');
  // The router container (its own uid, read-only view of /etc/bulwark) reads the router section: group
  // routerUid, mode 0640, set when the file is new or has drifted (and then reported as a change)
  const f = '/etc/bulwark/bulwark.yaml';
  const perms = await s.execOk(`[ "$(stat -c %g:%a ${f})" = "${cfg.apps.routerUid}:640" ] && echo same || { chgrp ${cfg.apps.routerUid} ${f} && chmod 0640 ${f} && echo fixed; }`);
  const c = perms.stdout.trim() === 'fixed';
  const b = await s.writeFileIfChanged('/etc/bulwark/node.json', JSON.stringify({ name: node.name }) + '\n', '0644');
  return { step: 'config', changed: a || b || c, detail: a || b ? 'updated /etc/bulwark' : c ? `set group ${cfg.apps.routerUid} and mode 0640 on ${f}` : 'no changes' };
}

/** Installs and (re)starts the agent unit; restarts only when the runtime or the unit changed. */
export async function installAgentUnit(s: NodeSession, runtimeChanged: boolean, configChanged: boolean): Promise<StepResult> {
  const unit = readFileSync(assetPath('units', 'bulwark-agent.service'), 'utf8');
  const unitChanged = await s.writeFileIfChanged('/etc/systemd/system/bulwark-agent.service', unit, '0644');
  // the mesh's userspace WireGuard (kernels without the module) runs in its own unit, started by the agent
  const wgUnit = readFileSync(assetPath('units', basename(WIREGUARD_GO_UNIT_FILE)), 'utf8');
  const wgUnitChanged = await s.writeFileIfChanged(WIREGUARD_GO_UNIT_FILE, wgUnit, '0644');
  const did: string[] = [];
  if (unitChanged || wgUnitChanged) {
    await s.execOk('systemctl daemon-reload');
    if (unitChanged) did.push('unit installed');
    if (wgUnitChanged) did.push('wireguard-go unit installed');
  }
  const enabled = await s.exec('systemctl is-enabled bulwark-agent');
  if (enabled.stdout.trim() !== 'enabled') {
    await s.execOk('systemctl enable -q bulwark-agent');
    did.push('enabled');
  }
  const active = (await s.exec('systemctl is-active bulwark-agent')).stdout.trim() === 'active';
  if (!active) {
    await s.execOk('systemctl start bulwark-agent');
    did.push('started');
  } else if (runtimeChanged || unitChanged) {
    await s.execOk('systemctl restart bulwark-agent');
    did.push('restarted');
  } else if (configChanged) {
    await s.execOk('systemctl reload bulwark-agent');
    did.push('reloaded');
  }
  return { step: 'agent', changed: did.length > 0, detail: did.length ? did.join(', ') : 'no changes' };
}

/** Waits until the agent answers on its control socket. */
export async function waitAgentReady(s: NodeSession, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const r = await s.exec('systemctl is-active bulwark-agent && systemctl show -p StatusText --value bulwark-agent');
    const [state, text] = r.stdout.split('\n');
    if (state === 'active' && text) return text;
    last = r.stdout.trim() || r.stderr.trim();
    await new Promise((res) => setTimeout(res, 300));
  }
  throw new Error(`agent not ready after ${timeoutMs / 1000} s (${last}); see journalctl -u bulwark-agent`);
}

/**
 * The agent's status once no capability reports failing: a first pass whose router image build outlasts
 * its budget reports containers failing ("still running after its time budget") and the next pass, 20 s
 * later, reports it done; a capability still failing after `timeoutMs` is the answer.
 */
export async function waitAgentConverged(s: NodeSession, first: string, timeoutMs = 90_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let status = first;
  while (/\d+ failing: /.test(status) && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 2_000));
    status = (await s.exec('systemctl show -p StatusText --value bulwark-agent')).stdout.trim() || status;
  }
  return status;
}
