import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EXIT, type Command } from '../core/command.js';
import { UsageError } from '../core/errors.js';
import { knownHostsPath } from '../config/locate.js';
import { runOk } from '../util/exec.js';
import { createNetwork, destroyNetwork, listNetns } from './netns.js';
import { bootMachine, destroyMachine, machineDir, machineState, prepareMachine, rebootMachine, stopMachine, waitForBoot, waitForSsh } from './machine.js';
import { ensureRootfs, type LabDebian } from './rootfs.js';
import { startLabAcme } from './acme.js';
import { planLabMirror, startLabMirror, stopAgent } from './mirror.js';
import { labConfigYaml, planLab, planLabAcme, type LabNode, type LabPlan } from './topology.js';

const HELP = `Usage: bulwark lab up [--nodes N] [--debian 12|13] [--config-out FILE] [--no-acme]
       bulwark lab down
       bulwark lab status [--json]
       bulwark lab stop|start|reboot NODE... [--json]

Three (or N) local Debian 12 machines for trying Bulwark, booted with systemd-nspawn, each in its own
network namespace on fresh overlays over a cached minimal rootfs (debootstrap; built once, ~1 min).
  public side      192.0.2.0/24     nodes .11.., an outside client .1 (namespace bwlab-out)
  management side  198.51.100.0/24  nodes .11.., this host (the operator) .1
The machines have systemd, dbus, sshd and iproute2 only: installing the rest is bootstrap's job. "up" writes a bulwark.yaml for them (default /var/lib/bwlab/bulwark.yaml) and an operator
SSH key; after a crash it removes the leftovers first. "down" removes every machine, overlay,
namespace and process. Needs root.

--debian 13 boots Debian 13 machines instead. An offline bundle is built on the node's own release and
this host is Debian 12, so those machines come with Bulwark's distro packages already installed
(provisioning/packages/debian-13.txt): bootstrap then has nothing to install.

The outside network also runs the lab's ACME CA (pebble, 192.0.2.1:443) and a DNS answer for the lab
names (n1.lab.bulwark.test .., wamp.lab.bulwark.test for all nodes; pebble-challtestsrv): the config gets
an acme: section, so every node's agent replaces its self-signed certificate with one from that CA.
"status --json" names the CA root file as acme.root. --no-acme leaves acme: out of the config (the CA
still runs; its section is in /var/lib/bwlab/acme/acme.yaml).

The lab also gets an apt mirror on the outside network (http://192.0.2.1/debian and /debian-security),
signed with a key made for the lab: for Debian 12, this host's .debs of what a machine lacks plus a canary
package; for Debian 13 (whose machines lack nothing), the canary only. Every node's apt sources point
there (provisioning.packages.mirrors); n1 and n2 still get their packages as an offline bundle, n3 from
the mirror (packages: apt). "status --json" names it as mirror (url, securityUrl, and publicKey: the file
holding the key its suites are signed with).

Then: bulwark -c FILE bootstrap --all      (make lab does both)

Each machine runs under a small supervisor that outlives this command: when the machine reboots itself
(systemctl reboot inside), it boots again in the same namespace on the same disk, as
systemd-nspawn@.service does. Every boot starts with the machine's nft ruleset emptied, as a real
reboot would. "status" shows each machine running or stopped and how often it booted.
  stop NODE     power the machine off in order (its disk, the overlay, stays); a stopped machine: no-op
  start NODE    boot it again and wait for its sshd (up to 90 s); a running machine: no-op
  reboot NODE   reboot it from inside (as systemctl reboot would) and wait until it is back with sshd;
                a stopped machine is started
NODE is a lab machine's name (n1, n2, ...); an unknown name is a usage error.

Exit codes: 0 ok, 1 a machine failed to come up (or, for status, is not running), 2 usage error.`;

/** Removes whatever a previous lab left: machines, overlays, namespaces, the operator link. */
export async function labDown(plan: LabPlan): Promise<void> {
  for (const n of plan.nodes) await destroyMachine(plan, n);
  // Machines beyond the planned count from an earlier, larger lab.
  const mdir = join(plan.stateDir, 'machines');
  if (existsSync(mdir)) {
    for (const name of readdirSync(mdir)) await destroyMachine(plan, { name, netns: `${plan.prefix}-${name}`, pubAddr: '', mgmtAddr: '' });
  }
  await destroyNetwork(plan);
  const mirror = planLabMirror(plan);
  if (existsSync(mirror.gnupg)) await stopAgent(mirror);
  rmSync(plan.stateDir, { recursive: true, force: true });
}

export async function labUp(plan: LabPlan, configOut: string, say: (m: string) => void, debian: LabDebian = '12', acmeInConfig = true): Promise<string> {
  await labDown(plan);
  const rootfs = await ensureRootfs(plan.cacheDir, say, debian);
  mkdirSync(join(plan.stateDir, 'operator'), { recursive: true, mode: 0o700 });
  const key = join(plan.stateDir, 'operator', 'id_ed25519');
  await runOk(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', 'bulwark-lab-operator', '-f', key]);
  const pub = readFileSync(`${key}.pub`, 'utf8');
  say('lab: network namespaces and bridges');
  await createNetwork(plan);
  for (const n of plan.nodes) {
    await prepareMachine(plan, n, rootfs, pub);
    bootMachine(plan, n);
  }
  say(`lab: booting ${plan.nodes.map((n) => n.name).join(', ')} (systemd-nspawn), waiting for sshd`);
  await Promise.all(
    plan.nodes.map((n) =>
      waitForSsh(n.mgmtAddr, 90_000).catch((e: Error) => {
        throw new Error(`${n.name}: ${e.message}\n${consoleTail(plan, n)}`);
      }),
    ),
  );
  const acme = await startLabAcme(plan, say);
  const mirror = await startLabMirror(plan, rootfs, say, debian);
  mkdirSync(dirname(configOut), { recursive: true });
  writeFileSync(configOut, labConfigYaml(plan, key, acmeInConfig ? acme.yaml : '', { url: mirror.url, securityUrl: mirror.securityUrl, publicKey: mirror.publicKey }));
  rmSync(knownHostsPath(configOut), { force: true });
  return configOut;
}

/** The lab's machines: those the plan names, and any an earlier, larger `lab up` left (by directory). */
export function labMachines(plan: LabPlan): LabNode[] {
  const mdir = join(plan.stateDir, 'machines');
  const extra = existsSync(mdir) ? readdirSync(mdir).filter((n) => /^n[1-9][0-9]*$/.test(n)) : [];
  const max = Math.max(plan.nodes.length, ...extra.map((n) => Number(n.slice(1))));
  const planned = new Set(plan.nodes.map((n) => n.name));
  return planLab(Math.min(max, 80), plan.prefix, plan.stateDir).nodes.filter((n) => planned.has(n.name) || extra.includes(n.name));
}

/** The lab machine called `name`; a usage error naming the lab's machines when there is none. */
export function findLabMachine(plan: LabPlan, name: string): LabNode {
  const nodes = labMachines(plan);
  const n = nodes.find((x) => x.name === name);
  if (!n || !existsSync(join(machineDir(plan, n), 'root'))) {
    const have = nodes.filter((x) => existsSync(join(machineDir(plan, x), 'root'))).map((x) => x.name);
    throw new UsageError(`unknown lab machine "${name}": ${have.length ? `the lab has ${have.join(', ')}` : 'the lab is not up (bulwark lab up)'}`);
  }
  return n;
}

export interface LifecycleResult {
  name: string;
  action: 'stop' | 'start' | 'reboot';
  /** False when there was nothing to do (stop of a stopped machine, start of a running one). */
  changed: boolean;
  running: boolean;
  seconds: number;
}

function consoleTail(plan: LabPlan, n: LabNode): string {
  const log = join(machineDir(plan, n), 'console.log');
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n') : '';
}

/** `lab stop|start|reboot` for one machine; start and reboot return once its sshd answers. */
export async function labLifecycle(plan: LabPlan, n: LabNode, action: LifecycleResult['action'], timeoutMs = 90_000): Promise<LifecycleResult> {
  const t0 = Date.now();
  let changed: boolean;
  if (action === 'stop') changed = await stopMachine(plan, n);
  else {
    let boot = 1;
    if (action === 'reboot' && machineState(plan, n).running) {
      boot = rebootMachine(plan, n);
      changed = true;
    } else changed = bootMachine(plan, n);
    if (changed) {
      try {
        await waitForBoot(plan, n, boot, timeoutMs);
        await waitForSsh(n.mgmtAddr, Math.max(1000, timeoutMs - (Date.now() - t0)));
      } catch (e) {
        throw new Error(`${n.name}: ${e instanceof Error ? e.message : String(e)}\n${consoleTail(plan, n)}`);
      }
    }
  }
  return { name: n.name, action, changed, running: machineState(plan, n).running, seconds: Math.round((Date.now() - t0) / 100) / 10 };
}

export interface LabStatus {
  prefix: string;
  machines: { name: string; pid?: number; running: boolean; boots: number; pub: string; mgmt: string }[];
  namespaces: string[];
  /** The lab's ACME CA: `root` is the CA root file that verifies every node's certificate. */
  acme?: { root: string; directory: string; directoryCa: string };
  /** The lab's apt mirror: its archives and the public key its suites are signed with. */
  mirror?: { url: string; securityUrl: string; publicKey: string };
}

export async function labStatus(plan: LabPlan): Promise<LabStatus> {
  const ns = (await listNetns()).filter((n) => n.startsWith(`${plan.prefix}-`));
  const machines = labMachines(plan).map((n) => {
    const st = machineState(plan, n);
    return { name: n.name, ...(st.pid !== undefined ? { pid: st.pid } : {}), running: st.running, boots: st.boots, pub: n.pubAddr, mgmt: n.mgmtAddr };
  });
  const acme = planLabAcme(plan);
  const mirror = planLabMirror(plan);
  const mirrorKey = join(mirror.dir, 'public.asc');
  return {
    prefix: plan.prefix,
    machines,
    namespaces: ns,
    ...(existsSync(acme.root) ? { acme: { root: acme.root, directory: acme.directory, directoryCa: acme.directoryCa } } : {}),
    ...(existsSync(mirrorKey) ? { mirror: { url: mirror.url, securityUrl: mirror.securityUrl, publicKey: mirrorKey } } : {}),
  };
}

export const command: Command = {
  name: 'lab',
  summary: 'three local Debian machines for trying Bulwark (up|down|status|stop|start|reboot)',
  help: HELP,
  async run(ctx, args) {
    const [verb, ...rest] = args;
    const lifecycle = verb === 'stop' || verb === 'start' || verb === 'reboot';
    const { values, positionals } = parseArgs({
      args: rest,
      options: { nodes: { type: 'string' }, debian: { type: 'string' }, 'config-out': { type: 'string' }, prefix: { type: 'string' }, 'no-acme': { type: 'boolean' } },
      strict: true,
      allowPositionals: lifecycle,
    });
    if (lifecycle && positionals.length === 0) throw new UsageError(`lab ${verb}: name the machine(s), e.g. bulwark lab ${verb} n2`);
    const count = values.nodes ? Number(values.nodes) : 3;
    if (!Number.isInteger(count)) throw new UsageError('--nodes must be a number');
    const debian = values.debian ?? '12';
    if (debian !== '12' && debian !== '13') throw new UsageError(`--debian must be 12 or 13, not "${debian}"`);
    const plan = planLab(count, values.prefix ?? 'bwlab');
    if (process.getuid?.() !== 0) {
      ctx.err.write('bulwark lab: needs root (namespaces, mounts, systemd-nspawn)\n');
      return EXIT.USAGE;
    }
    const say = (m: string) => ctx.err.write(m + '\n');
    switch (verb) {
      case 'up': {
        const t0 = Date.now();
        const out = resolve(values['config-out'] ?? join(plan.stateDir, 'bulwark.yaml'));
        try {
          await labUp(plan, out, say, debian, !values['no-acme']);
        } catch (e) {
          ctx.err.write(`lab up failed: ${e instanceof Error ? e.message : String(e)}\n`);
          return EXIT.CHECK_FAILED;
        }
        if (ctx.json) ctx.out.write(JSON.stringify({ config: out, nodes: plan.nodes }) + '\n');
        else ctx.out.write(`lab: ${plan.nodes.length} machines up in ${Math.round((Date.now() - t0) / 1000)} s; config: ${out}\n`);
        return EXIT.OK;
      }
      case 'down':
        await labDown(plan);
        if (!ctx.json) ctx.out.write('lab: down (machines, overlays, namespaces removed)\n');
        return EXIT.OK;
      case 'status': {
        const st = await labStatus(plan);
        if (ctx.json) ctx.out.write(JSON.stringify(st) + '\n');
        else {
          for (const m of st.machines) ctx.out.write(`${m.name}  ${m.running ? 'running' : 'stopped'}  pub ${m.pub}  mgmt ${m.mgmt}${m.pid ? `  pid ${m.pid}` : ''}\n`);
          ctx.out.write(`namespaces: ${st.namespaces.join(' ') || '(none)'}\n`);
          if (st.acme) ctx.out.write(`acme: directory ${st.acme.directory}, CA root ${st.acme.root}\n`);
        }
        return st.machines.every((m) => m.running) ? EXIT.OK : EXIT.CHECK_FAILED;
      }
      case 'stop':
      case 'start':
      case 'reboot': {
        const nodes = positionals.map((p) => findLabMachine(plan, p));
        const results: LifecycleResult[] = [];
        let failed = false;
        await Promise.all(
          nodes.map(async (n) => {
            try {
              const r = await labLifecycle(plan, n, verb);
              results.push(r);
              if (!ctx.json) {
                const what =
                  verb === 'stop' ? (r.changed ? 'stopped' : 'already stopped') : verb === 'start' && !r.changed ? 'already running' : `${verb === 'start' ? 'started' : 'rebooted'}, sshd answers`;
                ctx.out.write(`${n.name}: ${what} (${r.seconds} s)\n`);
              }
            } catch (e) {
              failed = true;
              ctx.err.write(`lab ${verb} ${n.name} failed: ${e instanceof Error ? e.message : String(e)}\n`);
              results.push({ name: n.name, action: verb, changed: false, running: machineState(plan, n).running, seconds: 0 });
            }
          }),
        );
        if (ctx.json) ctx.out.write(JSON.stringify({ machines: nodes.map((n) => results.find((r) => r.name === n.name)) }) + '\n');
        return failed ? EXIT.CHECK_FAILED : EXIT.OK;
      }
      default:
        throw new UsageError(verb ? `unknown lab verb "${verb}"` : 'missing verb: up, down, status, stop, start or reboot');
    }
  },
};
