/**
 * A local C2SP tlog-witness for tests: add-checkpoint with the checks of
 * tlog-witness "add-checkpoint" (log signature, old size against its record,
 * consistency proof, same-size root), then a tlog-cosignature v1 line.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cosignatureVerifierKey, parseCheckpoint, signCosignature, verifyConsistency } from '../../src/kernel/translog/index.ts';
import { trustedKeys, verifyWithKeys } from '../../src/kernel/audit/key-history.ts';

export interface TestWitness {
  name: string;
  vkey: string;
  privateKey: KeyObject;
  url: string;
  /** Latest cosigned checkpoint per origin. */
  state: Map<string, { size: number; root: Buffer }>;
  /** Every request: origin, old size, answer status. */
  requests: { origin: string; old: number; size: number; status: number }[];
  /** Answer 503 to this many requests before working. */
  failNext: number;
  /** Answer 200 with a line signed by another key under this witness's name. */
  forge: boolean;
  close(): Promise<void>;
}

export async function startWitness(name: string, logKeys: () => Promise<string[]>): Promise<TestWitness> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const impostor = generateKeyPairSync('ed25519').privateKey;
  const w = { name, vkey: cosignatureVerifierKey(name, publicKey), privateKey, state: new Map(), requests: [], failNext: 0, forge: false } as unknown as TestWitness;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      void answer(req.url ?? '', body).then(({ status, text, type }) => {
        res.writeHead(status, { 'content-type': type ?? 'text/plain' });
        res.end(text);
      });
    });
  });
  async function answer(url: string, body: string): Promise<{ status: number; text: string; type?: string }> {
    if (url !== '/add-checkpoint') return { status: 404, text: 'not found\n' };
    const split = body.indexOf('\n\n');
    const head = body.slice(0, split).split('\n');
    const note = body.slice(split + 2);
    const m = /^old (0|[1-9][0-9]*)$/.exec(head[0] ?? '');
    if (!m) return { status: 400, text: 'bad old line\n' };
    const old = Number(m[1]);
    const proof = head.slice(1).map((l) => Buffer.from(l, 'base64'));
    let cp;
    try {
      cp = verifyWithKeys(note, trustedKeys(await logKeys()));
    } catch {
      return { status: 403, text: 'no trusted signature\n' };
    }
    const log = (status: number) => w.requests.push({ origin: cp.origin, old, size: cp.size, status });
    if (w.failNext > 0) {
      w.failNext--;
      log(503);
      return { status: 503, text: 'down for maintenance\n' };
    }
    if (old > cp.size) return (log(400), { status: 400, text: 'old size above size\n' });
    const known = w.state.get(cp.origin);
    if ((known?.size ?? 0) !== old) return (log(409), { status: 409, text: `${known?.size ?? 0}\n`, type: 'text/x.tlog.size' });
    if (known && old === cp.size && !known.root.equals(cp.root)) return (log(409), { status: 409, text: 'fork\n' });
    if (old === 0 && proof.length > 0) return (log(422), { status: 422, text: 'proof from 0\n' });
    if (known && old > 0 && old < cp.size) {
      try {
        verifyConsistency(old, cp.size, proof, known.root, cp.root);
      } catch {
        return (log(422), { status: 422, text: 'inconsistent\n' });
      }
    }
    w.state.set(cp.origin, { size: cp.size, root: cp.root });
    log(200);
    parseCheckpoint(note);
    const line = signCosignature(note, { name, privateKey: w.forge ? impostor : privateKey }, Math.floor(Date.now() / 1000));
    return { status: 200, text: `${line}\n` };
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  w.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  w.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return w;
}
