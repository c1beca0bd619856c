import type { MeshLink } from './collect.js';

/** Everything the status page shows; gathered by the agent at request time (status-data.ts). */
export interface StatusData {
  cluster: string;
  node: string;
  version: string;
  generatedAt: string;
  /** The agent's one-line summary (as in `bulwark status`). */
  summary: string;
  nodes: { name: string; endpoint: string; meshAddress: string | undefined; self: boolean }[];
  /** null: this node has not joined the mesh. */
  mesh: MeshLink[] | null;
  /** null: the router's metrics socket did not answer. */
  router: { sessions: { realm: string; role: string; count: number }[]; connections: number; authFailures: number } | null;
  apps: { name: string; realm: string; state: string }[];
  /** null: no certificate source on this node yet. */
  certificates: { name: string; daysLeft: number }[] | null;
  lastAudit: { at: string; pass: number; fail: number; na: number; failing: { id: string; evidence: string }[] } | null;
}

/** HTML-escapes text (names come from the config and from peers). Pure. */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

function age(s: number | null): string {
  if (s === null) return 'never';
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

const bytes = (n: number): string => (n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : n < 1024 ** 3 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : `${(n / 1024 ** 3).toFixed(1)} GiB`);

const table = (head: readonly string[], rows: readonly (readonly string[])[], empty: string): string =>
  rows.length === 0
    ? `<p class="muted">${esc(empty)}</p>`
    : `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.join('')}</tr>`).join('')}</tbody></table>`;

/** A cell: text escaped; `cls` one of our fixed class names. */
const td = (text: unknown, cls?: 'ok' | 'bad' | 'warn'): string => `<td${cls ? ` class="${cls}"` : ''}>${esc(text)}</td>`;

const CSS = `body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;background:#f6f7f9}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:2px solid #2b5fab;padding-bottom:2px}
.muted{color:#667}table{border-collapse:collapse;background:#fff;min-width:50%}
th,td{border:1px solid #cfd4dc;padding:4px 10px;text-align:left}th{background:#e3e8f0}
.ok{background:#d9f2dc}.bad{background:#f8d4d4}.warn{background:#fbefc8}`;

/** The read-only status page: one HTML document, inline CSS, no scripts, every text escaped. Pure. */
export function renderStatusPage(d: StatusData): string {
  const nodes = table(
    ['node', 'endpoint', 'mesh address', ''],
    d.nodes.map((n) => [td(n.name), td(n.endpoint), td(n.meshAddress ?? '-'), td(n.self ? 'this node' : '')]),
    'no nodes',
  );
  const mesh =
    d.mesh === null
      ? `<p class="muted">not joined to the mesh</p>`
      : table(
          ['peer', 'endpoint', 'last handshake', 'received', 'sent'],
          d.mesh.map((l) => [
            td(l.peer),
            td(l.endpoint ?? '-'),
            td(age(l.handshakeAgeSec), l.handshakeAgeSec === null || l.handshakeAgeSec > 180 ? 'bad' : 'ok'),
            td(bytes(l.rxBytes)),
            td(bytes(l.txBytes)),
          ]),
          'no peers',
        );
  const router =
    d.router === null
      ? `<p class="bad">router metrics unavailable (is bulwark-router running?)</p>`
      : `<p>${esc(d.router.connections)} connections accepted, ${esc(d.router.authFailures)} failed authentications</p>` +
        table(
          ['realm', 'role', 'sessions'],
          d.router.sessions.map((s) => [td(s.realm), td(s.role), td(s.count)]),
          'no realms',
        );
  const apps = table(
    ['app', 'realm', 'state'],
    d.apps.map((a) => [td(a.name), td(a.realm), td(a.state, a.state === 'active' ? 'ok' : 'bad')]),
    'no apps on this node',
  );
  const certs =
    d.certificates === null
      ? `<p class="muted">no certificate information on this node</p>`
      : table(
          ['certificate', 'days left'],
          d.certificates.map((c) => [td(c.name), td(c.daysLeft, c.daysLeft < 14 ? 'bad' : c.daysLeft < 30 ? 'warn' : 'ok')]),
          'no certificates',
        );
  const audit =
    d.lastAudit === null
      ? `<p class="muted">no audit yet</p>`
      : `<p class="${d.lastAudit.fail ? 'bad' : 'ok'}">${esc(d.lastAudit.at)}: ${esc(d.lastAudit.pass)} pass, ${esc(d.lastAudit.fail)} fail, ${esc(d.lastAudit.na)} n/a</p>` +
        (d.lastAudit.failing.length
          ? table(
              ['failing check', 'evidence'],
              d.lastAudit.failing.map((f) => [td(f.id, 'bad'), td(f.evidence)]),
              '',
            )
          : '');
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(d.cluster)} / ${esc(d.node)}: Bulwark status</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${CSS}</style></head>
<body>
<h1>Bulwark cluster ${esc(d.cluster)}</h1>
<p class="muted">node ${esc(d.node)} · bulwark ${esc(d.version)} · ${esc(d.generatedAt)} · ${esc(d.summary)} · <a href="/metrics">metrics</a></p>
<h2>Nodes</h2>
${nodes}
<h2>Mesh links</h2>
${mesh}
<h2>Router sessions</h2>
${router}
<h2>Apps</h2>
${apps}
<h2>Certificates</h2>
${certs}
<h2>Last audit</h2>
${audit}
</body></html>
`;
}
