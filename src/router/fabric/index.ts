import { readFileSync, statSync } from 'node:fs';
import type { Logger } from 'pino';
import type { FabricConfig } from '../config.js';
import type { Router } from '../core/router.js';
import { KvClaims } from './claims.js';
import { Fabric } from './fabric.js';
import { bridgeToSocket, type SocketBridge } from './socket-bridge.js';

export { Fabric } from './fabric.js';

export type { FabricConfig };

export interface RunningFabric {
  fabric: Fabric;
  close(): Promise<void>;
}

/** The nkey seed, from a file only its owner may read (else a clear error naming the file). */
export function readSeed(file: string): Uint8Array {
  const st = statSync(file);
  if ((st.mode & 0o077) !== 0) throw new Error(`${file}: the NATS nkey seed must be readable by its owner only (mode 0600), is ${(st.mode & 0o777).toString(8)}`);
  const seed = readFileSync(file, 'utf8').trim();
  if (!/^SU[A-Z2-7]{56}$/.test(seed)) throw new Error(`${file}: not a NATS user nkey seed (SU...)`);
  return new TextEncoder().encode(seed);
}

/**
 * The `nats` client module. It is CommonJS with re-exports that Node's own loader sees as named exports but a
 * bundler cannot: in the runtime bundle (esbuild, format esm) they sit on the namespace's `default` only.
 */
export async function loadNats(): Promise<typeof import('nats')> {
  const ns: typeof import('nats') & { default?: typeof import('nats') } = await import('nats');
  return typeof ns.connect === 'function' ? ns : (ns.default ?? ns);
}

/**
 * Joins this router to the cluster: hooks the realms at once (before any session), then connects to the
 * local nats-server (through the Unix socket when `nats.socket` is set) in the background, retrying for
 * ever; until then the node serves its own sessions only. Loaded only when the config has `fabric:`.
 */
export async function startFabric(router: Router, cfg: FabricConfig, log: Logger): Promise<RunningFabric> {
  const { connect, nkeyAuthenticator } = await loadNats();
  const seed = cfg.nats.nkeySeedFile !== undefined ? readSeed(cfg.nats.nkeySeedFile) : undefined;
  const fabric = new Fabric(router, { node: cfg.node, heartbeatMs: cfg.heartbeatMs, deadAfterMs: cfg.deadAfterMs }, log.child({ fabric: cfg.node }));
  fabric.attach();
  let bridge: SocketBridge | undefined;
  if (cfg.nats.socket !== undefined) bridge = await bridgeToSocket(cfg.nats.socket);
  const url = bridge?.url ?? cfg.nats.url;
  let stopped = false;
  let nc: Awaited<ReturnType<typeof connect>> | undefined;
  const connecting = (async () => {
    nc = await connect({
      servers: url,
      name: `bulwark-router-${cfg.node}`,
      ...(seed ? { authenticator: nkeyAuthenticator(seed) } : {}),
      waitOnFirstConnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      pingInterval: 2000,
      maxPingOut: 2,
    });
    if (stopped) return void (await nc.close());
    log.info({ node: cfg.node, nats: cfg.nats.socket ?? cfg.nats.url }, 'fabric: connected to nats-server');
    fabric.run(nc);
    // the claims bucket: JetStream may need a few seconds after the cluster forms (meta leader election)
    const since = Date.now();
    for (;;) {
      try {
        // for the first 20 s a cluster is given time to bring all its servers (3 replicas where 3 exist)
        const settle = Date.now() - since < 20_000;
        const claims = await KvClaims.open(nc, fabric.epoch, (node) => fabric.alive(node), log, Math.max(1000, cfg.deadAfterMs), settle);
        fabric.useClaims(claims);
        log.info({ node: cfg.node, replicas: claims.replicas }, 'fabric: registration claims ready');
        return;
      } catch (e) {
        if (stopped) return;
        if (Date.now() - since > 60_000) {
          log.warn({ err: String(e) }, 'fabric: no JetStream: registrations are checked against the replica only');
          return fabric.useClaims(null);
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  })().catch((e: unknown) => log.error({ err: String(e) }, 'fabric: cannot connect to nats-server'));
  return {
    fabric,
    close: async () => {
      stopped = true;
      await fabric.close();
      if (nc) await nc.close().catch(() => undefined);
      await Promise.race([connecting, new Promise((r) => setTimeout(r, 100))]);
      await bridge?.close();
    },
  };
}
