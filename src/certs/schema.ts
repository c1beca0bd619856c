import { z } from 'zod';

/** A DNS name a public CA will certify: lower-case labels, at least two, no wildcard (HTTP-01 can't prove one). */
export const DNS_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;
const dnsName = z.string().regex(DNS_NAME, 'must be a lower-case DNS name like n1.example.org (no wildcard, no IP address)');

/** "30d", "12h", "90m", "45s": a duration; returned in seconds. */
const DURATION = /^([1-9][0-9]{0,6})([dhms])$/;
const UNIT_S = { d: 86_400, h: 3_600, m: 60, s: 1 } as const;
export function parseDuration(text: string): number {
  const m = DURATION.exec(text);
  if (!m) throw new Error(`bad duration ${text}`);
  return Number(m[1]) * UNIT_S[m[2] as keyof typeof UNIT_S];
}

/** A PEM certificate inline, or the absolute path of a PEM file on the node. */
const PEM_CERT = /^-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s-]+-----END CERTIFICATE-----\s*$/;

/**
 * `acme:` section of bulwark.yaml: every node gets a certificate from an ACME (RFC 8555) CA for its own
 * name (and the cluster's shared name, if any), made, renewed and installed by its agent. Without this
 * section each node keeps the self-signed certificate it made itself.
 */
export const acmeSchema = z.strictObject({
  /** The CA's directory URL (https). */
  directory: z.url({ protocol: /^https$/, error: 'must be an https:// URL (the ACME directory)' }),
  /** Contact for the ACME account (expiry notices). */
  email: z.email({ error: 'must be an e-mail address' }),
  /** Each node's own DNS name, by node name: `names: { n1: n1.example.org }`. Every node needs one. */
  names: z.record(z.string(), dnsName),
  /** The name clients use for the whole cluster (DNS points it at every node): in every node's certificate. */
  sharedName: dnsName.optional(),
  /**
   * How the CA checks control of the names: `http-01` on port 80 (a redirect listener), or `tls-alpn-01`
   * (RFC 8737) on the TLS listener's port, for nodes without port 80.
   */
  challenge: z.enum(['http-01', 'tls-alpn-01'], { error: 'must be http-01 or tls-alpn-01' }).default('http-01'),
  /** Renew when less than this remains ("30d", "12h"); default: when a third of the lifetime remains. */
  renewBefore: z.string().regex(DURATION, 'must be a duration like 30d, 12h, 90m or 45s').optional(),
  /** The CA root that signs the directory's own TLS certificate when it isn't publicly trusted (a test CA): inline PEM or an absolute path on the node. */
  caRoot: z
    .string()
    .refine((s) => PEM_CERT.test(s) || /^\/[^\0]*$/.test(s), 'must be an inline PEM certificate or an absolute path')
    .optional(),
});
export type AcmeConfig = z.infer<typeof acmeSchema>;

interface IssueSink {
  addIssue(issue: { code: 'custom'; path: (string | number)[]; message: string }): void;
}

/** Where the agent writes the answers (HTTP-01 tokens, TLS-ALPN-01 certificates) and the router's listeners read them. */
export const CHALLENGE_DIR = '/var/lib/bulwark/router/acme-challenge';

/**
 * Cross-checks `acme:` against the rest of the config (called from the config's superRefine): every node
 * has a name, names are distinct, and a router listener answers the chosen challenge from CHALLENGE_DIR: a
 * port-80 redirect listener for HTTP-01, the TLS (websocket) listener itself for TLS-ALPN-01.
 */
export function checkAcme(acme: AcmeConfig | undefined, nodeNames: readonly string[], listeners: readonly { type: string; acmeChallengeDir?: string; tls?: unknown }[], ctx: IssueSink): void {
  if (!acme) return;
  if (acme.challenge === 'tls-alpn-01') {
    if (!listeners.some((l) => l.type === 'websocket' && l.tls !== undefined && l.acmeChallengeDir === CHALLENGE_DIR)) {
      ctx.addIssue({
        code: 'custom',
        path: ['acme', 'challenge'],
        message: `tls-alpn-01 needs the TLS listener to answer it: add acmeChallengeDir: ${CHALLENGE_DIR} to the websocket listener with tls`,
      });
    }
  } else if (!listeners.some((l) => l.type === 'redirect' && l.acmeChallengeDir === CHALLENGE_DIR)) {
    ctx.addIssue({ code: 'custom', path: ['acme', 'challenge'], message: `http-01 needs a router listener { type: redirect, fdName: http, acmeChallengeDir: ${CHALLENGE_DIR} }` });
  }
  const known = new Set(nodeNames);
  for (const k of Object.keys(acme.names)) if (!known.has(k)) ctx.addIssue({ code: 'custom', path: ['acme', 'names', k], message: `no node "${k}" in nodes` });
  for (const n of nodeNames) if (!(n in acme.names)) ctx.addIssue({ code: 'custom', path: ['acme', 'names'], message: `node "${n}" has no name (add ${n}: NAME)` });
  const seen = new Map<string, string>();
  for (const [node, name] of Object.entries(acme.names)) {
    const other = seen.get(name);
    if (other !== undefined) ctx.addIssue({ code: 'custom', path: ['acme', 'names', node], message: `${name} is also ${other}'s name` });
    seen.set(name, node);
    if (acme.sharedName === name) ctx.addIssue({ code: 'custom', path: ['acme', 'sharedName'], message: `${name} is also ${node}'s own name` });
  }
}
