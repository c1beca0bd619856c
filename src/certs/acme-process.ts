/** The agent's end of the ACME child (`acme-child.ts`): forks it, answers its publish/unpublish, returns the chain. */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ACME_CHILD_ENV, ACME_CHILD_URL, type ChildIssue, type ChildMessage } from './acme-child.js';

export interface ChildIssueRequest extends Omit<ChildIssue, 'type'> {
  publish(token: string, keyAuthorization: string, name: string): Promise<void>;
  unpublish(token: string, name: string): Promise<void>;
  progress?(msg: string): void;
  /** The whole order's limit; the child is killed after it (default 10 min). */
  timeoutMs?: number;
}

/** Runs one ACME order in a child process; resolves with the PEM chain, rejects with the CA's or the child's reason. */
export function issueInChild(req: ChildIssueRequest): Promise<string> {
  const { publish, unpublish, progress, timeoutMs, ...rest } = req;
  return new Promise<string>((resolve, reject) => {
    const child = fork(fileURLToPath(ACME_CHILD_URL), [], {
      env: { ...process.env, [ACME_CHILD_ENV]: '1' },
      // not the agent's V8 flags (tuned for a small idle process): the order is short and busy
      execArgv: [],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    let settled = false;
    const finish = (err: Error | undefined, chain?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      if (err) reject(err);
      else resolve(chain ?? '');
    };
    const timer = setTimeout(() => finish(new Error(`the ACME order took longer than ${Math.round((timeoutMs ?? 600_000) / 1000)} s`)), timeoutMs ?? 600_000);
    const reply = (id: number, p: Promise<void>) =>
      p.then(
        () => child.connected && child.send({ type: 'reply', id }),
        (e: unknown) => child.connected && child.send({ type: 'reply', id, error: e instanceof Error ? e.message : String(e) }),
      );
    child.on('message', (raw: unknown) => {
      const m = raw as ChildMessage;
      if (m.type === 'publish') void reply(m.id, publish(m.token, m.keyAuthorization, m.name));
      else if (m.type === 'unpublish') void reply(m.id, unpublish(m.token, m.name));
      else if (m.type === 'progress') progress?.(m.msg);
      else if (m.type === 'done') finish(undefined, m.chain);
      else if (m.type === 'failed') finish(new Error(m.message));
    });
    child.on('error', (e) => finish(new Error(`the ACME child process failed: ${e.message}`)));
    child.on('exit', (code, signal) =>
      finish(new Error(`the ACME child process ended (${signal ?? `exit ${code}`}) without an answer${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' ')}` : ''}`)),
    );
    child.send({ type: 'issue', ...rest } satisfies ChildIssue);
  });
}
