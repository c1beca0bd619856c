import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parseDump, type WgDump } from './dump.js';
import { destroyFile, writeSecretFile } from './keystore.js';
import { renderPeerOp, type PeerOp } from './plan.js';
import { run, runOk } from '../util/exec.js';

function hex(b64: string): string {
  return Buffer.from(b64, 'base64').toString('hex');
}

/**
 * Thin adapter over `wg`, `ip` and wireguard-go's control socket (UAPI) for one WireGuard interface, optionally
 * inside a network namespace: every raw WireGuard call of the mesh is here.
 */
export class WgDevice {
  constructor(
    readonly iface: string,
    readonly netns?: string,
    /** A 0700 directory where a PSK briefly sits in a 0600 file for `wg` to read. */
    readonly secretDir?: string,
  ) {}

  private opts() {
    return { ...(this.netns ? { netns: this.netns } : {}), timeoutMs: 10_000 };
  }

  /** Runs one op; a PSK travels in a short-lived 0600 file, never on argv. */
  private async applyOne(op: PeerOp): Promise<void> {
    if (op.kind === 'set' && typeof op.psk === 'string') {
      if (!this.secretDir) throw new Error('WgDevice: no secret directory for a PSK file');
      const f = join(this.secretDir, `.psk-${randomBytes(6).toString('hex')}`);
      writeSecretFile(f, op.psk + '\n');
      try {
        await runOk(renderPeerOp(this.iface, op, f), this.opts());
      } finally {
        destroyFile(f);
      }
      return;
    }
    await runOk(renderPeerOp(this.iface, op), this.opts());
  }

  /** Tries `ip link add IFACE type wireguard`; false when the kernel has no WireGuard ("Unknown device type"). */
  async createKernel(): Promise<boolean> {
    return (await run(['ip', 'link', 'add', 'dev', this.iface, 'type', 'wireguard'], this.opts())).code === 0;
  }

  /** True when the link exists. */
  async exists(): Promise<boolean> {
    return (await run(['ip', 'link', 'show', 'dev', this.iface], this.opts())).code === 0;
  }

  /** `wg show IFACE dump`, parsed; null when the interface is not there or not WireGuard. */
  async dump(): Promise<WgDump | null> {
    const r = await run(['wg', 'show', this.iface, 'dump'], this.opts());
    if (r.code !== 0) return null;
    return parseDump(r.stdout);
  }

  async applyOps(ops: readonly PeerOp[]): Promise<void> {
    for (const op of ops) await this.applyOne(op);
  }

  /** Several peer ops at once (in parallel): for moves that should land as close together as possible. */
  async applyOpsParallel(ops: readonly PeerOp[]): Promise<void> {
    await Promise.all(ops.map((op) => this.applyOne(op)));
  }

  /** Sets the private key from a file (0600; never argv) and optionally the listen port. */
  async setPrivateKeyFile(path: string, listenPort?: number): Promise<void> {
    const argv = ['wg', 'set', this.iface, 'private-key', path];
    if (listenPort !== undefined) argv.push('listen-port', String(listenPort));
    await runOk(argv, this.opts());
  }

  /** Address (replacing), MTU and link up. */
  async configureLink(address: string, prefix: number, mtu: number): Promise<void> {
    await runOk(['ip', 'address', 'replace', `${address}/${prefix}`, 'dev', this.iface], this.opts());
    await runOk(['ip', 'link', 'set', 'dev', this.iface, 'mtu', String(mtu), 'up'], this.opts());
  }

  async linkState(): Promise<{ up: boolean; mtu: number; addresses: string[] } | null> {
    const r = await run(['ip', '-j', 'address', 'show', 'dev', this.iface], this.opts());
    if (r.code !== 0) return null;
    // ip -j output: [{ifname, flags[], mtu, addr_info:[{family, local, prefixlen}]}]
    const j = JSON.parse(r.stdout) as { flags?: string[]; mtu?: number; addr_info?: { family: string; local: string; prefixlen: number }[] }[];
    const l = j[0];
    if (!l) return null;
    return { up: (l.flags ?? []).includes('UP'), mtu: l.mtu ?? 0, addresses: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`) };
  }

  /** wireguard-go's control socket (shared by every namespace; kernel WireGuard has none). */
  get uapiSocket(): string {
    return `/var/run/wireguard/${this.iface}.sock`;
  }

  /**
   * One `set` transaction over wireguard-go's control socket (the cross-platform UAPI that `wg` itself
   * speaks): no process to spawn, so time-critical changes land within a fraction of a millisecond.
   * Returns false when there is no such socket (kernel WireGuard): use `wg set` then.
   */
  uapiSet(lines: readonly string[], timeoutMs = 5000): Promise<boolean> {
    if (!existsSync(this.uapiSocket)) return Promise.resolve(false);
    return new Promise((resolve, reject) => {
      const sock = connect(this.uapiSocket);
      let reply = '';
      const timer = setTimeout(() => sock.destroy(new Error(`${this.iface}: control socket timed out`)), timeoutMs);
      sock.on('data', (b: Buffer) => {
        reply += b.toString();
        if (reply.endsWith('\n\n')) sock.end();
      });
      sock.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      sock.on('close', () => {
        clearTimeout(timer);
        const m = /errno=(-?\d+)/.exec(reply);
        if (m && m[1] === '0') resolve(true);
        else reject(new Error(`${this.iface}: control socket refused the change (${reply.trim() || 'no reply'})`));
      });
      sock.write(`set=1\n${lines.join('\n')}\n\n`);
    });
  }

  /**
   * Loads a private key (from its 0600 file; never argv) and makes every listed peer handshake now (a keepalive
   * toggled on sends one at once; `keepalive` 0 turns it off again). wireguard-go: one control-socket
   * transaction; kernel: `wg set … private-key FILE`.
   */
  async loadPrivateKey(file: string, peerKeys: readonly string[], keepalive: number): Promise<void> {
    const key = readFileSync(file, 'utf8').trim();
    const lines = [`private_key=${hex(key)}`];
    for (const k of peerKeys) {
      lines.push(`public_key=${hex(k)}`, 'update_only=true', 'persistent_keepalive_interval=0');
      lines.push(`public_key=${hex(k)}`, 'update_only=true', `persistent_keepalive_interval=${keepalive || 1}`);
      if (!keepalive) lines.push(`public_key=${hex(k)}`, 'update_only=true', 'persistent_keepalive_interval=0');
    }
    if (await this.uapiSet(lines)) return;
    const argv = ['wg', 'set', this.iface, 'private-key', file];
    for (const k of peerKeys) {
      argv.push('peer', k, 'persistent-keepalive', '0', 'peer', k, 'persistent-keepalive', String(keepalive || 1));
      if (!keepalive) argv.push('peer', k, 'persistent-keepalive', '0');
    }
    const r = await run(argv, this.netns ? { netns: this.netns } : {});
    if (r.code !== 0) throw new Error(`wg set private-key failed: ${r.stderr.trim()}`);
  }

  /** Moves allowed-ips onto one peer in one transaction (they leave whichever peer had them). */
  async moveAllowedIps(publicKey: string, allowedIps: readonly string[]): Promise<void> {
    const lines = [`public_key=${hex(publicKey)}`, 'update_only=true', 'replace_allowed_ips=true', ...allowedIps.map((a) => `allowed_ip=${a}`)];
    if (!(await this.uapiSet(lines))) await this.applyOps([{ kind: 'set', publicKey, allowedIps: [...allowedIps] }]);
  }

  async delete(): Promise<void> {
    await run(['ip', 'link', 'delete', 'dev', this.iface], this.opts());
  }
}
