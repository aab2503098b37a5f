import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';

/**
 * A real OTLP/HTTP collector for the tests: it accepts POST /v1/traces
 * (application/x-protobuf, gzip or not), keeps every raw body byte and decodes
 * ExportTraceServiceRequest with the small protobuf wire reader below (the
 * field numbers of opentelemetry/proto/trace/v1/trace.proto).
 */
export interface ExportedSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, string | number | boolean>;
  statusCode: number;
  statusMessage: string;
  events: number;
  links: number;
  scope: string;
  resource: Record<string, string | number | boolean>;
}

interface Field { no: number; wire: number; bytes?: Buffer; int?: bigint }

function varint(buf: Buffer, at: number): [bigint, number] {
  let out = 0n;
  let shift = 0n;
  for (;;) {
    const b = buf[at++]!;
    out |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [out, at];
    shift += 7n;
  }
}

export function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let at = 0;
  while (at < buf.length) {
    const [tag, next] = varint(buf, at);
    at = next;
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) {
      const [v, n] = varint(buf, at);
      out.push({ no, wire, int: v });
      at = n;
    } else if (wire === 1) {
      out.push({ no, wire, bytes: buf.subarray(at, at + 8) });
      at += 8;
    } else if (wire === 2) {
      const [len, n] = varint(buf, at);
      out.push({ no, wire, bytes: buf.subarray(n, n + Number(len)) });
      at = n + Number(len);
    } else if (wire === 5) {
      out.push({ no, wire, bytes: buf.subarray(at, at + 4) });
      at += 4;
    } else {
      throw new Error(`protobuf: wire type ${wire} at ${at}`);
    }
  }
  return out;
}

const str = (f: Field | undefined) => f?.bytes?.toString('utf8') ?? '';
const sub = (fs: Field[], no: number) => fs.filter((f) => f.no === no).map((f) => fields(f.bytes!));

function anyValue(fs: Field[]): string | number | boolean {
  for (const f of fs) {
    if (f.no === 1) return str(f);
    if (f.no === 2) return f.int === 1n;
    if (f.no === 3) return Number(BigInt.asIntN(64, f.int!));
    if (f.no === 4) return f.bytes!.readDoubleLE(0);
    return `<complex field ${f.no}>`;
  }
  return '';
}

function keyValues(list: Field[][]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list) out[str(kv.find((f) => f.no === 1))] = anyValue(sub(kv, 2)[0] ?? []);
  return out;
}

export function decodeTraces(body: Buffer): ExportedSpan[] {
  const spans: ExportedSpan[] = [];
  for (const rs of sub(fields(body), 1)) {
    const resource = keyValues(sub(sub(rs, 1)[0] ?? [], 1));
    for (const ss of sub(rs, 2)) {
      const scope = str((sub(ss, 1)[0] ?? []).find((f) => f.no === 1));
      for (const s of sub(ss, 2)) {
        const status = sub(s, 15)[0] ?? [];
        spans.push({
          traceId: s.find((f) => f.no === 1)?.bytes?.toString('hex') ?? '',
          spanId: s.find((f) => f.no === 2)?.bytes?.toString('hex') ?? '',
          parentSpanId: s.find((f) => f.no === 4)?.bytes?.toString('hex') ?? '',
          name: str(s.find((f) => f.no === 5)),
          kind: Number(s.find((f) => f.no === 6)?.int ?? 0n),
          attributes: keyValues(sub(s, 9)),
          events: s.filter((f) => f.no === 11).length,
          links: s.filter((f) => f.no === 13).length,
          statusMessage: str(status.find((f) => f.no === 2)),
          statusCode: Number(status.find((f) => f.no === 3)?.int ?? 0n),
          scope,
          resource,
        });
      }
    }
  }
  return spans;
}

export interface ReceivedExport { path: string; headers: http.IncomingHttpHeaders; raw: Buffer; body: Buffer }

export async function startOtlpReceiver() {
  const exports: ReceivedExport[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      exports.push({ path: req.url ?? '/', headers: req.headers, raw, body });
      // An empty ExportTraceServiceResponse.
      res.writeHead(200, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    exports,
    spans: () => exports.flatMap((e) => decodeTraces(e.body)),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
