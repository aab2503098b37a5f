import fs from 'node:fs';
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverAlert, newAlert } from '../../src/jobs/alerts.ts';
import { generateWebhookSecret } from '../../src/kernel/webhooks/index.ts';
import { bearer, json, signup, startApp, type Account, type TestApp } from '../support/app.ts';
import { startReceiver, type Received } from './receiver.ts';

/**
 * The n8n recipes of docs/integrations/n8n.md are code that runs: the Code
 * nodes of the example workflows are executed here as n8n runs them (an async
 * function body with $input, $env and $getWorkflowStaticData), against real
 * deliveries, a real platform alert and a real receiver.
 */
const workflow = (file: string) => JSON.parse(fs.readFileSync(new URL(`../../docs/integrations/n8n/${file}`, import.meta.url), 'utf8')) as { nodes: Array<{ name: string; type: string; parameters: Record<string, unknown> }> };
const codeOf = (file: string, node: string) => workflow(file).nodes.find((n) => n.name === node)!.parameters.jsCode as string;

function runCodeNode(code: string, item: unknown, env: Record<string, string>, staticData: Record<string, unknown> = {}) {
  const context = vm.createContext({
    require: createRequire(import.meta.url), Buffer, $env: env, $input: { first: () => item }, $getWorkflowStaticData: () => staticData,
  });
  return (vm.runInContext(`(async () => {\n${code}\n})()`, context) as Promise<unknown>).then((out) => JSON.parse(JSON.stringify(out)));
}

const asN8nItem = (r: Received) => ({ json: { headers: r.headers }, binary: { data: { data: Buffer.from(r.body).toString('base64') } } });

let t: TestApp;
let rx: Awaited<ReturnType<typeof startReceiver>>;
let A: Account;

beforeAll(async () => {
  rx = await startReceiver();
  t = await startApp({ OCSUITE_EGRESS_ALLOW_CIDRS: '127.0.0.1/32', OCSUITE_EGRESS_ALLOW_HTTP_HOSTS: '127.0.0.1' });
  A = await signup(t.app, 'n8n tenant');
});
afterAll(async () => {
  await t?.close();
  await rx?.close();
});

describe('OC-Suite → n8n: the "Verify signature" Code node', () => {
  const verify = codeOf('alerts-queue-spike.json', 'Verify signature');

  it('accepts a real delivery once, refuses a replay of it silently and a tampered one loudly', async () => {
    const e = json(await t.app.inject({ method: 'POST', url: '/api/v1/webhooks/endpoints', headers: bearer(A), payload: { url: rx.url('/n8n/events'), eventTypes: ['webhooks.test'] } }));
    await t.app.inject({ method: 'POST', url: `/api/v1/webhooks/endpoints/${e.id}/test`, headers: bearer(A) });
    const [got] = await rx.waitFor('/n8n/events', 1);
    const env = { OCSUITE_WEBHOOK_SECRET: e.secret };
    const staticData = {};
    const out = await runCodeNode(verify, asN8nItem(got!), env, staticData);
    expect(out).toEqual([{ json: expect.objectContaining({ type: 'webhooks.test', data: expect.objectContaining({ endpointId: e.id }) }) }]);
    expect(await runCodeNode(verify, asN8nItem(got!), env, staticData)).toEqual([]);
    await expect(runCodeNode(verify, asN8nItem({ ...got!, body: got!.body.replace('test message', 'tampered message') }), env, {})).rejects.toThrow('webhook refused');
    await expect(runCodeNode(verify, asN8nItem(got!), { OCSUITE_WEBHOOK_SECRET: generateWebhookSecret() }, {})).rejects.toThrow('webhook refused');
  });

  it('verifies a platform alert (the alerts/* workflows)', async () => {
    const secret = generateWebhookSecret();
    await deliverAlert(t.platform.egress, { url: rx.url('/n8n/alerts'), secret }, newAlert('jobs.failure_spike', 'critical', 'failure spike on mail.send', { queue: 'mail.send' }));
    const [got] = await rx.waitFor('/n8n/alerts', 1);
    const out = await runCodeNode(verify, asN8nItem(got!), { OCSUITE_WEBHOOK_SECRET: secret });
    expect(out[0].json).toMatchObject({ type: 'alert.jobs.failure_spike', data: { severity: 'critical', details: { queue: 'mail.send' } } });
  });
});

describe('n8n → OC-Suite: the "Sign for OC-Suite" Code node', () => {
  it('produces a call an OC-Suite receiver accepts, and that cannot be replayed', async () => {
    const r = json(await t.app.inject({ method: 'POST', url: '/api/v1/webhooks/inbound', headers: bearer(A), payload: { name: 'n8n', eventTypes: ['mail.bounced', 'mail.complaint'] } }));
    const sign = codeOf('outreach-bounce-trigger.json', 'Sign for OC-Suite');
    const [call] = await runCodeNode(sign, { json: { type: 'mail.bounced', data: { email: `gone-${randomUUID().slice(0, 6)}@example.com` } } }, { OCSUITE_RECEIVER_SECRET: r.secret });
    const post = () => t.app.inject({ method: 'POST', url: new URL(r.url).pathname, headers: call.json.headers, payload: call.json.body });
    const res = await post();
    expect(res.statusCode, res.body).toBe(202);
    expect((await post()).statusCode).toBe(401);
  });
});
