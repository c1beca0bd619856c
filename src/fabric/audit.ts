import { connect } from 'node:net';
import type { AuditCheck, AuditProvider } from '../core/audit.js';
import type { Config } from '../config/schema.js';
import { Systemctl } from '../systemd/systemctl.js';
import { securityExposure } from '../systemd/units.js';
import { run } from '../util/exec.js';
import { type MeshAddresses, readMemberNames } from './members.js';
import { DEBIAN_NATS_UNIT, type FabricPaths, NATS_UNIT, nodePaths } from './paths.js';
import { planFabric } from './plan.js';
import { NATS_CLIENT_PORT } from './schema.js';
import { knownPeerCerts } from './reconciler.js';
import { readFileSync, statSync } from 'node:fs';

/** bulwark-nats.service's `systemd-analyze security` exposure must stay at or under this (it reaches 1.1). */
export const NATS_EXPOSURE_LIMIT = 1.2;

const DESIGN = 'Bulwark fabric design (docs/FABRIC-SECURITY.md)';

export interface Listener {
  address: string;
  port: number;
}

/** TCP listeners in `ss -Htln` output. Pure. */
export function parseListeners(ss: string): Listener[] {
  const out: Listener[] = [];
  for (const line of ss.split('\n')) {
    const f = line.trim().split(/\s+/);
    const local = f[3];
    if (!local) continue;
    const i = local.lastIndexOf(':');
    const address = local
      .slice(0, i)
      .replace(/^\[|\]$/g, '')
      .replace(/%.*$/, '');
    const port = Number(local.slice(i + 1));
    if (Number.isInteger(port) && port > 0) out.push({ address, port });
  }
  return out;
}

/** Every listener on `port` is on exactly `address` (and there is one). Pure. */
export function boundOnlyTo(listeners: readonly Listener[], port: number, address: string, id: string, baseline: string): AuditCheck {
  const on = listeners.filter((l) => l.port === port);
  const bad = on.filter((l) => l.address !== address);
  if (on.length === 0) return { id, status: 'fail', evidence: `nothing listens on port ${port}`, baseline };
  return { id, status: bad.length ? 'fail' : 'pass', evidence: `port ${port} on ${on.map((l) => l.address).join(', ')}${bad.length ? ` (only ${address} wanted)` : ''}`, baseline };
}

/** The nats.conf text's cluster block has TLS with verify: true and no no_auth_user anywhere. Pure. */
export function confChecks(conf: string | undefined): AuditCheck[] {
  if (conf === undefined) return [{ id: 'fabric.config', status: 'fail', evidence: 'nats.conf missing', baseline: DESIGN }];
  const noComments = conf.replace(/#.*$/gm, '');
  const cluster = /\bcluster\s*\{([\s\S]*?)\n\}/.exec(noComments)?.[1] ?? '';
  const tls = /\btls\s*\{([\s\S]*?)\}/.exec(cluster)?.[1] ?? '';
  const verify = /\bverify\s*:\s*true\b/.test(tls);
  const ca = /\bca_file\s*:/.test(tls);
  const users = [...noComments.matchAll(/\{\s*nkey\s*:\s*"U[A-Z2-7]{55}"/g)].length;
  const passwords = /\b(password|token|user)\s*:/.test(noComments.replace(/\busers\s*:/g, ''));
  const noAuthUser = /\bno_auth_user\b/.test(noComments);
  const extra = ['leafnodes', 'gateway', 'websocket', 'mqtt', 'accounts'].filter((k) => new RegExp(`^\\s*${k}\\s*[:{]`, 'm').test(noComments));
  return [
    {
      id: 'fabric.route-tls',
      status: verify && ca ? 'pass' : 'fail',
      evidence:
        verify && ca
          ? 'cluster tls: verify true, ca_file of pinned member certificates'
          : `cluster tls ${tls ? '' : 'absent'}${tls && !verify ? 'without verify: true' : ''}${tls && !ca ? ' without ca_file' : ''}`,
      baseline: 'NATS: cluster routes with mutual TLS (tls.verify true)',
    },
    {
      id: 'fabric.client-auth',
      status: !noAuthUser && users > 0 && !passwords ? 'pass' : 'fail',
      evidence: noAuthUser
        ? 'no_auth_user is set (CVE-2023-47090 class: unauthenticated clients get a user)'
        : users > 0 && !passwords
          ? `${users} nkey user(s), no no_auth_user, no passwords or tokens`
          : 'no nkey users, or passwords/tokens configured',
      baseline: 'NATS: every client authenticates (nkeys); never no_auth_user',
    },
    {
      id: 'fabric.listeners',
      status: extra.length ? 'fail' : 'pass',
      evidence: extra.length ? `configured: ${extra.join(', ')}` : 'no leafnodes, gateway, websocket, MQTT or accounts blocks',
      baseline: DESIGN,
    },
  ];
}

/** A client that does not authenticate is refused: CONNECT without credentials gets -ERR 'Authorization Violation'. */
export function probeAnonymous(port = NATS_CLIENT_PORT, host = '127.0.0.1', timeoutMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    let buf = '';
    const done = (v: string) => {
      clearTimeout(t);
      s.destroy();
      resolve(v);
    };
    const t = setTimeout(() => done(`no answer within ${timeoutMs} ms: ${JSON.stringify(buf.slice(0, 80))}`), timeoutMs);
    s.on('error', (e) => done(`connect failed: ${e.message}`));
    s.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      if (buf.startsWith('INFO') && buf.includes('\r\n') && !buf.includes('CONNECT-SENT')) {
        buf += 'CONNECT-SENT';
        s.write('CONNECT {"verbose":false,"pedantic":false,"lang":"audit","version":"0"}\r\nPING\r\n');
      }
      if (/-ERR[^\r]*\r\n/.test(buf)) done((/-ERR[^\r]*/.exec(buf)?.[0] ?? '').trim());
      else if (buf.includes('PONG')) done('PONG (accepted without credentials)');
    });
  });
}

/** The router's socket directory admits root and the router's group only (the socket inside is 0666). */
export function socketDirCheck(dir: string, routerGid: number): AuditCheck {
  const baseline = 'NATS: client port on the loopback address only';
  try {
    const st = statSync(dir);
    const ok = (st.mode & 0o777) === 0o750 && st.uid === 0 && st.gid === routerGid;
    return { id: 'fabric.socket-private', status: ok ? 'pass' : 'fail', evidence: `${dir} ${(st.mode & 0o777).toString(8)} ${st.uid}:${st.gid}${ok ? '' : ` (0750 0:${routerGid} wanted)`}`, baseline };
  } catch {
    return { id: 'fabric.socket-private', status: 'fail', evidence: `${dir} missing`, baseline };
  }
}

export interface FabricAuditOptions {
  addresses: MeshAddresses;
  /** The firewall plan's inbound allows for this node (src/firewall, handed in by src/cli/plugins.ts). */
  inputAllows: (config: Config, nodeName: string) => Promise<{ id: string; iifname?: string; ports: readonly (readonly [number, number])[]; from: string[] | null }[]>;
  paths?: FabricPaths;
  listeners?: () => Promise<Listener[]>;
}

const ssListeners = async (): Promise<Listener[]> => parseListeners((await run(['ss', '-Htln'], { timeoutMs: 5000 })).stdout);

/** The fabric's posture: loopback-only clients, route port on the mesh address only behind mutual TLS, no anonymous users, the firewall rule, the unit and its exposure. */
export function createFabricAudit(o: FabricAuditOptions): AuditProvider<Config> {
  const paths = o.paths ?? nodePaths();
  return {
    name: 'fabric',
    async run(ctx): Promise<AuditCheck[]> {
      const checks: AuditCheck[] = [];
      const sc = new Systemctl();
      const debian = (await sc.raw(['is-enabled', DEBIAN_NATS_UNIT])).stdout.trim();
      const debianActive = await sc.isActive(DEBIAN_NATS_UNIT);
      checks.push({
        id: 'fabric.package-unit-masked',
        status: debian === '' || debian === 'masked' || debian === 'not-found' ? (debianActive ? 'fail' : 'pass') : 'fail',
        evidence: `${DEBIAN_NATS_UNIT}: ${debian || 'not installed'}${debianActive ? ', active' : ''}`,
        baseline: "CIS Debian 12 L1: unneeded network services are not enabled (the package's unauthenticated nats-server.service)",
      });
      const members = readMemberNames();
      const cfg = ctx.config;
      const plan = planFabric({
        cluster: cfg.cluster,
        fabric: cfg.fabric,
        meshInterface: cfg.mesh.interface,
        nodeName: ctx.nodeName,
        members,
        addresses: members ? o.addresses(cfg.mesh.cidr, members, cfg.mesh.addresses) : new Map(),
        knownCerts: new Set(knownPeerCerts(paths.peersDir).keys()),
      });
      if (!plan.active) {
        checks.push({ id: 'fabric.active', status: 'n/a', evidence: `no NATS on this node: ${plan.reason}` });
        const listeners = await (o.listeners ?? ssListeners)();
        const stray = listeners.filter((l) => l.port === NATS_CLIENT_PORT || l.port === cfg.fabric.routePort);
        checks.push({
          id: 'fabric.no-listeners',
          status: stray.length ? 'fail' : 'pass',
          evidence: stray.length ? `listening: ${stray.map((l) => `${l.address}:${l.port}`).join(', ')}` : `nothing on ${NATS_CLIENT_PORT} or ${cfg.fabric.routePort}`,
          baseline: DESIGN,
        });
        return checks;
      }
      const active = await sc.isActive(NATS_UNIT);
      checks.push({ id: 'fabric.active', status: active ? 'pass' : 'fail', evidence: `${NATS_UNIT} ${active ? 'active' : 'inactive'} (${plan.peers.length + 1} members)`, baseline: DESIGN });
      const listeners = await (o.listeners ?? ssListeners)();
      checks.push(boundOnlyTo(listeners, NATS_CLIENT_PORT, '127.0.0.1', 'fabric.client-loopback', 'NATS: client port on the loopback address only'));
      checks.push(boundOnlyTo(listeners, plan.routePort, plan.self.address, 'fabric.route-mesh-only', `NATS: route port on the ${plan.meshInterface} address only`));
      if (cfg.fabric.monitorPort) checks.push(boundOnlyTo(listeners, cfg.fabric.monitorPort, '127.0.0.1', 'fabric.monitor-loopback', 'NATS: monitoring on the loopback address only'));
      let conf: string | undefined;
      try {
        conf = readFileSync(paths.natsConf, 'utf8');
      } catch {
        conf = undefined;
      }
      checks.push(...confChecks(conf));
      if (active) {
        const r = await probeAnonymous();
        const refused = /Authorization Violation/i.test(r);
        checks.push({
          id: 'fabric.anonymous-refused',
          status: refused ? 'pass' : 'fail',
          evidence: `CONNECT without credentials: ${r}`,
          baseline: 'NATS: every client authenticates (nkeys); never no_auth_user',
        });
      }
      checks.push(socketDirCheck(paths.socketDir, cfg.apps.routerUid));
      const allows = await o.inputAllows(cfg, ctx.nodeName);
      const fw = allows.find((a) => a.id === 'in-fabric-routes');
      const want = plan.peers
        .filter((p) => p.certKnown)
        .map((p) => `${p.address}/32`)
        .sort();
      const got = [...(fw?.from ?? [])].map((c) => (c.includes('/') ? c : `${c}/32`)).sort();
      const fwOk = Boolean(fw && fw.iifname === plan.meshInterface && fw.ports.every(([a, b]) => a === plan.routePort && b === plan.routePort) && JSON.stringify(got) === JSON.stringify(want));
      const others = allows.filter((a) => a.id !== 'in-fabric-routes' && a.ports.some(([a1, b1]) => a1 <= plan.routePort && plan.routePort <= b1));
      checks.push({
        id: 'fabric.firewall',
        status: fwOk && others.length === 0 ? 'pass' : 'fail',
        evidence: fw
          ? `route port ${plan.routePort} accepted on ${fw.iifname ?? 'any interface'} from ${got.join(', ') || 'nobody'}${fwOk ? '' : ` (wanted ${want.join(', ')} on ${plan.meshInterface})`}${others.length ? `; also opened by ${others.map((a) => a.id).join(', ')}` : ''}`
          : 'no rule for the route port',
        baseline: DESIGN,
      });
      const score = (await securityExposure([NATS_UNIT], '/').catch(() => new Map<string, { score: number; verdict: string }>())).get(NATS_UNIT);
      checks.push(
        score
          ? {
              id: `unit.${NATS_UNIT}.exposure`,
              status: score.score <= NATS_EXPOSURE_LIMIT ? 'pass' : 'fail',
              evidence: `exposure ${score.score.toFixed(1)} ${score.verdict} (limit ${NATS_EXPOSURE_LIMIT})`,
              baseline: 'systemd-analyze security exposure',
            }
          : { id: `unit.${NATS_UNIT}.exposure`, status: 'n/a', evidence: 'systemd-analyze security gave no score' },
      );
      return checks;
    },
  };
}
