import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { STARTER } from '../../../src/config/starter.js';
import { lockoutProblem } from '../../../src/provision/lockout.js';

const withFw = (fw: string) => parseConfig(STARTER.replace(/firewall:\n(  .*\n|\s*#.*\n)*/, `firewall:\n${fw}\n`));

describe('bootstrap lockout guard', () => {
  it('passes when the operator address is in a management network', () => {
    expect(lockoutProblem(parseConfig(STARTER), '198.51.100.1 50000 198.51.100.11 22')).toBeUndefined();
  });
  it('refuses when the firewall would cut this SSH session, naming the address', () => {
    expect(lockoutProblem(parseConfig(STARTER), '203.0.113.9 50000 198.51.100.11 22')).toMatch(/does not include 203\.0\.113\.9, the address this bootstrap comes from/);
    expect(lockoutProblem(withFw('  managementNetworks: []'), '198.51.100.1 5 198.51.100.11 22')).toMatch(/\(none\) does not include/);
  });
  it('respects an explicit fromAnywhere and a disabled firewall', () => {
    expect(lockoutProblem(withFw('  ssh: { fromAnywhere: true }'), '203.0.113.9 5 198.51.100.11 22')).toBeUndefined();
    expect(lockoutProblem(withFw('  enabled: false'), '203.0.113.9 5 198.51.100.11 22')).toBeUndefined();
  });
  it('notices a session on a port the firewall will not open', () => {
    expect(lockoutProblem(parseConfig(STARTER), '198.51.100.1 5 198.51.100.11 2222')).toMatch(/port 2222/);
  });
});
