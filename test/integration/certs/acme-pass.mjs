// Runs the agent's certs capability (the built code in dist/) inside a test namespace: one pass, waits for
// the issuance it started, then a second pass; or revokes the installed certificate. Reads one JSON
// argument, prints the reports as JSON on stdout; the agent's log lines (pino JSON) go to stderr.
import { readFileSync } from 'node:fs';
import { parseConfig } from '../../../dist/src/config/index.js';
import { createCertsReconciler } from '../../../dist/src/certs/reconciler.js';
import { accountKey, caRootPem } from '../../../dist/src/certs/store.js';
import { revokeCertificate } from '../../../dist/src/certs/acme.js';
import { certsAudit } from '../../../dist/src/certs/audit.js';
import { createLogger } from '../../../dist/src/log/logger.js';

const o = JSON.parse(process.argv[2]);
const config = parseConfig(o.config, 'acme-test.yaml');
const log = createLogger({ name: 'bulwark-agent', pretty: false, destination: process.stderr, level: 'debug' });
if (o.op === 'audit') {
  process.stdout.write(JSON.stringify({ checks: await certsAudit.run({ config, nodeName: o.node }) }) + '\n');
} else if (o.op === 'revoke') {
  const caRoot = caRootPem(config.acme.caRoot);
  const certPem = readFileSync(config.router.listeners.find((l) => l.type === 'websocket').tls.cert, 'utf8');
  await revokeCertificate({ directory: config.acme.directory, caRoot, email: config.acme.email, accountKeyPem: accountKey(o.stateDir), certPem, reason: 4 });
  process.stdout.write(JSON.stringify({ revoked: true }) + '\n');
} else {
  const r = createCertsReconciler({ stateDir: o.stateDir, challengeDir: o.challengeDir });
  const ctx = { config, nodeName: o.node, log: log.child({ capability: 'certs' }) };
  const first = await r.reconcile(ctx);
  await r.pending();
  const second = await r.reconcile(ctx);
  process.stdout.write(JSON.stringify({ first, second }) + '\n');
}
