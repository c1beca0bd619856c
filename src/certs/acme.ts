/**
 * The ACME (RFC 8555) conversation, through acme-client: account, order, HTTP-01 answers handed to the
 * caller's publish/unpublish, finalize with our CSR, download. Keys are the caller's: this module never
 * makes, stores or logs one; only the CSR (public) goes to the CA.
 */
import { Agent as HttpsAgent } from 'node:https';
import { rootCertificates } from 'node:tls';
import acme from 'acme-client';

export interface AcmeEndpoint {
  directory: string;
  /** PEM of the CA that signs the directory's own TLS certificate, added to the public roots. */
  caRoot?: string;
  /** Retries per request on a network error, 429 or 5xx (acme-client's, 2 s then 4 s), default 2. */
  retries?: number;
}

export interface IssueRequest extends AcmeEndpoint {
  email: string;
  accountKeyPem: string;
  /** A CSR (PEM) for exactly `names`, made from a key that stays on the node. */
  csrPem: string;
  names: readonly string[];
  /** The challenge the CA is asked to use (default http-01). */
  challenge?: 'http-01' | 'tls-alpn-01';
  /** Makes the answer (HTTP-01 token or TLS-ALPN-01 certificate) for `token` available on every address the names point to. */
  publish(token: string, keyAuthorization: string, name: string): Promise<void>;
  unpublish(token: string, name: string): Promise<void>;
  /** Progress lines (no secrets pass through here). */
  progress?(msg: string): void;
}

function configure(e: AcmeEndpoint): void {
  // acme-client talks through one axios instance: trust, timeouts and retries are set on it per call.
  const a = acme.axios;
  a.defaults.httpsAgent = e.caRoot ? new HttpsAgent({ ca: [...rootCertificates, e.caRoot], keepAlive: false }) : undefined;
  a.defaults.timeout = 30_000;
  const settings = (a.defaults as unknown as { acmeSettings: { retryMaxAttempts: number; retryDefaultDelay: number } }).acmeSettings;
  settings.retryMaxAttempts = e.retries ?? 2;
  settings.retryDefaultDelay = 2;
}

function client(e: AcmeEndpoint, accountKeyPem: string): acme.Client {
  configure(e);
  return new acme.Client({ directoryUrl: e.directory, accountKey: accountKeyPem, backoffAttempts: 12, backoffMin: 500, backoffMax: 5000 });
}

/** A CA problem document as one readable line ("urn:ietf:params:acme:error:unauthorized: ..."). */
export function acmeErrorText(e: unknown): string {
  const x = e as { message?: string; response?: { status?: number; data?: { type?: string; detail?: string } }; code?: string };
  const d = x.response?.data;
  if (d?.type || d?.detail) return `${d.type ?? `HTTP ${x.response?.status}`}: ${d.detail ?? ''}`.trim();
  if (x.code && x.message) return `${x.code}: ${x.message}`;
  return x.message ?? String(e);
}

/**
 * acme-client loses the cause of a network error once its retries are spent (it reports "Cannot read
 * properties of undefined"); ask the directory once more ourselves to say what is wrong.
 */
async function networkCause(e: AcmeEndpoint, err: unknown): Promise<string> {
  const x = err as { response?: unknown };
  if (x.response !== undefined || !(err instanceof TypeError)) return acmeErrorText(err);
  const { get } = await import('node:https');
  return new Promise((resolve) => {
    const req = get(e.directory, { agent: e.caRoot ? new HttpsAgent({ ca: [...rootCertificates, e.caRoot] }) : undefined, timeout: 10_000 }, (res) => {
      res.resume();
      resolve(`ACME directory ${e.directory} answered HTTP ${res.statusCode ?? '?'} but the request failed: ${acmeErrorText(err)}`);
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 10 s')));
    req.on('error', (ne: NodeJS.ErrnoException) => resolve(`ACME directory ${e.directory} unreachable: ${ne.code ? `${ne.code} ` : ''}${ne.message}`));
  });
}

/** Orders, validates (HTTP-01 or TLS-ALPN-01) and downloads a certificate for `names`; resolves with the PEM chain. */
export async function issueCertificate(req: IssueRequest): Promise<string> {
  const c = client(req, req.accountKeyPem);
  const log = req.progress ?? (() => undefined);
  try {
    return await c.auto({
      csr: req.csrPem,
      email: req.email,
      termsOfServiceAgreed: true,
      challengePriority: [req.challenge ?? 'http-01'],
      // The CA checks from outside; the node can't always reach its own public name from itself.
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        const want = req.challenge ?? 'http-01';
        if (challenge.type !== want) throw new Error(`the CA offered ${challenge.type}, not ${want}`);
        log(`publishing the ${want} answer for ${authz.identifier.value}`);
        await req.publish(challenge.token, keyAuthorization, authz.identifier.value);
      },
      challengeRemoveFn: async (authz, challenge) => {
        await req.unpublish(challenge.token, authz.identifier.value);
      },
    });
  } catch (e) {
    throw new Error(`order for ${req.names.join(',')}: ${await networkCause(req, e)}`);
  }
}

/** Revokes a certificate this account obtained (RFC 8555 §7.6). */
export async function revokeCertificate(e: AcmeEndpoint & { email: string; accountKeyPem: string; certPem: string; reason?: number }): Promise<void> {
  const c = client(e, e.accountKeyPem);
  try {
    // finds the account of this key (as auto() does); revocation is signed with it
    await c.createAccount({ termsOfServiceAgreed: true, contact: [`mailto:${e.email}`] });
    await c.revokeCertificate(e.certPem, { reason: e.reason ?? 0 });
  } catch (err) {
    throw new Error(await networkCause(e, err));
  }
}

/** A PKCS#10 CSR (PEM) for `names` (first one the CN) signed with the caller's key. */
export async function makeCsr(names: readonly string[], keyPem: string): Promise<string> {
  const [, csr] = await acme.crypto.createCsr({ commonName: names[0], altNames: [...names] }, keyPem);
  return csr.toString();
}
