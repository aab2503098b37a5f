import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { parseWitnesses } from '../../src/kernel/audit/witness.ts';
import { cosignatureVerifierKey, verifierKeyString } from '../../src/kernel/translog/index.ts';

const vkey = (name: string) => cosignatureVerifierKey(name, generateKeyPairSync('ed25519').publicKey);
const problems = (env: Record<string, string>) => {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map((p) => p.split(':')[0]);
  }
};

describe('OCSUITE_WITNESSES and OCSUITE_WITNESS_LOGS', () => {
  it('takes `<url> <vkey>` entries and bare vkeys (offline witnesses), defaults to none and all logs', () => {
    const a = vkey('w.example/a');
    const b = vkey('w.example/b');
    const c = loadConfig({ OCSUITE_WITNESSES: `https://w.example/a ${a}, ${b}` });
    expect(c.witnesses.map((w) => w.trim())).toEqual([`https://w.example/a ${a}`, b]);
    expect(c.witnessLogs).toBe('all');
    expect(parseWitnesses(c.witnesses).map((w) => [w.url, w.verifier.name])).toEqual([['https://w.example/a', 'w.example/a'], [undefined, 'w.example/b']]);
    const d = loadConfig({});
    expect(d.witnesses).toEqual([]);
    expect(loadConfig({ OCSUITE_WITNESS_LOGS: 'platform' }).witnessLogs).toBe('platform');
  });

  it('refuses entries that are not a URL and a vkey, other schemes, other log scopes', () => {
    const a = vkey('w.example/a');
    expect(problems({ OCSUITE_WITNESSES: 'https://w.example/a' })).toEqual(['OCSUITE_WITNESSES']);
    expect(problems({ OCSUITE_WITNESSES: `ftp://w.example ${a}` })).toEqual(['OCSUITE_WITNESSES']);
    expect(problems({ OCSUITE_WITNESSES: `https://w.example ${a} extra` })).toEqual(['OCSUITE_WITNESSES']);
    expect(problems({ OCSUITE_WITNESS_LOGS: 'tenants' })).toEqual(['OCSUITE_WITNESS_LOGS']);
  });

  it('fails the start on a key whose ID does not match, a log (0x01) key, or a witness listed twice', () => {
    const a = vkey('w.example/a');
    const forged = a.replace(/\+[0-9a-f]{8}\+/, '+00000000+');
    expect(() => parseWitnesses([`https://w.example ${forged}`])).toThrow(/does not match/);
    expect(() => parseWitnesses([verifierKeyString('log.example', generateKeyPairSync('ed25519').publicKey)])).toThrow(/0x04/);
    expect(() => parseWitnesses([a, `https://w.example ${a}`])).toThrow(/twice/);
  });

  it('wants https witness URLs in production', () => {
    const env = { NODE_ENV: 'production', OCSUITE_WITNESSES: `http://w.example ${vkey('w.example/a')}` };
    expect(problems(env)).toContain('OCSUITE_WITNESSES');
    expect(problems({ ...env, OCSUITE_WITNESSES: `https://w.example ${vkey('w.example/a')}` })).not.toContain('OCSUITE_WITNESSES');
  });
});
