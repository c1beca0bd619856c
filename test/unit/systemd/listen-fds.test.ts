import { describe, expect, it } from 'vitest';
import { listenFdsByName } from '../../../src/systemd/listen-fds.js';
import { sdNotify, watchdogIntervalMs } from '../../../src/systemd/notify.js';

describe('socket activation by name', () => {
  it('maps descriptors to their FileDescriptorName, never by position', () => {
    const m = listenFdsByName({ LISTEN_FDS: '4', LISTEN_PID: '42', LISTEN_FDNAMES: 'https:http:app-echo:app-echo' }, 42);
    expect(Object.fromEntries(m)).toEqual({ https: [3], http: [4], 'app-echo': [5, 6] });
  });
  it('ignores descriptors meant for another process or absent', () => {
    expect(listenFdsByName({ LISTEN_FDS: '2', LISTEN_PID: '7', LISTEN_FDNAMES: 'a:b' }, 42).size).toBe(0);
    expect(listenFdsByName({}, 42).size).toBe(0);
  });
});

describe('sd_notify and watchdog', () => {
  it('is a no-op without NOTIFY_SOCKET', async () => {
    expect(await sdNotify({ READY: 1 }, {})).toBe(false);
  });
  it('pings at the interval systemd gave this process', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 1)).toBe(30_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '2' }, 1)).toBeUndefined();
    expect(watchdogIntervalMs({}, 1)).toBeUndefined();
  });
});
