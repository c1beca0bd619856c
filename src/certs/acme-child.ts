/**
 * The ACME conversation in a child process of its own. acme-client and its X.509 and HTTP stacks cost the
 * agent about 25 MB that a long-lived process never gives back once loaded; a child that runs one order and
 * exits keeps the agent small. This file is both ends' protocol and the child's entry: the agent forks this
 * very module (`ACME_CHILD_URL`) with BULWARK_ACME_CHILD=1 and an IPC channel. The child makes the CSR and
 * runs the order; every answer to publish or withdraw goes back to the agent, which alone reaches the router's
 * challenge files and the mesh. Keys cross only this local IPC pipe, never the network, and are never logged.
 * Nothing here imports acme-client statically, so importing the module costs the agent nothing.
 */

/** A request to the child: what `issueCertificate` needs, with the certificate key instead of a CSR. */
export interface ChildIssue {
  type: 'issue';
  directory: string;
  caRoot?: string;
  retries?: number;
  email: string;
  accountKeyPem: string;
  /** The new certificate's private key: the child makes the CSR with it and forgets it. */
  keyPem: string;
  names: string[];
  challenge?: 'http-01' | 'tls-alpn-01';
}

/** The agent's answer to a publish/unpublish the child asked for. */
export interface ChildReply {
  type: 'reply';
  id: number;
  error?: string;
}

/** What the child sends. */
export type ChildMessage =
  | { type: 'publish'; id: number; token: string; keyAuthorization: string; name: string }
  | { type: 'unpublish'; id: number; token: string; name: string }
  | { type: 'progress'; msg: string }
  | { type: 'done'; chain: string }
  | { type: 'failed'; message: string };

export const ACME_CHILD_URL = import.meta.url;
export const ACME_CHILD_ENV = 'BULWARK_ACME_CHILD';

/** The child: one `issue` request, its publish/unpublish round trips to the parent, one `done` or `failed`. */
async function childMain(): Promise<void> {
  const send = (m: ChildMessage) => new Promise<void>((resolve) => process.send?.(m, undefined, {}, () => resolve()));
  const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const ask = (m: { type: 'publish'; token: string; keyAuthorization: string; name: string } | { type: 'unpublish'; token: string; name: string }) =>
    new Promise<void>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      void send({ ...m, id });
    });
  const request = await new Promise<ChildIssue>((resolve) => {
    process.on('message', (raw: unknown) => {
      const m = raw as ChildIssue | ChildReply;
      if (m.type === 'issue') resolve(m);
      else if (m.type === 'reply') {
        const w = waiting.get(m.id);
        waiting.delete(m.id);
        if (m.error !== undefined) w?.reject(new Error(m.error));
        else w?.resolve();
      }
    });
  });
  try {
    const { issueCertificate, makeCsr } = await import('./acme.js');
    const csrPem = await makeCsr(request.names, request.keyPem);
    const chain = await issueCertificate({
      directory: request.directory,
      ...(request.caRoot !== undefined ? { caRoot: request.caRoot } : {}),
      ...(request.retries !== undefined ? { retries: request.retries } : {}),
      ...(request.challenge !== undefined ? { challenge: request.challenge } : {}),
      email: request.email,
      accountKeyPem: request.accountKeyPem,
      csrPem,
      names: request.names,
      publish: (token, keyAuthorization, name) => ask({ type: 'publish', token, keyAuthorization, name }),
      unpublish: (token, name) => ask({ type: 'unpublish', token, name }),
      progress: (msg) => void send({ type: 'progress', msg }),
    });
    await send({ type: 'done', chain });
  } catch (e) {
    await send({ type: 'failed', message: e instanceof Error ? e.message : String(e) });
  }
  process.exit(0);
}

if (process.env[ACME_CHILD_ENV] === '1' && typeof process.send === 'function') void childMain();
