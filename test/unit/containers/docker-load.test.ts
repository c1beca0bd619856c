import { describe, expect, it } from 'vitest';
import { dockerLoadedRef } from '../../../src/containers/apps.js';

// The real outputs of Docker 20.10's `docker load` (an archive with a tag, one without); the integration test
// app-docker.test.ts runs it against a live engine.
describe('dockerLoadedRef', () => {
  it('takes the tag, or the image id of an untagged archive', () => {
    expect(dockerLoadedRef('Loaded image: localhost/bulwark-echo:659576d537065798\n')).toBe('localhost/bulwark-echo:659576d537065798');
    expect(dockerLoadedRef('Loaded image ID: sha256:5fd646296e22455360c561242a37411420ca09df64054ef63a6b341f43947502\n')).toBe(
      'sha256:5fd646296e22455360c561242a37411420ca09df64054ef63a6b341f43947502',
    );
  });

  it('finds nothing in other output', () => {
    expect(dockerLoadedRef('open /x.tar: no such file or directory')).toBeUndefined();
  });
});
