import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import autobahn from 'autobahn';
import { startRouter, type RunningRouter } from '../../../src/router/index.js';
import { abConnect, closeAb, memoryLogger, tempDir, until } from './helpers.js';

// Debian's python3-autobahn (+ python3-cbor2) as a backend component: RawSocket-CBOR on a Unix socket
// bound to the component "pybackend", driven by autobahn-js over WebSocket.
const PY = '/usr/bin/python3';
const SCRIPT = join(import.meta.dirname, 'py', 'component.py');
const mem = memoryLogger();
const tmp = tempDir('bwt-rt-py-');
const sock = join(tmp.dir, 'pybackend.sock');
let r: RunningRouter;
const children: ChildProcess[] = [];
const open: { connection: autobahn.Connection }[] = [];

function runPy(mode: string): { child: ChildProcess; lines: Record<string, unknown>[]; stderr: string[] } {
  const child = spawn(PY, [SCRIPT, mode, sock], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      stderr.push(l);
    }
  });
  child.stderr!.on('data', (d) => stderr.push(String(d)));
  return { child, lines, stderr };
}

beforeAll(async () => {
  r = await startRouter(
    {
      realms: [
        {
          name: 'app',
          roles: [
            { name: 'backend', permissions: [{ uri: 'com.example.py.', match: 'prefix', register: true, call: true, publish: true, subscribe: true, disclose: { caller: true } }] },
            { name: 'web', permissions: [{ uri: 'com.example.py.', match: 'prefix', call: true, publish: true, subscribe: true, disclose: { caller: true, publisher: true } }] },
          ],
        },
      ],
      listeners: [
        { type: 'rawsocket', path: sock, component: 'pybackend' },
        { type: 'websocket', host: '127.0.0.1', port: 0, auth: ['anonymous'] },
      ],
      components: [{ name: 'pybackend', realm: 'app', role: 'backend' }],
      auth: { anonymous: { role: 'web' } },
    },
    { log: mem.log },
  );
});
afterAll(async () => {
  await Promise.all(open.map(closeAb));
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await r?.close();
  tmp.cleanup();
});

describe('python3-autobahn component over RawSocket-CBOR on a Unix socket', () => {
  it('serves RPC, progressive results, kill-cancel and pub/sub with identification', async () => {
    const callee = runPy('callee');
    await until(() => callee.lines.some((l) => l.ready), 20_000, `python component (${callee.stderr.join('')})`);
    expect(callee.lines[0]).toMatchObject({ authid: 'pybackend', authrole: 'backend' });

    const c = await abConnect({
      url: `ws://127.0.0.1:${r.port(1)}/`,
      realm: 'app',
      serializers: [new (autobahn as unknown as { serializer: { CBORSerializer: new () => unknown } }).serializer.CBORSerializer()],
    } as autobahn.IConnectionOptions);
    open.push(c);
    const web = c.session;
    expect(await web.call('com.example.py.add', [20, 22])).toBe(42);
    expect(await web.call('com.example.py.whoami')).toMatchObject({ caller: web.id });

    const progress: unknown[] = [];
    const final = await new Promise((resolve, reject) =>
      (web.call('com.example.py.progress', [3], {}, { receive_progress: true }) as unknown as { then: (a: (v: unknown) => void, b: (e: unknown) => void, c: (p: unknown) => void) => void }).then(
        resolve,
        reject,
        (p) => progress.push(p),
      ),
    );
    expect(progress).toEqual([0, 1, 2]);
    expect(final).toBe('done');

    // pub/sub: python sees the publisher's identity and echoes it back
    const echoed: unknown[][] = [];
    await web.subscribe('com.example.py.echoed', (args) => echoed.push(args ?? []));
    await web.publish('com.example.py.topic', ['ping'], {}, { acknowledge: true, disclose_me: true });
    await until(() => echoed.length === 1, 5000, 'echo');
    expect(echoed[0]).toEqual(['ping', web.id, expect.stringMatching(/^anonymous-/)]);

    // cancel in kill mode: the router sends INTERRUPT, python cancels and answers ERROR canceled
    const interrupted: unknown[] = [];
    await web.subscribe('com.example.py.interrupted', (args) => interrupted.push(args?.[0]));
    const p = web.call('com.example.py.slow') as unknown as Promise<unknown> & { cancel(o: unknown): void };
    const outcome = p.then(
      () => 'completed',
      (e: { error?: string }) => e.error,
    );
    await new Promise((res) => setTimeout(res, 200));
    p.cancel({ mode: 'kill' });
    // python3-autobahn answers an interrupted invocation with its own error URI; the router forwards it
    expect(await outcome).toMatch(/^wamp\.error\.(canceled|runtime_error)$/);
    await until(() => interrupted.length === 1, 5000, 'interrupt to reach python');
  });

  it('python caller: killnowait cancel and call timeout, session intact', async () => {
    const caller = runPy('caller');
    await until(() => caller.lines.some((l) => l.add !== undefined), 30_000, `python caller (${caller.stderr.join('')})`);
    expect(caller.lines.find((l) => l.add !== undefined)).toEqual({ authid: 'pybackend', add: 5, cancel: 'cancelled-locally', interrupted: 1, timeout: 'wamp.error.timeout', after: 2 });
  });
});
