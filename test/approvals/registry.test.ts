import { Type } from 'typebox';
import { describe, expect, it } from 'vitest';
import { ActionRegistry, type ActionDeclaration } from '../../src/kernel/actions/registry.ts';
import { splitAnswer } from '../../src/modules/approvals/proposals.ts';

const action = (over: Partial<ActionDeclaration> = {}): ActionDeclaration => ({
  type: 'demo.thing.do', description: 'd', permission: 'demo:do', risk: () => 'low',
  payloadSchema: Type.Object({ n: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
  execute: async () => ({}),
  ...over,
});
const catalogued = (p: string) => p === 'demo:do';

describe('action registry', () => {
  it('refuses duplicates, bad names and uncatalogued permissions at boot', () => {
    expect(() => new ActionRegistry([action(), action()], catalogued)).toThrow(/twice/);
    expect(() => new ActionRegistry([action({ type: 'Bad Type' })], catalogued)).toThrow(/must be/);
    expect(() => new ActionRegistry([action({ permission: 'nobody:declares' })], catalogued)).toThrow(/no module declares/);
  });

  it('parses only registered types with payloads matching their strict schema', () => {
    const r = new ActionRegistry([action()], catalogued);
    expect(r.parse('demo.thing.do', { n: 2 }).action.type).toBe('demo.thing.do');
    for (const [type, payload] of [['demo.thing.do', { n: 0 }], ['demo.thing.do', { n: 1, extra: true }], ['demo.thing.do', null], ['other.thing.do', { n: 1 }], [42, {}], [undefined, {}]] as const) {
      expect(() => r.parse(type, payload)).toThrow();
    }
  });
});

describe('model answers', () => {
  it('reads only type and payload of each proposal, at most five', () => {
    const out = splitAnswer('Hello\n```actions\n[{"type":"a.b.c","payload":{"x":1},"approved":true,"risk":"low"}]\n```\nBye');
    expect(out).toEqual({ text: 'Hello\n\nBye', proposals: [{ type: 'a.b.c', payload: { x: 1 } }], malformed: 0 });
    const many = splitAnswer(`\`\`\`actions\n${JSON.stringify(Array.from({ length: 8 }, () => ({ type: 'a.b.c', payload: {} })))}\n\`\`\``);
    expect(many.proposals).toHaveLength(5);
    expect(many.malformed).toBe(3);
    expect(splitAnswer('```actions\nnot json\n```')).toMatchObject({ proposals: [], malformed: 1 });
    expect(splitAnswer('no block at all')).toEqual({ text: 'no block at all', proposals: [], malformed: 0 });
    expect(splitAnswer('```actions\n[1, "x", null]\n```')).toMatchObject({ proposals: [], malformed: 3 });
  });
});
