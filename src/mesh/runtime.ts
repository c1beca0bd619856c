import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { run } from '../util/exec.js';
import { MeshConfigError } from './addresses.js';
import { tryKernelInterface, WireguardGoSupervisor, WireguardGoUnit, wireguardGoUnitAvailable, type Backend, type UserspaceWireGuard } from './interface.js';
import { isWgKey, keysEqual } from './keys.js';
import { KeyStore, MEMBERS_FILE, writeSecretFile, type NodeKeys } from './keystore.js';
import { desiredInterface, formatEndpoint, meshPeers, planPeerOps, type DesiredInterface, type MeshPeer, type PeerOp } from './plan.js';
import { bodySchemas, envelopeSchema, type Body, type CapabilityMessage, type MessageType, type MeshTransport } from './protocol.js';
import { decapsulatePsk, encapsulatePsk, encapsulator } from './psk.js';
import { rotateKey, sleepUntil, type RotationResult } from './rotation.js';
import type { MeshConfig } from './schema.js';
import { MessageVerifier, signMessage, type SignedMessage } from './signing.js';
import { WgDevice } from './wg.js';

function hex(b64: string): string {
  return Buffer.from(b64, 'base64').toString('hex');
}

/** A member's public facts: its identity keys and underlay endpoint. */
export interface MemberFacts extends NodeKeys {
  endpoint: string;
}

export const memberFactsSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/),
  endpoint: z.union([z.ipv4(), z.ipv6()]),
  publicKey: z.string().refine(isWgKey, 'must be a WireGuard public key'),
  signKey: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'must be an Ed25519 public key (base64)'),
  kemKey: z.string().min(1500).max(1700),
});

export interface MeshNodeOptions {
  name: string;
  mesh: MeshConfig;
  /** Key and state directory (default /var/lib/bulwark/mesh). */
  root: string;
  /** Run every command inside this network namespace (tests). */
  netns?: string;
  log?: Logger;
  transport?: MeshTransport;
  backend?: 'auto' | Backend;
  /**
   * How wireguard-go runs: as a systemd unit (default on a bootstrapped node: it outlives agent restarts)
   * or as this process's supervised child (namespaces in tests, hosts without the unit).
   */
  wireguardGo?: 'auto' | 'unit' | 'child';
}

interface StagedRotation {
  oldPublicKey: string;
  newPublicKey: string;
  moved: boolean;
}

/**
 * One node's mesh: its keys, its bw0 (kernel or supervised wireguard-go), the members it knows, the
 * signed messages it answers (stage/commit/finish/rollback of a peer's rotation, PSK offers) and the
 * rotations it runs itself.
 */
export class MeshNode {
  readonly keys: KeyStore;
  readonly dev: WgDevice;
  private members: MemberFacts[] = [];
  private supervisor: UserspaceWireGuard | undefined;
  private backendInUse: Backend | undefined;
  /** Rotations of peers this node has staged (peer name → keys). */
  private readonly staged = new Map<string, StagedRotation>();
  /** Which of our keys is loaded while we rotate. */
  private loaded: 'current' | 'next' = 'current';
  private rotating = false;
  private chain: Promise<unknown> = Promise.resolve();
  private verifier: MessageVerifier;
  transport: MeshTransport | undefined;

  constructor(readonly opts: MeshNodeOptions) {
    this.keys = new KeyStore(opts.root);
    this.dev = new WgDevice(opts.mesh.interface, opts.netns, opts.root);
    this.transport = opts.transport;
    this.verifier = new MessageVerifier(opts.name, (n) => this.members.find((m) => m.name === n)?.signKey);
  }

  get name(): string {
    return this.opts.name;
  }
  get backend(): Backend | undefined {
    return this.backendInUse;
  }
  get wireguardGoPid(): number | undefined {
    return this.supervisor?.pid;
  }

  /** Serialises changes to this node's interface. */
  private locked<T>(f: () => Promise<T>): Promise<T> {
    const next = this.chain.then(f, f);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private get membersPath(): string {
    return join(this.keys.root, MEMBERS_FILE);
  }

  /** Makes any missing key and loads the members this node knows. */
  init(): void {
    this.keys.init();
    if (existsSync(this.membersPath)) this.members = z.array(memberFactsSchema).parse(JSON.parse(readFileSync(this.membersPath, 'utf8')));
  }

  facts(endpoint: string): MemberFacts {
    return { ...this.keys.identity(this.name), endpoint };
  }

  getMembers(): MemberFacts[] {
    return this.members.map((m) => ({ ...m }));
  }

  /**
   * Replaces the member list (public facts); returns false when it equals the current one (nothing
   * written). Checks the mesh can hold them (CIDR size, endpoints).
   */
  setMembers(members: readonly MemberFacts[]): boolean {
    const list = members.map((m) => memberFactsSchema.parse(m));
    const names = new Set<string>();
    const eps = new Map<string, string>();
    for (const m of list) {
      if (names.has(m.name)) throw new MeshConfigError(`node ${m.name} is listed twice`);
      names.add(m.name);
      const other = eps.get(m.endpoint);
      if (other) throw new MeshConfigError(`nodes ${other} and ${m.name} have the same endpoint ${m.endpoint}`);
      eps.set(m.endpoint, m.name);
    }
    if (!names.has(this.name)) throw new MeshConfigError(`node ${this.name} is not in the member list`);
    desiredInterface(this.opts.mesh, list, this.name); // throws when the CIDR is too small
    if (JSON.stringify(list) === JSON.stringify(this.members)) return false;
    this.members = list;
    writeSecretFile(this.membersPath, JSON.stringify(list, null, 2));
    return true;
  }

  /** Peers as plain data for the firewall (open the WireGuard port only to their endpoints). */
  peers(): MeshPeer[] {
    return meshPeers(this.opts.mesh, this.members, this.name);
  }

  meshAddressOf(name: string): string | undefined {
    if (name === this.name) return this.desired().address;
    return this.peers().find((p) => p.name === name)?.meshAddress;
  }

  /** What bw0 should look like, including the extra keys of peers' rotations in progress. */
  desired(): DesiredInterface {
    const d = desiredInterface(this.opts.mesh, this.members, this.name, this.keys.psks());
    const peers = d.peers.flatMap((p) => {
      const s = this.staged.get(p.name);
      if (!s) return [p];
      const withKey = (publicKey: string, owns: boolean) => ({ ...p, publicKey, allowedIps: owns ? p.allowedIps : [] });
      return [withKey(s.oldPublicKey, !s.moved), withKey(s.newPublicKey, s.moved)];
    });
    return { ...d, peers };
  }

  /** Brings bw0 up (kernel WireGuard, else supervised wireguard-go), configures it and converges peers. */
  async up(): Promise<void> {
    if (this.members.length === 0) throw new MeshConfigError(`node ${this.name} has no mesh members yet (run mesh join)`);
    const want = this.opts.backend ?? 'auto';
    if (await this.dev.exists()) {
      await this.adoptUnit();
      this.backendInUse ??= 'kernel';
    } else if (want !== 'wireguard-go' && (await tryKernelInterface(this.dev.iface, this.opts.netns))) {
      this.backendInUse = 'kernel';
    } else {
      if (want === 'kernel') throw new Error(`kernel WireGuard is not available for ${this.dev.iface}`);
      this.backendInUse = 'wireguard-go';
      this.supervisor = this.useUnit() ? this.newUnit() : new WireguardGoSupervisor(this.dev.iface, () => this.locked(() => this.configure()), this.opts.log, this.opts.netns);
      await this.supervisor.start();
      return;
    }
    await this.locked(() => this.configure());
  }

  /**
   * For an interface that exists but that this process did not bring up (after an agent restart): a running
   * wireguard-go unit is ours to watch again; otherwise the interface is the kernel's. Decided once.
   */
  private async adoptUnit(): Promise<void> {
    if (this.backendInUse || !this.useUnit()) return;
    const unit = this.newUnit();
    if ((await unit.mainPid()) === undefined) {
      this.backendInUse = 'kernel';
      return;
    }
    await unit.adopt();
    this.supervisor = unit;
    this.backendInUse = 'wireguard-go';
  }

  private useUnit(): boolean {
    const mode = this.opts.wireguardGo ?? 'auto';
    return mode === 'unit' || (mode === 'auto' && this.opts.netns === undefined && wireguardGoUnitAvailable());
  }

  private newUnit(): WireguardGoUnit {
    return new WireguardGoUnit(this.dev.iface, () => this.locked(() => this.configure()), this.opts.log);
  }

  /** Full configuration of an existing interface (also after wireguard-go restarts). */
  private async configure(): Promise<void> {
    const d = this.desired();
    await this.dev.setPrivateKeyFile(this.loaded === 'next' ? this.keys.nextWgKeyPath : this.keys.wgKeyPath, d.listenPort);
    await this.dev.configureLink(d.address, d.prefix, d.mtu);
    await this.convergePeers(d);
    this.opts.log?.info({ iface: d.iface, address: d.address, peers: d.peers.length }, 'mesh interface configured');
  }

  private async convergePeers(d: DesiredInterface): Promise<PeerOp[]> {
    const dump = await this.dev.dump();
    if (!dump) throw new Error(`${d.iface} is not a WireGuard interface`);
    const ops = planPeerOps(d.peers, dump.peers, Math.floor(Date.now() / 1000));
    await this.dev.applyOps(ops);
    return ops;
  }

  /** One reconcile pass: interface present and configured, peers as desired. Returns a description of drift fixed. */
  async converge(): Promise<string[]> {
    if (this.rotating) return [];
    if (!(await this.dev.exists())) {
      if (this.supervisor instanceof WireguardGoUnit) {
        // systemd gave up on it (or it was stopped by hand): start it again; it configures on start
        await this.supervisor.start();
        return [`interface ${this.dev.iface} was missing: ${this.supervisor.unit} started`];
      }
      if (this.supervisor) return ['interface missing (wireguard-go restarting)'];
      await this.up();
      return [`interface ${this.dev.iface} was missing`];
    }
    await this.adoptUnit();
    return this.locked(async () => {
      const drift: string[] = [];
      const d = this.desired();
      const dump = await this.dev.dump();
      if (!dump) throw new Error(`${d.iface} is not a WireGuard interface`);
      const link = await this.dev.linkState();
      const expectKey = this.loaded === 'next' ? this.keys.nextWgPublicKey() : d.publicKey;
      if (!keysEqual(dump.iface.publicKey, expectKey) || dump.iface.listenPort !== d.listenPort || !link?.up || link.mtu !== d.mtu || !link.addresses.includes(`${d.address}/${d.prefix}`)) {
        drift.push('interface key, port, address, MTU or link state differed');
        await this.configure();
        return drift;
      }
      const ops = await this.convergePeers(d);
      for (const op of ops) drift.push(`${op.kind === 'remove' ? 'removed' : 'set'} peer ${this.peerName(op.publicKey)}`);
      return drift;
    });
  }

  private peerName(publicKey: string): string {
    const m = this.members.find((x) => x.publicKey === publicKey);
    if (m) return m.name;
    for (const [n, s] of this.staged) if (s.newPublicKey === publicKey) return `${n} (new key)`;
    return `${publicKey.slice(0, 8)}… (not in config)`;
  }

  /** Stops wireguard-go (if ours) or deletes the kernel interface. */
  async down(): Promise<void> {
    // a wireguard-go unit this process never adopted must be stopped too, or systemd would bring it back
    const userspace = this.supervisor ?? (this.useUnit() ? this.newUnit() : undefined);
    if (userspace) {
      await userspace.stop();
      this.supervisor = undefined;
    }
    await this.dev.delete();
  }

  /** This node forgets a member: its peer, its PSK. */
  async forgetMember(name: string): Promise<void> {
    await this.locked(async () => {
      this.keys.forgetPsk(name);
      this.staged.delete(name);
      this.setMembers(this.members.filter((m) => m.name !== name));
      if (await this.dev.exists()) await this.convergePeers(this.desired());
    });
  }

  /**
   * Removes a member from the whole mesh: every other member forgets it (signed messages), then this node.
   * Returns the members that could not be told (their reconcilers finish the job from the config).
   */
  async removeMember(name: string): Promise<string[]> {
    if (name === this.name) throw new Error('a node cannot remove itself; run mesh remove from another node or the operator machine');
    if (!this.members.some((m) => m.name === name)) throw new MeshConfigError(`node ${name} is not a mesh member`);
    const others = this.members.filter((m) => m.name !== name && m.name !== this.name).map((m) => m.name);
    const failed: string[] = [];
    await Promise.all(others.map((o) => this.send(o, 'members.remove', { name }).catch(() => failed.push(o))));
    await this.forgetMember(name);
    return failed.sort();
  }

  /** This node leaves: interface down, every key destroyed. */
  async leave(): Promise<void> {
    await this.down();
    this.keys.destroyAll();
    this.members = [];
  }

  // ---------------------------------------------------------------- messages

  sign<T extends MessageType>(to: string, type: T, body: Body<T>): SignedMessage<Body<T>> {
    return signMessage(this.keys.signSecret(), { type, from: this.name, to, body });
  }

  async send<T extends MessageType>(to: string, type: T, body: Body<T>): Promise<unknown> {
    if (!this.transport) throw new Error('no transport to reach other agents');
    return this.transport.send(to, this.sign(to, type, body));
  }

  /** Handlers other capabilities add for their own message types (signature and body already checked). */
  private readonly capabilityHandlers = new Map<CapabilityMessage, (from: string, body: unknown) => Promise<unknown>>();
  /** Lets a capability answer its own message type (e.g. certs: acme.publish); replaces an earlier handler. */
  onMessage<T extends CapabilityMessage>(type: T, fn: (from: string, body: Body<T>) => Promise<unknown>): void {
    this.capabilityHandlers.set(type, fn as (from: string, body: unknown) => Promise<unknown>);
  }

  /** Handles a message from another agent: validated, signature checked, then acted on. */
  async handle(raw: unknown): Promise<unknown> {
    const env = envelopeSchema.parse(raw);
    const msg = this.verifier.verify(env as SignedMessage);
    const type = env.type;
    const body = bodySchemas[type].parse(msg.body) as Body<typeof type>;
    const from = this.members.find((m) => m.name === msg.from);
    if (!from) throw new Error(`unknown sender ${msg.from}`);
    if (type === 'rotate.run') {
      if (msg.from !== this.name) throw new Error('rotate.run is only accepted from this node itself');
      const b = body as Body<'rotate.run'>;
      if (b.what === 'psk') return { rotated: await this.rotateAllPsks() };
      const r = await this.rotateWireguardKey();
      return { oldPublicKey: r.oldPublicKey, newPublicKey: r.newPublicKey, confirmMs: r.confirmMs };
    }
    switch (type) {
      case 'ping':
        return { ok: true, name: this.name };
      case 'rotate.stage':
      case 'rotate.commit':
      case 'rotate.status':
      case 'rotate.finish':
      case 'rotate.rollback':
        return this.onRotation(type, from, body as Body<'rotate.stage'>);
      case 'psk.offer':
        return this.onPskOffer(from, body as Body<'psk.offer'>);
      case 'psk.rotate':
        return { rotated: await this.rotatePsks() };
      case 'acme.publish':
      case 'acme.unpublish': {
        const h = this.capabilityHandlers.get(type);
        if (!h) throw new Error(`${type} is not handled on ${this.name}`);
        return h(msg.from, body);
      }
      case 'members.remove': {
        const b = body as Body<'members.remove'>;
        if (b.name === this.name) throw new Error(`${this.name} cannot be told to forget itself`);
        await this.forgetMember(b.name);
        return { ok: true };
      }
    }
  }

  private async onRotation(type: 'rotate.stage' | 'rotate.commit' | 'rotate.status' | 'rotate.finish' | 'rotate.rollback', from: MemberFacts, b: { oldPublicKey: string; newPublicKey: string; at?: number }): Promise<unknown> {
    // A commit takes effect at the instant the rotating node chose (it loads its new key then too).
    if (type === 'rotate.commit' && b.at !== undefined) await sleepUntil(b.at);
    const s = this.staged.get(from.name);
    if (type === 'rotate.status') {
      const dump = await this.dev.dump();
      const p = dump?.peers.find((x) => x.publicKey === b.newPublicKey);
      return { handshake: p?.latestHandshake ?? 0 };
    }
    return this.locked(async () => {
      const d = desiredInterface(this.opts.mesh, this.members, this.name, this.keys.psks()).peers.find((p) => p.name === from.name);
      if (!d) throw new Error(`${from.name} is not a peer of ${this.name}`);
      switch (type) {
        case 'rotate.stage':
          if (!keysEqual(from.publicKey, b.oldPublicKey)) throw new Error(`${from.name}: old key does not match the key on record`);
          this.staged.set(from.name, { ...b, moved: false });
          await this.dev.applyOps([{ kind: 'set', publicKey: b.newPublicKey, ...(d.endpoint ? { endpoint: d.endpoint } : {}), allowedIps: [], keepalive: d.keepalive, psk: d.psk }]);
          return { ok: true };
        case 'rotate.commit':
          if (!s || !keysEqual(s.newPublicKey, b.newPublicKey)) throw new Error(`no staged rotation of ${from.name} with that key`);
          s.moved = true;
          // One transaction: the allowed-ips move from the old peer to the new one atomically.
          await this.moveAllowedIps(b.newPublicKey, d.allowedIps);
          return { ok: true };
        case 'rotate.rollback':
          if (s && keysEqual(s.newPublicKey, b.newPublicKey)) {
            this.staged.delete(from.name);
            await this.moveAllowedIps(b.oldPublicKey, d.allowedIps);
            await this.dev.applyOps([{ kind: 'remove', publicKey: b.newPublicKey }]);
          }
          return { ok: true };
        case 'rotate.finish': {
          if (!s || !keysEqual(s.newPublicKey, b.newPublicKey)) throw new Error(`no staged rotation of ${from.name} with that key`);
          this.staged.delete(from.name);
          this.setMembers(this.members.map((m) => (m.name === from.name ? { ...m, publicKey: b.newPublicKey } : m)));
          await this.dev.applyOps([{ kind: 'remove', publicKey: b.oldPublicKey }]);
          return { ok: true };
        }
      }
    });
  }

  /** Rotates this node's WireGuard key with every peer (see rotation.ts). */
  async rotateWireguardKey(timeoutMs = this.opts.mesh.rotationTimeoutSec * 1000): Promise<RotationResult> {
    if (this.rotating) throw new Error(`a rotation of ${this.name} is already running`);
    this.rotating = true;
    const peerNames = this.members.filter((m) => m.name !== this.name).map((m) => m.name);
    try {
      const result = await rotateKey(
        {
          stage: async () => ({ oldPublicKey: this.keys.wgPublicKey(), newPublicKey: this.keys.stageNextWgKey() }),
          load: (which) => this.locked(() => this.loadKey(which)),
          promote: async () => {
            await this.locked(async () => {
              this.keys.promoteNextWgKey();
              this.loaded = 'current';
              const pub = this.keys.wgPublicKey();
              this.setMembers(this.members.map((m) => (m.name === this.name ? { ...m, publicKey: pub } : m)));
            });
          },
          discard: async () => {
            this.keys.discardNextWgKey();
            this.loaded = 'current';
          },
        },
        { names: peerNames, send: (peer, type, body) => this.send(peer, type, body) },
        { timeoutMs },
      );
      this.opts.log?.info({ node: this.name, confirmMs: result.confirmMs }, 'WireGuard key rotated');
      return result;
    } finally {
      this.rotating = false;
    }
  }

  /** Loads a private key and makes every peer handshake now (a keepalive toggled on sends one at once). */
  private async loadKey(which: 'current' | 'next'): Promise<void> {
    const file = which === 'next' ? this.keys.nextWgKeyPath : this.keys.wgKeyPath;
    const ka = this.opts.mesh.keepalive;
    const peers = desiredInterface(this.opts.mesh, this.members, this.name).peers;
    // wireguard-go: straight over the control socket (the key read from its 0600 file into the socket,
    // never argv). Kernel: `wg set … private-key FILE`.
    const key = readFileSync(file, 'utf8').trim();
    const lines = [`private_key=${hex(key)}`];
    for (const p of peers) {
      lines.push(`public_key=${hex(p.publicKey)}`, 'update_only=true', 'persistent_keepalive_interval=0');
      lines.push(`public_key=${hex(p.publicKey)}`, 'update_only=true', `persistent_keepalive_interval=${ka || 1}`);
      if (!ka) lines.push(`public_key=${hex(p.publicKey)}`, 'update_only=true', 'persistent_keepalive_interval=0');
    }
    if (!(await this.dev.uapiSet(lines))) {
      const argv = ['wg', 'set', this.dev.iface, 'private-key', file];
      for (const p of peers) {
        argv.push('peer', p.publicKey, 'persistent-keepalive', '0', 'peer', p.publicKey, 'persistent-keepalive', String(ka || 1));
        if (!ka) argv.push('peer', p.publicKey, 'persistent-keepalive', '0');
      }
      const r = await run(argv, this.opts.netns ? { netns: this.opts.netns } : {});
      if (r.code !== 0) throw new Error(`wg set private-key failed: ${r.stderr.trim()}`);
    }
    this.loaded = which;
  }

  /** Moves allowed-ips onto one peer in one transaction (they leave whichever peer had them). */
  private async moveAllowedIps(publicKey: string, allowedIps: readonly string[]): Promise<void> {
    const lines = [`public_key=${hex(publicKey)}`, 'update_only=true', 'replace_allowed_ips=true', ...allowedIps.map((a) => `allowed_ip=${a}`)];
    if (!(await this.dev.uapiSet(lines))) await this.dev.applyOps([{ kind: 'set', publicKey, allowedIps: [...allowedIps] }]);
  }

  // ---------------------------------------------------------------- pre-shared keys

  private kemKeyOf(m: MemberFacts): Uint8Array {
    return new Uint8Array(Buffer.from(m.kemKey, 'base64'));
  }

  /**
   * New PSKs for every pair where this node encapsulates (its name sorts first): encapsulate, send the
   * ciphertext, and once the peer has set it, set it here. The session carries on (a PSK is only used at
   * the next handshake). Returns the peers rotated.
   */
  async rotatePsks(only?: readonly string[]): Promise<string[]> {
    const me = this.members.find((m) => m.name === this.name);
    if (!me) throw new Error(`${this.name} is not a member`);
    const targets = this.members.filter((m) => m.name !== this.name && encapsulator(this.name, m.name) === this.name && (!only || only.includes(m.name)));
    const done: string[] = [];
    const errors: string[] = [];
    await Promise.all(
      targets.map(async (peer) => {
        const epoch = (this.keys.psk(peer.name)?.epoch ?? 0) + 1;
        const { psk, offer } = encapsulatePsk(this.name, this.kemKeyOf(me), peer.name, this.kemKeyOf(peer), epoch);
        try {
          await this.send(peer.name, 'psk.offer', offer);
        } catch (e) {
          errors.push(`${peer.name}: ${e instanceof Error ? e.message : String(e)}`);
          return;
        }
        await this.locked(async () => {
          this.keys.setPsk(peer.name, { epoch, psk });
          await this.dev.applyOps([{ kind: 'set', publicKey: peer.publicKey, psk }]);
          const s = this.staged.get(peer.name);
          if (s) await this.dev.applyOps([{ kind: 'set', publicKey: s.moved ? s.oldPublicKey : s.newPublicKey, psk }]);
        });
        done.push(peer.name);
      }),
    );
    if (errors.length > 0) throw new Error(`PSK rotation failed for ${errors.join('; ')} (those pairs keep their previous PSK)`);
    return done.sort();
  }

  /** Asks every member (itself included) to rotate the PSKs it encapsulates: all pairs get new PSKs. */
  async rotateAllPsks(): Promise<string[]> {
    const out = [...(await this.rotatePsks()).map((p) => `${this.name}-${p}`)];
    for (const m of this.members) {
      if (m.name === this.name) continue;
      const r = (await this.send(m.name, 'psk.rotate', {})) as { rotated?: string[] };
      out.push(...(r.rotated ?? []).map((p) => `${m.name}-${p}`));
    }
    return out.sort();
  }

  private async onPskOffer(from: MemberFacts, offer: Body<'psk.offer'>): Promise<unknown> {
    if (offer.from !== from.name || offer.to !== this.name) throw new Error('PSK offer names do not match the sender/receiver');
    const prev = this.keys.psk(from.name);
    if (prev && offer.epoch <= prev.epoch) throw new Error(`PSK offer epoch ${offer.epoch} is not newer than ${prev.epoch}`);
    const psk = decapsulatePsk(offer, this.keys.kemSecret(), this.kemKeyOf(from));
    return this.locked(async () => {
      this.keys.setPsk(from.name, { epoch: offer.epoch, psk });
      await this.dev.applyOps([{ kind: 'set', publicKey: from.publicKey, psk }]);
      return { ok: true, epoch: offer.epoch };
    });
  }

  /** Pairs this node encapsulates whose PSK is missing or older than `maxAgeMs`. */
  pairsDueForPsk(maxAgeMs: number, now = Date.now()): string[] {
    return this.members
      .filter((m) => m.name !== this.name && encapsulator(this.name, m.name) === this.name)
      .filter((m) => {
        const p = this.keys.psk(m.name);
        return !p || (maxAgeMs > 0 && now - (p.created ?? 0) > maxAgeMs);
      })
      .map((m) => m.name);
  }

  /** Endpoint string peers use for this node. */
  endpointFor(ip: string): string {
    return formatEndpoint(ip, this.opts.mesh.port);
  }
}
