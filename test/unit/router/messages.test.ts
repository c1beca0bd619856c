import { describe, expect, it } from 'vitest';
import { copyPassthru, parseMessage, ProtocolViolation } from '../../../src/router/wamp/messages.js';

// CALL, PUBLISH and YIELD take parseMessage's hot path (fields written out); the other types take the
// layout walk. Both must accept and refuse the same shapes with the same words.
describe('parseMessage: the hot messages (CALL, PUBLISH, YIELD)', () => {
  it('names every field of a well-formed message', () => {
    expect(parseMessage([48, 7, { receive_progress: true }, 'app.add', [1, 2], { k: 1 }])).toEqual({
      type: 48,
      request: 7,
      options: { receive_progress: true },
      procedure: 'app.add',
      args: [1, 2],
      kwargs: { k: 1 },
    });
    expect(parseMessage([16, 8, {}, 'app.topic'])).toEqual({ type: 16, request: 8, options: {}, topic: 'app.topic' });
    expect(parseMessage([70, 9, { progress: true }, ['x']])).toEqual({ type: 70, request: 9, options: { progress: true }, args: ['x'] });
    expect(parseMessage([16, 1, { enc_algo: 'cryptobox' }, 'app.t', 'opaque'])).toMatchObject({ payload: 'opaque' });
  });

  const refused: [string, unknown[], string][] = [
    ['CALL without a procedure', [48, 1, {}], 'CALL: wrong number of elements (3)'],
    ['CALL with too many elements', [48, 1, {}, 'a.b', [], {}, 1], 'CALL: wrong number of elements (7)'],
    ['CALL with a negative request ID', [48, -1, {}, 'a.b'], 'CALL: request must be an integer in [0, 2^53]'],
    ['CALL with a request ID beyond 2^53', [48, 2 ** 53 + 2, {}, 'a.b'], 'CALL: request must be an integer in [0, 2^53]'],
    ['CALL with options as a list', [48, 1, [], 'a.b'], 'CALL: options must be a dictionary'],
    ['CALL with a numeric procedure', [48, 1, {}, 5], 'CALL: procedure must be a string'],
    ['CALL with a wrongly typed option', [48, 1, { timeout: 'soon' }, 'a.b'], 'CALL: option timeout has a wrong type or value'],
    ['CALL with args not a list', [48, 1, {}, 'a.b', { a: 1 }], 'CALL: args must be a list'],
    ['CALL with kwargs not a dictionary', [48, 1, {}, 'a.b', [], [1]], 'CALL: kwargs must be a dictionary'],
    ['PUBLISH with a numeric topic', [16, 1, {}, 1], 'PUBLISH: topic must be a string'],
    ['PUBLISH with a wrongly typed option', [16, 1, { exclude: ['x'] }, 'a.b'], 'PUBLISH: option exclude has a wrong type or value'],
    ['YIELD with too many elements', [70, 1, {}, [], {}, 1], 'YIELD: wrong number of elements (6)'],
    ['YIELD with options as a string', [70, 1, 'x'], 'YIELD: options must be a dictionary'],
    ['YIELD with a wrongly typed option', [70, 1, { progress: 1 }], 'YIELD: option progress has a wrong type or value'],
  ];
  it.each(refused)('refuses %s', (_what, wire, words) => {
    expect(() => parseMessage(wire)).toThrow(ProtocolViolation);
    expect(() => parseMessage(wire)).toThrow(words);
  });

  it('lets unset options (null) and unknown keys pass', () => {
    expect(parseMessage([48, 1, { timeout: null, x_custom: 'y' }, 'a.b']).options).toEqual({ timeout: null, x_custom: 'y' });
  });
});

describe('copyPassthru', () => {
  it('copies only the payload passthru keys, and nothing from empty options', () => {
    const d: Record<string, unknown> = {};
    copyPassthru({ enc_algo: 'cryptobox', ppt_keyid: 'k', receive_progress: true }, d);
    expect(d).toEqual({ enc_algo: 'cryptobox', ppt_keyid: 'k' });
    const e: Record<string, unknown> = {};
    copyPassthru({}, e);
    copyPassthru(undefined, e);
    expect(e).toEqual({});
  });
});
