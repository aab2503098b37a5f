import { Type } from '@fastify/type-provider-typebox';
import { CATALOGUE } from './catalogue.ts';

const strict = { additionalProperties: false } as const;
const DateTime = Type.String({ format: 'date-time' });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const InstallParams = Type.Object({ id: Type.String({ format: 'uuid' }) }, strict);

export const InstallBody = Type.Object({
  module: Type.Unsafe<string>({ type: 'string', enum: CATALOGUE.map((e) => e.key) }),
}, strict);

export const ListInstallsQuery = Type.Object({
  /** Also the uninstalled ones (the record of what modules held). */
  all: Type.Optional(Type.Boolean({ default: false })),
}, strict);

const Permission = Type.Object({ key: Type.String(), description: Type.String() });

export const CatalogueModule = Type.Object({
  key: Type.String(),
  name: Type.String(),
  description: Type.String(),
  publisher: Type.String(),
  version: Type.String(),
  permissions: Type.Array(Permission),
  events: Type.Array(Type.String()),
  /** The tenant's live install of it, if any. */
  installId: Nullable(Type.String()),
});
export const CatalogueList = Type.Object({ items: Type.Array(CatalogueModule) });

export const Install = Type.Object({
  id: Type.String(),
  module: Type.String(),
  version: Type.String(),
  scopes: Type.Array(Type.String()),
  events: Type.Array(Type.String()),
  credentialId: Type.String(),
  status: Type.Union([Type.Literal('installed'), Type.Literal('uninstalled')]),
  installedBy: Nullable(Type.String()),
  installedAt: DateTime,
  uninstalledBy: Nullable(Type.String()),
  uninstalledAt: Nullable(DateTime),
});
export const InstallList = Type.Object({ items: Type.Array(Install) });

/** The install and its credential, shown this once. */
export const Installed = Type.Object({ ...Install.properties, credential: Type.String() });

export const Insights = Type.Object({
  installId: Type.String(),
  module: Type.String(),
  status: Type.Union([Type.Literal('installed'), Type.Literal('uninstalled')]),
  /** What the install was granted: the module's declared permissions. */
  grantedScopes: Type.Array(Type.String()),
  /** What its credential can do now (granted scopes the installer still holds; none once revoked). */
  effectiveScopes: Type.Array(Type.String()),
  events: Type.Array(Type.String()),
  credential: Type.Union([Type.Literal('active'), Type.Literal('revoked'), Type.Literal('installer-gone')]),
  /** Requests made with the credential (written about once a minute). */
  usageCount: Type.Integer(),
  lastActivityAt: Nullable(DateTime),
  installedAt: DateTime,
});
