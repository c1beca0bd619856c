import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import type { Config, NodeSpec } from '../config/schema.js';
import { parseSshTarget } from '../config/schema.js';
import { checkHostKey, type HostKeyChangedError } from './known-hosts.js';
import { NodeError } from '../core/errors.js';

export interface RemoteResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class NodeUnreachableError extends NodeError {
  override name = 'NodeUnreachableError';
}

/** POSIX single-quote one argument. Pure. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function expandHome(p: string): string {
  return p.startsWith('~/') ? `${homedir()}/${p.slice(2)}` : p;
}

/** One SSH connection to a node (as root, or via `sudo -n` for another user). */
export class NodeSession {
  private sftpP?: Promise<SFTPWrapper>;
  private constructor(
    readonly node: NodeSpec,
    private readonly client: Client,
    readonly sudo: boolean,
    /** Set when this connection pinned the host key (first use). */
    readonly pinnedFingerprint?: string,
  ) {}

  static connect(node: NodeSpec, cfg: Config, knownHostsFile: string): Promise<NodeSession> {
    const t = parseSshTarget(node.ssh);
    const hostPort = `${t.host}:${t.port}`;
    let keyFile = expandHome(node.identityFile ?? cfg.ssh.identityFile);
    let privateKey: Buffer;
    try {
      privateKey = readFileSync(keyFile);
    } catch (e) {
      return Promise.reject(new Error(`cannot read SSH key ${keyFile}: ${(e as NodeJS.ErrnoException).code ?? e}`));
    }
    let changed: HostKeyChangedError | undefined;
    let pinned: string | undefined;
    const client = new Client();
    const opts: ConnectConfig = {
      host: t.host,
      port: t.port,
      username: t.user,
      privateKey,
      readyTimeout: cfg.ssh.connectTimeout * 1000,
      keepaliveInterval: 10_000,
      hostVerifier: (key: Buffer) => {
        const r = checkHostKey(knownHostsFile, hostPort, key);
        if (r.status === 'changed') {
          changed = r.error;
          return false;
        }
        if (r.status === 'pinned') pinned = r.fingerprint;
        return true;
      },
    };
    keyFile = '';
    return new Promise((resolve, reject) => {
      client.once('ready', () => resolve(new NodeSession(node, client, t.user !== 'root', pinned)));
      client.once('error', (e: Error) => {
        client.end();
        if (changed) reject(changed);
        else reject(new NodeUnreachableError(`${node.name} (${hostPort}): ${e.message}`));
      });
      client.connect(opts);
    });
  }

  /** Runs a shell command line as root; `stdin` is written to it (secrets go there, never argv). */
  exec(command: string, stdin?: string | Buffer, timeoutMs = 15 * 60_000): Promise<RemoteResult> {
    const line = this.sudo ? `sudo -n sh -c ${shQuote(command)}` : command;
    return new Promise((resolve, reject) => {
      this.client.exec(line, (err, stream) => {
        if (err) return reject(err);
        const out: Buffer[] = [];
        const errb: Buffer[] = [];
        const timer = setTimeout(() => {
          stream.close();
          reject(new Error(`${this.node.name}: timed out after ${timeoutMs / 1000} s: ${command.slice(0, 80)}`));
        }, timeoutMs);
        stream.on('data', (b: Buffer) => out.push(b));
        stream.stderr.on('data', (b: Buffer) => errb.push(b));
        stream.on('close', (code: number | null) => {
          clearTimeout(timer);
          resolve({ code: code ?? 255, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(errb).toString('utf8') });
        });
        stream.end(stdin ?? '');
      });
    });
  }

  async execOk(command: string, stdin?: string | Buffer): Promise<RemoteResult> {
    const r = await this.exec(command, stdin);
    if (r.code !== 0) throw new Error(`${this.node.name}: \`${command.slice(0, 120)}\` exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-800)}`);
    return r;
  }

  private sftp(): Promise<SFTPWrapper> {
    this.sftpP ??= new Promise((resolve, reject) => this.client.sftp((err, s) => (err ? reject(err) : resolve(s))));
    return this.sftpP;
  }

  /** Copies a local file to a path on the node (as the SSH user; use a staging dir then move for sudo users). */
  async upload(local: string, remote: string): Promise<void> {
    const s = await this.sftp();
    await new Promise<void>((resolve, reject) => s.fastPut(local, remote, { concurrency: 16, chunkSize: 256 * 1024 }, (e) => (e ? reject(e) : resolve())));
  }

  /** Writes `content` to `path` as root with `mode`, atomically (temp file + rename). Returns true if it changed. */
  async writeFileIfChanged(path: string, content: string, mode = '0644'): Promise<boolean> {
    const script =
      `set -e; f=${shQuote(path)}; t="$f.bulwark-new"; mkdir -p "$(dirname "$f")"; cat > "$t"; ` +
      `if [ -f "$f" ] && cmp -s "$t" "$f"; then rm -f "$t"; echo same; else chmod ${mode} "$t"; mv -f "$t" "$f"; echo changed; fi`;
    const r = await this.execOk(script, content);
    return r.stdout.trim() === 'changed';
  }

  close(): void {
    this.client.end();
  }
}
