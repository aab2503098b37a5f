import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withOwner } from '../../src/db/transaction.ts';
import { listExternalTenants, mapExternalTenant } from '../../src/modules/identity/external-tenants.ts';
import { signup, startApp, type TestApp } from '../support/app.ts';

/** The operator's mapping of external organisations to tenants (what `ocsuite oidc map-tenant` and `list` run). */
let t: TestApp;
// One issuer of this file's own: on PostgreSQL other files share the table.
const issuer = `https://issuer-${randomUUID()}.example.com`;

beforeAll(async () => {
  t = await startApp();
});
afterAll(async () => {
  await t?.close();
});

const mappingsOfIssuer = async () => (await t.platform.withIdentity(listExternalTenants)).filter((m) => m.issuer === issuer);

describe('external tenant mapping', () => {
  it('maps an organisation, remaps it to another tenant, and refuses an unknown tenant writing nothing', async () => {
    const [a, b] = [await signup(t.app, 'Mapped A'), await signup(t.app, 'Mapped B')];
    expect(await withOwner(t.platform.db, (tx) => mapExternalTenant(tx, { issuer, externalId: 'org_z', tenantId: a.tenantId }))).toBe(true);
    expect(await withOwner(t.platform.db, (tx) => mapExternalTenant(tx, { issuer, externalId: 'org_a', tenantId: a.tenantId }))).toBe(true);
    expect(await withOwner(t.platform.db, (tx) => mapExternalTenant(tx, { issuer, externalId: 'org_a', tenantId: b.tenantId }))).toBe(true);
    expect(await withOwner(t.platform.db, (tx) => mapExternalTenant(tx, { issuer, externalId: 'org_gone', tenantId: randomUUID() }))).toBe(false);
    expect(await mappingsOfIssuer()).toEqual([
      { issuer, externalId: 'org_a', tenantId: b.tenantId },
      { issuer, externalId: 'org_z', tenantId: a.tenantId },
    ]);
  });

  it('is an operator act: the identity role cannot map', async () => {
    const a = await signup(t.app, 'Not mapped');
    await expect(t.platform.withIdentity((tx) => mapExternalTenant(tx, { issuer, externalId: 'org_self', tenantId: a.tenantId }))).rejects.toThrow(/permission denied/);
    expect((await mappingsOfIssuer()).some((m) => m.externalId === 'org_self')).toBe(false);
  });
});
