import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../src/core/errors.js';
import { parseConfig } from '../../../src/config/index.js';
import { STARTER } from '../../../src/config/starter.js';
import { combineExits, readRun } from '../../../src/remote/act.js';
import { resolveTargets, selectNodes, type Selection } from '../../../src/remote/select.js';
import { shQuote } from '../../../src/remote/ssh.js';

const cfg = parseConfig(STARTER);
const config = () => cfg;
const names = (s: Selection) => ('local' in s ? `local ${s.local}` : s.nodes.map((n) => n.name).join(' '));

describe('the node-selection rule', () => {
  it('--all is every node in config order; names pick nodes in config order', () => {
    expect(names(selectNodes(config, { names: [], all: true }, undefined, 'required'))).toBe('n1 n2 n3');
    expect(names(selectNodes(config, { names: ['n3', 'n1', 'n3'], all: false }, undefined, 'required'))).toBe('n1 n3');
    expect(resolveTargets(cfg, ['n2'], false).map((n) => n.name)).toEqual(['n2']);
  });
  it('no name: every node, or a usage error, as the command says', () => {
    expect(names(selectNodes(config, { names: [], all: false }, undefined, 'all'))).toBe('n1 n2 n3');
    expect(() => selectNodes(config, { names: [], all: false }, undefined, 'required')).toThrow(new UsageError('which nodes? give NODE... or --all'));
  });
  it('unknown names and names with --all are usage errors, on a node too', () => {
    expect(() => selectNodes(config, { names: ['n7'], all: false }, undefined, 'all')).toThrow(new UsageError('unknown node: n7 (config has n1, n2, n3)'));
    expect(() => selectNodes(config, { names: ['n7', 'n1', 'n8'], all: false }, 'n1', 'all')).toThrow(/unknown nodes: n7, n8/);
    expect(() => selectNodes(config, { names: ['n1'], all: true }, undefined, 'all')).toThrow(UsageError);
    expect(() => selectNodes(config, { names: ['n1'], all: true }, 'n1', 'all')).toThrow(UsageError);
  });
  it('on a node: nothing, or only its own name, is that node locally, without reading the config', () => {
    const unreadable = () => {
      throw new Error('config read');
    };
    expect(selectNodes(unreadable, { names: [], all: false }, 'n2', 'required')).toEqual({ local: 'n2' });
    expect(selectNodes(unreadable, { names: ['n2'], all: false }, 'n2', 'all')).toEqual({ local: 'n2' });
    expect(selectNodes(unreadable, { names: ['n2', 'n2'], all: false }, 'n2', 'all')).toEqual({ local: 'n2' });
  });
  it('on a node: --all or another name goes to the nodes', () => {
    expect(names(selectNodes(config, { names: [], all: true }, 'n2', 'required'))).toBe('n1 n2 n3');
    expect(names(selectNodes(config, { names: ['n3'], all: false }, 'n2', 'required'))).toBe('n3');
    expect(names(selectNodes(config, { names: ['n2', 'n3'], all: false }, 'n2', 'required'))).toBe('n2 n3');
  });
});

describe('the exit-code rule across nodes', () => {
  it('any failed node is 3; else any failed check is 1; else 0', () => {
    expect(combineExits([])).toBe(0);
    expect(combineExits([0, 0])).toBe(0);
    expect(combineExits([0, 1])).toBe(1);
    expect(combineExits([1, 255])).toBe(3);
    expect(combineExits([0, 2])).toBe(3); // the node's own usage error: that node failed
    expect(combineExits([3, 1, 0])).toBe(3);
  });
  it('a node whose output cannot be read failed, with what it said', () => {
    const parse = (s: string) => JSON.parse(s) as { ok: boolean };
    expect(readRun({ node: 'n1', code: 1, stdout: '{"ok":false}', stderr: '' }, parse)).toEqual({ node: 'n1', code: 1, result: { ok: false } });
    expect(readRun({ node: 'n2', code: 255, stdout: '', stderr: 'connect ECONNREFUSED\n' }, parse)).toEqual({ node: 'n2', code: 3, error: 'connect ECONNREFUSED' });
    expect(readRun({ node: 'n3', code: 0, stdout: 'not json', stderr: '' }, parse)).toEqual({ node: 'n3', code: 3, error: 'not json' });
    expect(readRun({ node: 'n3', code: 3, stdout: '{"ok":false}', stderr: '' }, parse)).toEqual({ node: 'n3', code: 3, result: { ok: false } });
  });
});

describe('shell quoting for remote commands', () => {
  it.each(['plain', "it's", 'a b', '$(rm -rf /)', '`x`', 'semi;colon', '"dq"', ''])('round-trips %j through sh', (s) => {
    const out = execFileSync('sh', ['-c', `printf %s ${shQuote(s) || "''"}`]).toString();
    expect(out).toBe(s);
  });
});
