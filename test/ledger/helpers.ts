import { randomUUID } from 'node:crypto';
import { bearer, json, type Account, type TestApp } from '../support/app.ts';

/** Small HTTP helpers for the ledger tests. */
export function ledgerClient(t: TestApp, who: Account) {
  const call = (method: 'GET' | 'POST', url: string, payload?: object) =>
    t.app.inject({ method, url: `/api/v1/ledger${url}`, headers: bearer(who), ...(payload ? { payload } : {}) });
  return {
    call,
    async account(asset = 'EUR', flags: Record<string, boolean> = {}, extra: object = {}) {
      const res = await call('POST', '/accounts', { code: `acc-${randomUUID().slice(0, 8)}`, name: 'Account', asset, flags, ...extra });
      if (res.statusCode !== 201) throw new Error(`account: ${res.statusCode} ${res.body}`);
      return json(res) as { id: string; balances: Record<string, string> };
    },
    transfer: (body: object) => call('POST', '/transfers', { id: randomUUID(), ...body }),
    linked: (transfers: object[]) => call('POST', '/transfers/linked', { transfers }),
    async balances(id: string) {
      return json(await call('GET', `/accounts/${id}`)).balances as Record<string, string>;
    },
  };
}
