import { Type } from '@fastify/type-provider-typebox';

export const DataKeyStatus = Type.Object({
  /** Oldest first. No key material, wrapped or not. */
  keys: Type.Array(Type.Object({
    version: Type.Integer({ minimum: 1 }),
    state: Type.Union([Type.Literal('active'), Type.Literal('previous'), Type.Literal('destroyed')], { description: 'active: seals new values; previous: still opens values a rotation has not re-encrypted yet; destroyed: erased' }),
    createdAt: Type.String({ format: 'date-time' }),
    destroyedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  })),
  /** Null until the tenant's first secret is sealed (the key is created then). */
  activeVersion: Type.Union([Type.Integer(), Type.Null()]),
  rotationInProgress: Type.Boolean(),
});
