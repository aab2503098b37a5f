import { Type } from '@fastify/type-provider-typebox';
import { BUILT_IN_ROLES as ROLES } from '../../kernel/access/catalog.ts';
import { OPAQUE_TOKEN_PATTERN, tokenPattern } from '../../kernel/auth/opaque-token.ts';
import { PASSWORD_MAX_LENGTH } from '../../kernel/auth/passwords.ts';

const strict = { additionalProperties: false } as const;

export const Email = Type.String({ format: 'email', minLength: 3, maxLength: 320 });
// Length policy is checked in code so the message can say what is wrong.
export const Password = Type.String({ minLength: 1, maxLength: PASSWORD_MAX_LENGTH });
export const RoleName = Type.Union(ROLES.map((r) => Type.Literal(r)));
export const Uuid = Type.String({ format: 'uuid' });
export const IdParams = Type.Object({ id: Uuid }, strict);
export const UserIdParams = Type.Object({ userId: Uuid }, strict);

export const SignupBody = Type.Object(
  { tenantName: Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' }), email: Email, password: Password },
  strict,
);
export const LoginBody = Type.Object(
  { email: Email, password: Password, tenant: Type.Optional(Uuid) },
  strict,
);
/** Without `refreshToken`, the console's cookie is used (header `x-ocsuite-refresh: cookie`, same origin only). */
export const RefreshBody = Type.Object({ refreshToken: Type.Optional(Type.String({ pattern: OPAQUE_TOKEN_PATTERN })) }, strict);

export const TokenPair = Type.Object({
  tokenType: Type.Literal('Bearer'),
  accessToken: Type.String(),
  expiresIn: Type.Integer(),
  /** Absent in cookie mode (`x-ocsuite-refresh: cookie`): the token is then in an HttpOnly cookie. */
  refreshToken: Type.Optional(Type.String()),
  tenant: Type.Object({ id: Type.String(), name: Type.String() }),
  user: Type.Object({ id: Type.String(), email: Type.String() }),
  roles: Type.Array(Type.String()),
});

export const MfaChallenge = Type.Object({ mfaRequired: Type.Literal(true), mfaTicket: Type.String(), expiresIn: Type.Integer() });
export const LoginResult = Type.Union([TokenPair, MfaChallenge]);
/** 202 of a signup under OCSUITE_SIGNUP_CONFIRMATION=email: the same for a new and a known address. */
export const SignupPending = Type.Object({ status: Type.Literal('confirmation-sent'), detail: Type.String() });
export const SignupConfirmBody = Type.Object(
  { token: Type.String({ pattern: tokenPattern('ocs_su') }), password: Type.Optional(Password) },
  strict,
);
export const MfaVerifyBody = Type.Object(
  { ticket: Type.String({ pattern: tokenPattern('ocs_mt') }), code: Type.String({ minLength: 6, maxLength: 19 }) },
  strict,
);
export const MfaEnrolBody = Type.Object({ password: Password }, strict);
export const MfaCodeBody = Type.Object({ code: Type.String({ minLength: 6, maxLength: 19 }) }, strict);
export const MfaEnrolment = Type.Object({ secret: Type.String(), otpauthUri: Type.String() });
export const RecoveryCodes = Type.Object({ recoveryCodes: Type.Array(Type.String()) });
export const MfaPolicyBody = Type.Object({ requiredForAdmins: Type.Boolean() }, strict);

export const Me = Type.Object({
  user: Type.Object({ id: Type.String(), email: Type.String(), displayName: Type.Union([Type.String(), Type.Null()]) }),
  tenant: Type.Object({ id: Type.String(), name: Type.String() }),
  roles: Type.Array(Type.String()),
  permissions: Type.Array(Type.String()),
  sessionId: Type.Union([Type.String(), Type.Null()]),
});

/** `null` clears the name. Bounded here in UTF-16 units; code points, controls and bidi overrides are checked in code (profile-service.ts) so the problem says what is wrong. */
export const MePatchBody = Type.Object(
  { displayName: Type.Union([Type.String({ minLength: 1, maxLength: 480 }), Type.Null()], { description: 'at most 120 characters; no control, line-separator or bidirectional-override characters' }) },
  strict,
);

export const Member = Type.Object({
  userId: Type.String(),
  email: Type.String(),
  displayName: Type.Union([Type.String(), Type.Null()]),
  /** The built-in role; null when the member holds custom roles only. */
  role: Type.Union([Type.String(), Type.Null()]),
  /** Every role the member holds: the built-in one (id = its name) and custom ones. */
  roles: Type.Array(Type.Object({ id: Type.String(), name: Type.String(), builtIn: Type.Boolean() })),
  joinedAt: Type.String({ format: 'date-time' }),
});
export const MemberList = Type.Object({ items: Type.Array(Member) });
export const RoleChangeBody = Type.Object({ role: RoleName }, strict);

export const InvitationBody = Type.Object({ email: Email, role: RoleName }, strict);
export const Invitation = Type.Object({
  id: Type.String(),
  email: Type.String(),
  role: Type.String(),
  expiresAt: Type.String({ format: 'date-time' }),
  createdAt: Type.String({ format: 'date-time' }),
});
/** `acceptUrl` only where the operator lets the inviting admin see the link (OCSUITE_INVITATION_LINKS_IN_RESPONSE). */
export const CreatedInvitation = Type.Object({ ...Invitation.properties, acceptUrl: Type.Optional(Type.String()) });
export const InvitationList = Type.Object({ items: Type.Array(Invitation) });
export const AcceptInvitationBody = Type.Object(
  { token: Type.String({ pattern: OPAQUE_TOKEN_PATTERN }), password: Password },
  strict,
);
