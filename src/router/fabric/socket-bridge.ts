import { createConnection, createServer, type Server } from 'node:net';

/**
 * The router container runs with --network none: nats-server's client port is reachable only through a
 * Unix socket bind-mounted into it. The npm nats client speaks TCP, so this listener on the container's
 * own loopback (an ephemeral port, 127.0.0.1 only) forwards each connection, bytes unchanged, to the socket.
 */
export interface SocketBridge {
  /** nats://127.0.0.1:PORT */
  url: string;
  close(): Promise<void>;
}

export async function bridgeToSocket(socketPath: string): Promise<SocketBridge> {
  const open = new Set<{ destroy(): void }>();
  const server: Server = createServer({ noDelay: true }, (client) => {
    const upstream = createConnection(socketPath);
    open.add(client).add(upstream);
    const end = () => {
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('socket bridge: no TCP port');
  return {
    url: `nats://127.0.0.1:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  };
}
