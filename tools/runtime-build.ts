/**
 * `make build` step: produces the runtime artifact a node needs to run Bulwark with nothing from its
 * distro: the Node binary (glibc + libstdc++ only, present on every supported distro) plus one ESM
 * bundle of the CLI/agent/router, and the data files (units/, provisioning/, firewall/).
 *   build/bulwark-runtime-VERSION-linux-ARCH.tar.gz  and  .sha256 beside it
 * Bootstrap uploads the tarball and checks the SHA-256 on the node before installing it.
 */
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, createReadStream, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runtimeArtifactPath } from '../src/provision/runtime-artifact.js';
import { assetRoot } from '../src/util/assets.js';
import { VERSION } from '../src/version.js';

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

export interface BuildOptions {
  /** Stamp the runtime with this version instead of src/version.ts's (a test build for `bulwark upgrade`). */
  version?: string;
  /** Where the tarball goes (default build/bulwark-runtime-VERSION-linux-ARCH.tar.gz) and its staging directory. */
  tarball?: string;
  stage?: string;
}

export async function buildRuntime(root = assetRoot(), opts: BuildOptions = {}): Promise<{ tarball: string; sha256: string }> {
  const version = opts.version ?? VERSION;
  if (!/^[0-9A-Za-z.+~-]{1,64}$/.test(version)) throw new Error(`bad version stamp ${version}`);
  const stage = opts.stage ?? join(root, 'build', 'runtime');
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true });
  await build({
    entryPoints: [join(root, 'src/cli/main.ts')],
    // bulwark.mjs plus a chunk per lazily loaded command (src/cli/commands/index.ts): the agent, a
    // long-running process, never loads the router, SSH or lab code
    outdir: stage,
    entryNames: 'bulwark',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    splitting: true,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: false,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    // a version stamp other than src/version.ts's replaces that module's text in the bundle
    plugins:
      version === VERSION
        ? []
        : [{ name: 'version-stamp', setup: (b) => b.onLoad({ filter: /[\\/]src[\\/]version\.ts$/ }, () => ({ contents: `export const VERSION = ${JSON.stringify(version)};\n`, loader: 'ts' })) }],
    // Optional native accelerators: the pure-JS fallbacks are used when these are absent.
    external: ['cpu-features', 'cbor-extract', 'msgpackr-extract', '*.node', 'bufferutil', 'utf-8-validate'],
    // CommonJS dependencies inside an ESM bundle expect require, __filename and __dirname.
    banner: {
      js: [
        "import { createRequire as __bwCreateRequire } from 'node:module';",
        "import { fileURLToPath as __bwFileURLToPath } from 'node:url';",
        "import { dirname as __bwDirname } from 'node:path';",
        'const require = __bwCreateRequire(import.meta.url);',
        'const __filename = __bwFileURLToPath(import.meta.url);',
        'const __dirname = __bwDirname(__filename);',
      ].join(' '),
    },
  });
  copyFileSync(process.execPath, join(stage, 'node'));
  for (const dir of ['units', 'provisioning', 'firewall']) cpSync(join(root, dir), join(stage, dir), { recursive: true });
  writeFileSync(join(stage, 'VERSION'), version + '\n');
  const tarball = opts.tarball ?? runtimeArtifactPath(root);
  execFileSync('bash', ['-c', `tar -C "${stage}" --owner=0 --group=0 --sort=name -cf - . | gzip -1 > "${tarball}"`]);
  const sha256 = await sha256File(tarball);
  writeFileSync(`${tarball}.sha256`, `${sha256}  ${tarball.split('/').pop()}\n`);
  return { tarball, sha256 };
}

const invoked = process.argv[1]?.endsWith('runtime-build.js');
if (invoked) {
  const t0 = Date.now();
  process.stdout.write('build: runtime bundle + node binary\n');
  buildRuntime().then(
    ({ tarball, sha256 }) => process.stdout.write(`build: ${tarball} sha256 ${sha256.slice(0, 16)}… (${Date.now() - t0} ms)\n`),
    (e: unknown) => {
      process.stderr.write(`build failed: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
