import type { Logger } from 'pino';
import { MeshConfigError } from './addresses.js';
import type { MeshContext, StagedRotation } from './context.js';
import { WireguardGoSupervisor, WireguardGoUnit, wireguardGoUnitAvailable, type Backend, type UserspaceWireGuard } from './interface.js';
import { rotateOwnKey } from './key-rotation.js';
import { keysEqual } from './keys.js';
import { KeyStore } from './keystore.js';
import { Membership, type MemberFacts } from './members.js';
import { handleMessage, signFor } from './messages.js';
import { desiredInterface, formatEndpoint, meshPeers, planPeerOps, type DesiredInterface, type MeshPeer, type PeerOp } from './plan.js';
import type { Body, CapabilityMessage, MessageType, MeshTransport } from './protocol.js';
import { pairsDueForPsk, rotateAllPsks, rotatePsks } from './psk-rotation.js';
import type { RotationResult } from './rotation.js';
import type { MeshConfig } from './schema.js';
import { MessageVerifier, type SignedMessage } from './signing.js';
import { WgDevice } from './wg.js';

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

/**
 * One node's mesh: its keys, its bw0 (kernel or supervised wireguard-go) and its lifecycle, here; the members
 * it knows (members.ts), the signed messages it answers (messages.ts), peers' and its own key rotations
 * (key-rotation.ts) and pre-shared keys (psk-rotation.ts) work on the state it shares with them (context.ts).
 * Raw `wg`/`ip`/UAPI calls are wg.ts.
 */
export class MeshNode implements MeshContext {
  readonly keys: KeyStore;
  readonly dev: WgDevice;
  readonly members: Membership;
  private supervisor: UserspaceWireGuard | undefined;
  private backendInUse: Backend | undefined;
  readonly staged = new Map<string, StagedRotation>();
  loaded: 'current' | 'next' = 'current';
  rotating = false;
  private chain: Promise<unknown> = Promise.resolve();
  private verifier: MessageVerifier;
  transport: MeshTransport | undefined;

  constructor(readonly opts: MeshNodeOptions) {
    this.keys = new KeyStore(opts.root);
    this.dev = new WgDevice(opts.mesh.interface, opts.netns, opts.root);
    this.members = new Membership(opts.name, opts.mesh, opts.root);
    this.transport = opts.transport;
    this.verifier = new MessageVerifier(opts.name, (n) => this.members.find(n)?.signKey);
  }

  get name(): string {
    return this.opts.name;
  }
  get mesh(): MeshConfig {
    return this.opts.mesh;
  }
  get log(): Logger | undefined {
    return this.opts.log;
  }
  get backend(): Backend | undefined {
    return this.backendInUse;
  }
  get wireguardGoPid(): number | undefined {
    return this.supervisor?.pid;
  }

  /** Serialises changes to this node's interface. */
  locked<T>(f: () => Promise<T>): Promise<T> {
    const next = this.chain.then(f, f);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Makes any missing key and loads the members this node knows. */
  init(): void {
    this.keys.init();
    this.members.load();
  }

  facts(endpoint: string): MemberFacts {
    return { ...this.keys.identity(this.name), endpoint };
  }

  getMembers(): MemberFacts[] {
    return this.members.all.map((m) => ({ ...m }));
  }

  /** Replaces the member list (public facts); false when it equals the current one (see Membership.set). */
  setMembers(members: readonly MemberFacts[]): boolean {
    return this.members.set(members);
  }

  /** Peers as plain data for the firewall (open the WireGuard port only to their endpoints). */
  peers(): MeshPeer[] {
    return meshPeers(this.opts.mesh, this.members.all, this.name);
  }

  meshAddressOf(name: string): string | undefined {
    if (name === this.name) return this.desired().address;
    return this.peers().find((p) => p.name === name)?.meshAddress;
  }

  /** What bw0 should look like, including the extra keys of peers' rotations in progress. */
  desired(): DesiredInterface {
    const d = desiredInterface(this.opts.mesh, this.members.all, this.name, this.keys.psks());
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
    if (this.members.all.length === 0) throw new MeshConfigError(`node ${this.name} has no mesh members yet (run mesh join)`);
    const want = this.opts.backend ?? 'auto';
    if (await this.dev.exists()) {
      await this.adoptUnit();
      this.backendInUse ??= 'kernel';
    } else if (want !== 'wireguard-go' && (await this.dev.createKernel())) {
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
    const m = this.members.all.find((x) => x.publicKey === publicKey);
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
      this.members.remove(name);
      if (await this.dev.exists()) await this.convergePeers(this.desired());
    });
  }

  /**
   * Removes a member from the whole mesh: every other member forgets it (signed messages), then this node.
   * Returns the members that could not be told (their reconcilers finish the job from the config).
   */
  async removeMember(name: string): Promise<string[]> {
    if (name === this.name) throw new Error('a node cannot remove itself; run mesh remove from another node or the operator machine');
    if (!this.members.find(name)) throw new MeshConfigError(`node ${name} is not a mesh member`);
    const others = this.members
      .others()
      .filter((m) => m.name !== name)
      .map((m) => m.name);
    const failed: string[] = [];
    await Promise.all(others.map((o) => this.send(o, 'members.remove', { name }).catch(() => failed.push(o))));
    await this.forgetMember(name);
    return failed.sort();
  }

  /** This node leaves: interface down, every key destroyed. */
  async leave(): Promise<void> {
    await this.down();
    this.keys.destroyAll();
    this.members.clear();
  }

  // ------------------------------------- messages, rotations, PSKs (messages.ts, key-rotation.ts, psk-rotation.ts)

  sign<T extends MessageType>(to: string, type: T, body: Body<T>): SignedMessage<Body<T>> {
    return signFor(this, to, type, body);
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
  handle(raw: unknown): Promise<unknown> {
    return handleMessage(this, this.verifier, raw, (name) => this.forgetMember(name), this.capabilityHandlers);
  }

  /** Rotates this node's WireGuard key with every peer (see rotation.ts). */
  rotateWireguardKey(timeoutMs = this.opts.mesh.rotationTimeoutSec * 1000): Promise<RotationResult> {
    return rotateOwnKey(this, timeoutMs);
  }

  /** New PSKs for the pairs this node encapsulates (all, or `only`); returns the peers rotated. */
  rotatePsks(only?: readonly string[]): Promise<string[]> {
    return rotatePsks(this, only);
  }

  /** Asks every member (itself included) to rotate the PSKs it encapsulates: all pairs get new PSKs. */
  rotateAllPsks(): Promise<string[]> {
    return rotateAllPsks(this);
  }

  /** Pairs this node encapsulates whose PSK is missing or older than `maxAgeMs`. */
  pairsDueForPsk(maxAgeMs: number, now = Date.now()): string[] {
    return pairsDueForPsk(this, maxAgeMs, now);
  }

  /** Endpoint string peers use for this node. */
  endpointFor(ip: string): string {
    return formatEndpoint(ip, this.opts.mesh.port);
  }
}
