import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import type { Principal } from '../auth/principal.ts';
import { KernelError } from '../errors.ts';

/**
 * The action registry (issue #15 §5): what a module lets the approval workflow
 * execute. A module lists its actions in its manifest (`actions`); boot collects
 * them here. Nothing executes an action except the approvals module, and only
 * for an approved ActionApproval, with the approver as principal.
 *
 * Kept small on purpose, so outreach (`outreach.campaign.send`), ledger and
 * marketplace can add theirs: a type, a permission the approver must hold, a
 * risk computed from the payload (never taken from a model), a strict payload
 * schema, and `execute`, which must record its own audit event naming the
 * approval it ran under.
 */
export type ActionRisk = 'low' | 'high';

export interface ActionDeclaration<P = unknown, Pl = unknown> {
  /** `<module>.<noun>.<verb>`, e.g. `content.draft.publish`. */
  type: string;
  /** One line shown to approvers and given to the model as the action's description. */
  description: string;
  /** The catalogued permission an approver must hold (and the requester, for a user's own request). */
  permission: string;
  /**
   * `high` for sends to more than one recipient, ledger transfers, module installs and anything
   * that leaves the tenant: then the approver must not be the requester (four-eyes).
   */
  risk(payload: P): ActionRisk;
  /** Strict TypeBox schema (additionalProperties: false); payloads that fail it never become approvals. */
  payloadSchema: TSchema;
  /**
   * Checks a proposal against the tenant before it becomes an approval (e.g. every recipient is
   * a member of the tenant); throws a KernelError to refuse. Runs again inside `execute`'s own checks.
   */
  validate?(platform: Pl, principal: Principal, payload: P): Promise<void>;
  /** One line for the approval list, from the payload (no secrets). */
  summarize?(payload: P): string;
  /** Runs the action for `principal` (the approver); returns a small JSON result for the record. */
  execute(platform: Pl, principal: Principal, payload: P, approvalId: string): Promise<Record<string, unknown>>;
}

const TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,3}$/;

export class ActionRegistry<Pl = unknown> {
  readonly #actions = new Map<string, ActionDeclaration<unknown, Pl>>();

  /** Refuses (at boot) duplicate types, bad names and permissions no module declares. */
  constructor(declarations: readonly ActionDeclaration<any, Pl>[], isCatalogued: (permission: string) => boolean) {
    for (const d of declarations) {
      if (!TYPE.test(d.type)) throw new Error(`action type "${d.type}" must be <module>.<noun>.<verb>`);
      if (this.#actions.has(d.type)) throw new Error(`action "${d.type}" is registered twice`);
      if (!isCatalogued(d.permission)) throw new Error(`action "${d.type}" requires ${d.permission}, which no module declares`);
      this.#actions.set(d.type, d as ActionDeclaration<unknown, Pl>);
    }
  }

  get(type: string): ActionDeclaration<unknown, Pl> | undefined {
    return this.#actions.get(type);
  }

  list(): ActionDeclaration<unknown, Pl>[] {
    return [...this.#actions.values()];
  }

  /** The registered action and its payload, checked against the schema; anything else is refused. */
  parse(type: unknown, payload: unknown): { action: ActionDeclaration<unknown, Pl>; payload: unknown } {
    const action = typeof type === 'string' ? this.#actions.get(type) : undefined;
    if (!action) throw new KernelError('validation-failed', 'Unknown action type.');
    if (!Value.Check(action.payloadSchema, payload)) throw new KernelError('validation-failed', `The payload does not match ${action.type}.`);
    return { action, payload };
  }
}
