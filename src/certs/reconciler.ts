import type { Logger } from 'pino';
import type { ReconcileContext, ReconcileReport, Reconciler } from '../core/reconciler.js';
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../config/schema.js';
import type { PeerMessengerFactory } from '../core/peers.js';
import type { RenewalWindow } from './ari.js';

/** How often the CA's renewal information is asked again for the same certificate. */
const ARI_REFRESH_MS = 6 * 3_600_000;
import { ACME_STATE_DIR, AUDIT_MIN_DAYS, afterAttempt, daysLeft, CHALLENGE_DIR, describeCert, mayAttempt, renewalDecision, tlsFiles, type WantedCertificate, wantedCertificates } from './plan.js';
import { publishHere, unpublishHere, type PublishTarget } from './mesh-publish.js';
import { accountKey, caRootPem, ensureDir, installCertificate, newPrivateKey, pruneAnswers, readCertFacts, readRetry, writeRetry } from './store.js';

export interface CertsReconcilerOptions {
  stateDir?: string;
  challengeDir?: string;
  now?: () => Date;
  /** Signed messages to the other nodes (the mesh's, handed in by src/cli/plugins.ts); without it the shared name can't be validated on other nodes. */
  peers?: PeerMessengerFactory<Config>;
  /**
   * Makes an HTTP-01 answer reachable wherever the CA may look for `name` (default: this node's
   * challenge directory only).
   */
  publish?: (ctx: { config: Config; log: Logger }, token: string, keyAuthorization: string, name: string) => Promise<void>;
  unpublish?: (ctx: { config: Config; log: Logger }, token: string, name: string) => Promise<void>;
}

export interface CertsReconciler extends Reconciler<Config> {
  /** The issuance under way, if any (tests wait for it). */
  pending(): Promise<void> | undefined;
}

/**
 * Keeps each TLS listener's certificate from the ACME CA: issues when it is missing, self-signed or for
 * other names, renews when its renewal window opens, backs off after a failure and never touches the
 * installed files unless a new, checked certificate is ready. The ACME conversation runs in the
 * background: a pass only starts it and reports its progress, so a slow CA never holds up the loop.
 */
export function createCertsReconciler(o: CertsReconcilerOptions = {}): CertsReconciler {
  const stateDir = o.stateDir ?? ACME_STATE_DIR;
  const challengeDir = o.challengeDir ?? CHALLENGE_DIR;
  const now = o.now ?? (() => new Date());
  let job: { names: string; started: Date; done: Promise<void> } | undefined;
  let target: PublishTarget | undefined;
  /** The CA's renewal information per certificate file, for the serial it was asked for (ARI, RFC 9773). */
  const ari = new Map<string, { serial: string; askedAt: number; window?: RenewalWindow }>();

  /** The renewal window the CA suggests for the installed certificate, asked at most every 6 h per serial. */
  async function renewalInfo(ctx: ReconcileContext<Config>, file: string, serial: string, report: ReconcileReport): Promise<RenewalWindow | undefined> {
    const acmeCfg = ctx.config.acme;
    if (!acmeCfg) return undefined;
    const known = ari.get(file);
    if (known?.serial === serial && now().getTime() - known.askedAt < ARI_REFRESH_MS) return known.window;
    // the instant in the window is chosen once per certificate, so passes agree on it
    const fraction =
      known?.serial === serial && known.window
        ? (known.window.renewAt.getTime() - known.window.start.getTime()) / Math.max(1, known.window.end.getTime() - known.window.start.getTime())
        : randomInt(1_000_000) / 1_000_000;
    try {
      // loaded on first use: an agent without acme: never loads the X.509 parser
      const { fetchRenewalWindow } = await import('./ari.js');
      const window = await fetchRenewalWindow(acmeCfg.directory, caRootPem(acmeCfg.caRoot), readFileSync(file, 'utf8'), fraction);
      ari.set(file, { serial, askedAt: now().getTime(), ...(window ? { window } : {}) });
      return window;
    } catch (e) {
      ari.set(file, { serial, askedAt: now().getTime(), ...(known?.serial === serial && known.window ? { window: known.window } : {}) });
      report.notes.push(`renewal information from the CA unavailable (${(e as Error).message}); renewing by lifetime`);
      return known?.serial === serial ? known.window : undefined;
    }
  }
  let publisher: { publish(token: string, ka: string, name: string): Promise<void>; unpublish(token: string, name: string): Promise<void> } | undefined;

  /** With a shared name, answers travel over the mesh (both ways); a one-node cluster needs no mesh. */
  async function meshAnswers(ctx: ReconcileContext<Config>): Promise<void> {
    publisher = undefined;
    if (ctx.config.nodes.length === 1) return;
    if (!o.peers) return;
    const { acceptMeshAnswers, meshPublisher } = await import('./mesh-publish.js');
    const node = await o.peers(ctx.config, ctx.nodeName, ctx.log);
    if (!node.ready()) return;
    acceptMeshAnswers(node, () => target);
    // every configured node must be a member, or the CA may ask one that never got the answer
    const members = new Set(node.memberNames());
    if (target && ctx.config.nodes.every((n) => members.has(n.name))) publisher = meshPublisher(node, target);
  }

  async function issue(ctx: ReconcileContext<Config>, w: WantedCertificate, reason: string): Promise<void> {
    const acmeCfg = ctx.config.acme;
    if (!acmeCfg) return;
    const log = ctx.log;
    const gid = ctx.config.apps.routerUid;
    const t0 = now();
    log.info({ names: w.names, reason, directory: acmeCfg.directory }, 'requesting a certificate from the ACME CA');
    try {
      // the order runs in a child process (acme-child.ts): acme-client's memory leaves with it
      const { issueInChild } = await import('./acme-process.js');
      const caRoot = caRootPem(acmeCfg.caRoot);
      const keyPem = newPrivateKey(); // a fresh key for every certificate; it reaches disk only next to its certificate
      const pctx = { config: ctx.config, log };
      const here: PublishTarget = { config: ctx.config, challengeDir, log };
      const alpn = acmeCfg.challenge === 'tls-alpn-01' ? ('tls-alpn-01' as const) : undefined;
      const chain = await issueInChild({
        directory: acmeCfg.directory,
        ...(caRoot !== undefined ? { caRoot } : {}),
        email: acmeCfg.email,
        accountKeyPem: accountKey(stateDir),
        keyPem,
        names: [...w.names],
        challenge: acmeCfg.challenge,
        publish: async (token, ka, name) => {
          if (o.publish) return o.publish(pctx, token, ka, name);
          if (name === acmeCfg.sharedName && ctx.config.nodes.length > 1) {
            if (!publisher) throw new Error(`the answer for ${name} must reach every node, but this node has not joined the mesh yet`);
            return publisher.publish(token, ka, name);
          }
          await publishHere(here, token, ka, name, alpn);
        },
        unpublish: async (token, name) => {
          if (o.unpublish) return o.unpublish(pctx, token, name);
          if (publisher && name === acmeCfg.sharedName) return publisher.unpublish(token, name);
          unpublishHere(here, token, name, alpn);
        },
        progress: (msg) => log.info({ names: w.names }, msg),
      });
      installCertificate(w, keyPem, chain, gid);
      writeRetry(stateDir, w.cert, afterAttempt(readRetry(stateDir, w.cert), now()));
      const f = readCertFacts(w.cert);
      log.info({ names: w.names, serial: f?.serial, issuer: f?.issuer, notAfter: f?.notAfter.toISOString(), ms: now().getTime() - t0.getTime() }, 'certificate installed; the router reloads it live');
    } catch (e) {
      const msg = (e instanceof Error ? e.message : String(e)).slice(0, 500);
      const next = afterAttempt(readRetry(stateDir, w.cert), now(), msg);
      writeRetry(stateDir, w.cert, next);
      log.error({ names: w.names, problem: msg, failures: next.failures, retryAt: next.nextAttemptAt }, 'certificate request failed; the installed certificate stays');
    }
  }

  return {
    name: 'certs',
    pending: () => job?.done,
    async reconcile(ctx: ReconcileContext<Config>): Promise<ReconcileReport> {
      const report: ReconcileReport = { name: 'certs', changed: false, drift: [], notes: [] };
      const acmeCfg = ctx.config.acme;
      const t = now();
      if (!acmeCfg) {
        // still shown in `bulwark status`: what each TLS listener presents
        for (const f of tlsFiles(ctx.config)) report.notes.push(describeCert(readCertFacts(f.cert), t));
        return report;
      }
      const wanted = wantedCertificates(ctx.config, ctx.nodeName);
      if (wanted.length === 0) report.notes.push('no TLS listener: no certificate wanted');
      try {
        ensureDir(stateDir, 0o700);
      } catch (e) {
        report.error = `cannot create ${stateDir}: ${(e as Error).message}`;
        return report;
      }
      target = { config: ctx.config, challengeDir, log: ctx.log };
      try {
        if (acmeCfg.sharedName && !o.publish) await meshAnswers(ctx);
        const pruned = pruneAnswers(challengeDir, 15 * 60_000);
        if (pruned) report.notes.push(`${pruned} stale ${acmeCfg.challenge} answer(s) removed`);
      } catch (e) {
        report.notes.push(`shared-name answers over the mesh unavailable: ${(e as Error).message}`);
      }
      for (const w of wanted) {
        const facts = readCertFacts(w.cert);
        report.notes.push(describeCert(facts, t));
        const retry = readRetry(stateDir, w.cert);
        const window = facts && !facts.selfSigned ? await renewalInfo(ctx, w.cert, facts.serial, report) : undefined;
        if (window) report.notes.push(`the CA suggests renewing between ${window.start.toISOString()} and ${window.end.toISOString()}`);
        const d = renewalDecision(w.names, facts, t, acmeCfg.renewBefore, window);
        // A failing renewal while the installed certificate has weeks left is a note (it is retried); without a
        // trusted certificate, or with under AUDIT_MIN_DAYS left, the capability fails.
        const usable = facts !== undefined && !facts.selfSigned && daysLeft(facts, t) >= AUDIT_MIN_DAYS;
        if (retry.failures > 0) {
          const line = `last ACME attempt failed (${retry.failures}x): ${retry.lastError ?? '?'}; next try ${retry.nextAttemptAt ?? 'now'}`;
          if (usable || job) report.notes.push(line);
          else report.error = line;
        }
        if (job) {
          report.notes.push(`certificate request for ${job.names} under way since ${job.started.toISOString()}`);
          continue;
        }
        if (!d.due) continue;
        if (!mayAttempt(retry, t)) continue;
        if (acmeCfg.sharedName && ctx.config.nodes.length > 1 && !publisher && !o.publish) {
          report.notes.push(`waiting for every node to join the mesh: the answer for ${acmeCfg.sharedName} must reach them all`);
          continue;
        }
        report.drift.push(`certificate for ${w.names.join(',')} due: ${d.reason}`);
        const started = t;
        const done = issue(ctx, w, d.reason).finally(() => {
          job = undefined;
        });
        job = { names: w.names.join(','), started, done };
      }
      report.changed = report.drift.length > 0;
      return report;
    },
  };
}
