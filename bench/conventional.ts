// The conventional assembly (issue #21 §1): what a team builds without OC-Suite, following the usual
// tutorials — Fastify + @fastify/jwt verifying the token on every request, one `pg` transaction per
// request (BEGIN; SET LOCAL ROLE; set_config; SELECT; COMMIT, each awaited), @fastify/helmet,
// @fastify/cors and @fastify/rate-limit with their defaults, and the same response schema as ours.
// `cache: true` switches on fast-jwt's verified-token cache, as a careful team would.
// Bench only: nothing in src/ imports this.
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyJwt from '@fastify/jwt';
import helmet from '@fastify/helmet';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import pg from 'pg';
import { Entry } from '../src/modules/knowledge/schemas.ts';
import type { Database } from '../src/db/client.ts';

/** Runs the five statements of one request; `query` returns rows. */
type Tx = { query(text: string, values?: unknown[]): Promise<Record<string, unknown>[]>; done(): void };

export interface ConventionalOptions {
  /** The platform's public signing key (one JWK of its JWKS). */
  jwk: JsonWebKey;
  /** PostgreSQL: a `pg.Pool` of its own on this URL (the owner login, then SET LOCAL ROLE). Embedded: the same PGlite. */
  databaseUrl?: string | undefined;
  db: Database;
  cache: boolean;
}

export async function conventionalServer(opts: ConventionalOptions): Promise<{ app: FastifyInstance; close: () => Promise<void> }> {
  const pool = opts.databaseUrl ? new pg.Pool({ connectionString: opts.databaseUrl, max: 20 }) : undefined;
  const connect = async (): Promise<Tx> => {
    if (pool) {
      const client = await pool.connect();
      return { query: async (text, values) => (await client.query(text, values)).rows, done: () => client.release() };
    }
    const lease = await opts.db.acquire();
    return { query: (text, values) => lease.raw(text, values), done: () => lease.release() };
  };

  const app = Fastify();
  await app.register(helmet);
  await app.register(cors);
  // The plugin's defaults, except the budget: 1,000 a minute would refuse the benchmark itself (ours is raised too).
  await app.register(rateLimit, { max: 1_000_000 });
  const publicKey = createPublicKey({ key: opts.jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
  await app.register(fastifyJwt, {
    secret: { public: publicKey, private: 'unused: this server never signs' },
    verify: { algorithms: ['EdDSA'], ...(opts.cache ? { cache: true } : {}) },
  });
  app.addHook('onRequest', async (request) => {
    await request.jwtVerify();
  });

  app.get('/knowledge/:id', { schema: { response: { 200: Entry } } }, async (request) => {
    const { tid } = request.user as { tid: string };
    const { id } = request.params as { id: string };
    const tx = await connect();
    try {
      await tx.query('BEGIN');
      await tx.query('SET LOCAL ROLE ocsuite_runtime');
      await tx.query(`SELECT set_config('app.tenant_id', $1, true)`, [tid]);
      const rows = await tx.query('SELECT id, title, body, tags, created_by, created_at, updated_at FROM knowledge_entries WHERE id = $1', [id]);
      await tx.query('COMMIT');
      const r = rows[0];
      if (!r) throw Object.assign(new Error('not found'), { statusCode: 404 });
      return {
        id: r.id, title: r.title, body: r.body, tags: r.tags, createdBy: r.created_by,
        createdAt: (r.created_at as Date).toISOString(), updatedAt: (r.updated_at as Date).toISOString(),
      };
    } catch (err) {
      await tx.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      tx.done();
    }
  });
  await app.ready();
  return { app, close: async () => { await app.close(); await pool?.end(); } };
}
