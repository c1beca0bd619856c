import type { WampListenerConfig } from '../config.js';
import type { Connection, Outgoing, TransportInfo } from '../core/connection.js';
import type { Realm } from '../core/realm.js';
import { Session, type SessionHost } from '../core/session.js';
import { cbor } from '../wamp/serializers.js';
import type { SessionInfo } from './replica.js';

/** Where a remote session's messages go: the fabric, which sends them to the session's node. */
export interface RemoteSink {
  /** A message the core sent to session `sid` of `node` (EVENT, INVOCATION, INTERRUPT, GOODBYE). */
  toRemote(node: string, realm: string, sid: number, out: Outgoing): void;
}

/** The connection of a session of another node: what the core sends to it goes to the fabric. */
class RemoteConnection implements Connection {
  readonly serializer = cbor;
  readonly info: TransportInfo;
  session!: RemoteSession;
  constructor(
    private readonly sink: RemoteSink,
    readonly node: string,
    private readonly realmName: string,
    private readonly sid: number,
    t: SessionInfo['transport'],
  ) {
    this.info = { type: t.type === 'websocket' ? 'websocket' : 'rawsocket', protocol: t.protocol, peer: t.peer, source: `fabric:${node}`, listener: `fabric:${node}`, tls: false };
  }
  send(out: Outgoing): void {
    this.sink.toRemote(this.node, this.realmName, this.sid, out);
  }
  close(): void {}
  rebind(): void {}
}

/**
 * A session of another node as this node's broker and dealer see it: a Session (its ID, principal, role,
 * subscriptions and registrations from the replica) whose connection is the fabric. The core delivers to
 * it like to any session; it never receives anything from a transport.
 */
export class RemoteSession extends Session {
  override readonly id: number;
  readonly node: string;

  constructor(host: SessionHost, sink: RemoteSink, node: string, realm: Realm, info: SessionInfo) {
    const conn = new RemoteConnection(sink, node, realm.name, info.sid, info.transport);
    // a remote session has no listener here: the runtime is a name for log lines only
    const listener = { name: `fabric:${node}`, cfg: undefined as unknown as WampListenerConfig };
    super(host, conn, listener);
    this.id = info.sid;
    this.node = node;
    conn.session = this;
    this.principal = { realm: realm.name, authid: info.authid, authrole: info.authrole, authmethod: info.authmethod, authprovider: info.authprovider };
    this.realm = realm;
    // every node runs the same realm config: the role's rules are this node's copy of them
    this.perms = realm.roles.get(info.authrole);
    this.supportsCancel = info.cancel;
    this.state = 'open';
  }
}

/** What the replica says about a local session. */
export function sessionInfo(s: Session): SessionInfo {
  const p = s.principal!;
  const t = s.conn.info;
  return {
    sid: s.id,
    authid: p.authid,
    authrole: p.authrole,
    authmethod: p.authmethod,
    authprovider: p.authprovider,
    transport: { type: t.type, protocol: t.protocol, peer: t.peer },
    cancel: s.supportsCancel,
  };
}
