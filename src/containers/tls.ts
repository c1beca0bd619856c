import { chmodSync, chownSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from '../config/schema.js';
import { runOk } from '../util/exec.js';
import { ROUTER_STATE_DIR } from './argv.js';

/** The TLS files the router's listeners name, with the node's public address for the certificate. Pure. */
export function wantedTls(cfg: Config, nodeName: string): { cert: string; key: string; address?: string }[] {
  const address = cfg.nodes.find((n) => n.name === nodeName)?.endpoint;
  const out: { cert: string; key: string; address?: string }[] = [];
  for (const l of cfg.router.listeners ?? []) {
    if (l.type === 'websocket' && l.tls) out.push({ cert: l.tls.cert, key: l.tls.key, address });
  }
  return out;
}

/**
 * Makes a self-signed certificate where a listener's certificate and key don't exist yet, on the node
 * itself (the private key is made where it is used and never travels). Key 0640 root:ROUTER, readable by
 * the router only. Operators replace both files with their CA's; existing files are never touched.
 * Returns the files it made.
 */
export async function ensureRouterTls(cfg: Config, nodeName: string): Promise<string[]> {
  const made: string[] = [];
  for (const t of wantedTls(cfg, nodeName)) {
    for (const d of new Set([dirname(t.cert), dirname(t.key)])) {
      // Our own directories get an explicit mode and group (the agent's umask 0077 would leave them
      // unreadable for the router); an operator's directories elsewhere are left as they are.
      if (!d.startsWith(`${ROUTER_STATE_DIR}/`) && existsSync(d)) continue;
      mkdirSync(d, { recursive: true });
      chownSync(d, 0, cfg.apps.routerUid);
      chmodSync(d, 0o750);
    }
    if (existsSync(t.cert) || existsSync(t.key)) continue;
    const cn = t.address ?? nodeName;
    const san = t.address ? `IP:${t.address}` : `DNS:${nodeName}`;
    await runOk([
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      t.key,
      '-out',
      t.cert,
      '-days',
      '825',
      '-subj',
      `/CN=${cn}`,
      '-addext',
      `subjectAltName=${san},DNS:${nodeName}`,
    ]);
    chownSync(t.key, 0, cfg.apps.routerUid);
    chmodSync(t.key, 0o640);
    chmodSync(t.cert, 0o644);
    made.push(t.cert, t.key);
  }
  return made;
}
