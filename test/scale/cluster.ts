import { randomUUID } from 'node:crypto';
import { fixtureProcesses, type FixtureProcess } from '../support/fixture-process.ts';

/**
 * N API processes and M workers of test/scale/fixtures/node.ts on one PostgreSQL and one
 * Redis, under a BullMQ prefix of their own; the API nodes trust 127.0.0.1 as their proxy, so
 * the load generator names each simulated client with X-Forwarded-For.
 */
export interface Cluster {
  prefix: string;
  apis: Array<{ proc: FixtureProcess; url: string; name: string }>;
  workers: FixtureProcess[];
  killAll(): void;
}

export async function startCluster(o: { databaseUrl: string; redisUrl: string; masterKeys: string; apis: number; workers: number; env?: Record<string, string> }): Promise<Cluster> {
  const fixture = fixtureProcesses('test/scale/fixtures/node.ts', 60_000);
  const prefix = `ocsuite-scale-${randomUUID()}`;
  const env = {
    DATABASE_URL: o.databaseUrl, REDIS_URL: o.redisUrl, OCSUITE_JOBS_PREFIX: prefix, PROBE_PREFIX: `${prefix}:probe`,
    OCSUITE_MASTER_KEYS: o.masterKeys, PUBLIC_URL: 'http://ocsuite.test', LOG_LEVEL: 'warn', OCSUITE_DB_POOL_MAX: '4',
    OCSUITE_INPROCESS_WORKERS: 'false', OCSUITE_TRUSTED_PROXIES: '127.0.0.1', OCSUITE_ACCESS_LOG_SYNC: 'true',
    OCSUITE_DATA_DIR: `/tmp/ocsuite-scale-${process.pid}`,
    OCSUITE_AUTH_RATE_LIMIT: '100000', OCSUITE_RATE_LIMIT: '100000', OCSUITE_TENANT_RATE_LIMIT: '1000000', OCSUITE_USER_RATE_LIMIT: '1000000',
    OCSUITE_WRITE_RATE_LIMIT: '1000000', OCSUITE_EXPENSIVE_RATE_LIMIT: '1000000', OCSUITE_HEALTH_RATE_LIMIT: '1000000',
    OCSUITE_MAX_CONNECTIONS_PER_IP: '10000',
    ...o.env,
  };
  // Workers first and one at a time with the first API node: they apply migrations under one lock anyway.
  const first = fixture.start({ ...env, NODE_ROLE: 'api', NODE_NAME: 'api-0' });
  const firstPort = (await first.waitFor('port')).port as number;
  const rest = [
    ...Array.from({ length: o.apis - 1 }, (_, i) => ({ role: 'api', name: `api-${i + 1}` })),
    ...Array.from({ length: o.workers }, (_, i) => ({ role: 'worker', name: `worker-${i}` })),
  ].map((p) => ({ ...p, proc: fixture.start({ ...env, NODE_ROLE: p.role, NODE_NAME: p.name }) }));
  const apis = [{ proc: first, url: `http://127.0.0.1:${firstPort}`, name: 'api-0' }];
  const workers: FixtureProcess[] = [];
  for (const p of rest) {
    if (p.role === 'api') apis.push({ proc: p.proc, url: `http://127.0.0.1:${(await p.proc.waitFor('port')).port as number}`, name: p.name });
    else {
      await p.proc.waitFor('worker');
      workers.push(p.proc);
    }
  }
  return { prefix, apis, workers, killAll: () => fixture.killAll() };
}

export interface Answer {
  status: number;
  requestId: string | null;
  body: any;
  ms: number;
}

/** One request from the simulated client `clientIp`; network failures (a killed node) answer status 0. */
export async function call(base: string, method: string, path: string, o: { token?: string; body?: unknown; clientIp?: string } = {}): Promise<Answer> {
  const t0 = performance.now();
  try {
    const res = await fetch(base + path, {
      method,
      headers: {
        ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(o.token ? { authorization: `Bearer ${o.token}` } : {}),
        'x-forwarded-for': o.clientIp ?? '198.18.0.1',
      },
      ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, requestId: res.headers.get('x-request-id'), body, ms: performance.now() - t0 };
  } catch {
    return { status: 0, requestId: null, body: null, ms: performance.now() - t0 };
  }
}
