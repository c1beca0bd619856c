import { request } from 'node:http';
import { z } from 'zod';
import type { FabricMember } from './plan.js';

const routeSchema = z.looseObject({ ip: z.string(), port: z.number().optional(), rtt: z.string().optional(), remote_id: z.string().optional(), did_solicit: z.boolean().optional() });
export const routezSchema = z.looseObject({ num_routes: z.number().optional(), routes: z.array(routeSchema).nullish() });
export const varzSchema = z.looseObject({ config_load_time: z.string().optional(), version: z.string().optional(), server_name: z.string().optional() });
export type Routez = z.infer<typeof routezSchema>;

/** A peer's route as `bulwark status` shows it. */
export interface RouteState {
  name: string;
  address: string;
  up: boolean;
  rtt?: string;
}

/** Which members have a route up, from nats-server's /routez (matched by the remote's mesh address). Pure. */
export function routeStates(peers: readonly FabricMember[], routez: Routez): RouteState[] {
  const routes = routez.routes ?? [];
  return peers.map((p) => {
    const r = routes.find((x) => x.ip === p.address);
    return { name: p.name, address: p.address, up: Boolean(r), ...(r?.rtt ? { rtt: r.rtt } : {}) };
  });
}

/** One line for `bulwark status`: "fabric: routes 2/2 up: n2 (rtt 1.1ms), n3 (rtt 0.9ms)". Pure. */
export function routesLine(states: readonly RouteState[]): string {
  const up = states.filter((s) => s.up).length;
  const each = states.map((s) => (s.up ? `${s.name} (rtt ${s.rtt ?? '?'})` : `${s.name} DOWN`)).join(', ');
  return `fabric: routes ${up}/${states.length} up${each ? `: ${each}` : ''}`;
}

/** GET a monitoring path on 127.0.0.1 (nats-server's http listener), parsed as JSON; throws on any failure. */
export function getMonitor(port: number, path: string, timeoutMs = 2000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`${path}: HTTP ${res.statusCode}`));
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
