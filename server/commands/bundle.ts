/** `fleetpatch bundle keygen|build|sign|verify|inspect`: make, sign and check patch bundles. */
import type { ControllerConfig } from '../config.ts';
import { AppError, EXIT, exitCodeFor } from '../errors.ts';
import {
  buildBundle,
  DEFAULT_KEY_NAME,
  generateBundleKey,
  inspectBundle,
  loadBundle,
  signBundle,
  type BundleInspection,
  type BundleLoadOptions,
  type LoadedBundle,
  type SignatureStatus,
} from '../bundles/index.ts';
import { configFrom } from './common.ts';
import { table } from './table.ts';
import type { Command, CommandContext, Options } from './types.ts';

/** For commands that use a bundle (plan, run, …): `--allow-unsigned` exists only on the command line. */
export const ALLOW_UNSIGNED_OPTION: Options = { 'allow-unsigned': { type: 'boolean' } };
export const ALLOW_UNSIGNED_HELP = '  --allow-unsigned   accept a bundle without bundle.sig (lab use; never one with a bad signature)';

export function bundleOptions(config: ControllerConfig): BundleLoadOptions {
  return { trustedKeysDir: config.trustedKeysDir, revokedKeyIds: config.revokedKeyIds, maxFileBytes: config.maxBundleFileBytes };
}

/** Loads the bundle a command was given, honouring `--allow-unsigned` with a warning on stderr. */
export function bundleFrom(ctx: CommandContext, dir: string, config: ControllerConfig): Promise<LoadedBundle> {
  return loadBundle(dir, bundleOptions(config), { allowUnsigned: ctx.values['allow-unsigned'] === true, warn: ctx.err });
}

export const bundleCommand: Command = {
  name: 'bundle',
  summary: 'create signing keys, build, sign, verify and inspect patch bundles',
  usage: 'fleetpatch bundle keygen --out DIR [--name N] | build SRC --out DIR | sign DIR --key K | verify DIR | inspect DIR [--json]',
  details: [
    '  keygen --out DIR [--name N]   write DIR/N.key (ed25519 PKCS8 PEM, mode 0600) and DIR/N.pub',
    `                                (default N: ${DEFAULT_KEY_NAME}); prints the key id`,
    '  build SRC --out DIR           copy the payload SRC/bundle.json names into DIR (new or empty)',
    '                                and fill in its files (sizes, sha256); the result is unsigned',
    '  sign DIR --key K              sign DIR/bundle.json with private key K, writing DIR/bundle.sig',
    '  verify DIR                    exit 0 when the bundle is valid and signed by a trusted key, 2',
    '                                otherwise, with the reason',
    '  inspect DIR                   show the bundle, its signature status and modules/debs, checks',
    '                                and files; exit status as verify',
    '',
    'Trusted keys are the *.pub files in the controller config\'s trustedKeysDir, minus its',
    'revokedKeyIds. See docs/bundles.md for the format.',
  ].join('\n'),
  options: {
    out: { type: 'string', short: 'o' },
    name: { type: 'string' },
    key: { type: 'string', short: 'k' },
  },
  async run(ctx) {
    const [action, ...args] = ctx.positionals;
    const one = (what: string) => {
      if (args.length !== 1) throw new AppError('usage', `usage: fleetpatch bundle ${action} ${what}`);
      return args[0]!;
    };
    const flag = (name: string, usage: string) => {
      const value = ctx.values[name];
      if (typeof value !== 'string' || value === '') throw new AppError('usage', `fleetpatch bundle ${action} needs --${name}; usage: fleetpatch bundle ${usage}`);
      return value;
    };
    switch (action) {
      case 'keygen': {
        if (args.length) throw new AppError('usage', 'usage: fleetpatch bundle keygen --out DIR [--name N]');
        const key = generateBundleKey(flag('out', 'keygen --out DIR [--name N]'), (ctx.values.name as string | undefined) ?? DEFAULT_KEY_NAME);
        ctx.out(
          ctx.json
            ? JSON.stringify({ ok: true, ...key })
            : [`key id ${key.keyId}`, `private key ${key.privateKeyFile} (keep it secret)`, `public key  ${key.publicKeyFile} (copy it into a controller's trustedKeysDir to trust it)`].join('\n'),
        );
        return EXIT.ok;
      }
      case 'build': {
        const src = one('SRC --out DIR');
        const built = await buildBundle(src, flag('out', 'build SRC --out DIR'), { maxFileBytes: configFrom(ctx).maxBundleFileBytes });
        const files = Object.keys(built.manifest.files).length;
        ctx.out(
          ctx.json
            ? JSON.stringify({ ok: true, dir: built.dir, id: built.manifest.id, serial: built.manifest.serial, sha256: built.sha256, files })
            : `Built ${built.dir}: ${built.manifest.id} serial ${built.manifest.serial}, ${files} payload file${files === 1 ? '' : 's'}, bundle.json sha256 ${built.sha256}.\nIt is unsigned: fleetpatch bundle sign ${built.dir} --key KEY`,
        );
        return EXIT.ok;
      }
      case 'sign': {
        const dir = one('DIR --key K');
        const signed = await signBundle(dir, flag('key', 'sign DIR --key K'), { maxFileBytes: configFrom(ctx).maxBundleFileBytes });
        ctx.out(ctx.json ? JSON.stringify({ ok: true, ...signed }) : `Signed ${signed.signatureFile} with key ${signed.keyId} (bundle.json sha256 ${signed.sha256}).`);
        return EXIT.ok;
      }
      case 'verify': {
        const bundle = await loadBundle(one('DIR'), bundleOptions(configFrom(ctx)));
        const m = bundle.manifest;
        ctx.out(
          ctx.json
            ? JSON.stringify({ ok: true, dir: bundle.dir, id: m.id, serial: m.serial, sha256: bundle.sha256, keyId: bundle.keyId })
            : `ok: ${bundle.dir} (${m.id} serial ${m.serial}) is valid and signed by trusted key ${bundle.keyId}; ${bundle.files.size} payload file${bundle.files.size === 1 ? '' : 's'} verified.`,
        );
        return EXIT.ok;
      }
      case 'inspect': {
        const inspection = await inspectBundle(one('DIR [--json]'), bundleOptions(configFrom(ctx)));
        if (ctx.json) {
          ctx.out(JSON.stringify({ ...inspection, files: inspection.files && Object.fromEntries(inspection.files) }, null, 2));
        } else {
          ctx.out(formatInspection(inspection));
        }
        return inspection.verdict.ok ? EXIT.ok : exitCodeFor(inspection.verdict.error.code);
      }
      default:
        throw new AppError('usage', `unknown bundle action ${JSON.stringify(action ?? '')}; usage: ${bundleCommand.usage}`);
    }
  },
};

export function signatureSummary(s: SignatureStatus): string {
  switch (s.state) {
    case 'trusted':
      return `trusted (key ${s.keyId}, ${s.keyFile})`;
    case 'unsigned':
      return 'unsigned';
    case 'untrusted':
      return `untrusted (key ${s.keyId})`;
    case 'revoked':
      return `revoked (key ${s.keyId})`;
    case 'invalid':
      return s.keyId ? `invalid (claims key ${s.keyId})` : 'invalid';
  }
}

function formatInspection(i: BundleInspection): string {
  const indent = (text: string) => text.split('\n').map((l) => `  ${l}`);
  const lines = [`bundle     ${i.dir}`];
  const m = i.manifest;
  if (m) {
    lines.push(
      `id         ${m.id}`,
      `serial     ${m.serial}`,
      `kind       ${m.kind}`,
      `title      ${m.title}`,
      `severity   ${m.severity}`,
      `cves       ${m.cves.length ? m.cves.join(', ') : 'none'}`,
    );
  }
  lines.push(`signature  ${signatureSummary(i.signature)}`, `sha256     ${i.sha256} (bundle.json)`);
  if (m?.kind === 'livepatch') {
    const lp = m.livepatch;
    lines.push(`patch      ${lp.patch} (replace: ${lp.replace ? 'yes, cumulative' : 'no'}; transition timeout ${lp.transitionTimeoutSeconds} s)`, '', 'modules:');
    lines.push(...indent(table(['RELEASE', 'BUILD-ID', 'FILE', 'VERSION'], lp.modules.map((x) => [x.release, x.buildId, x.file, x.version]))));
  } else if (m?.kind === 'packages') {
    lines.push('', 'debs:', ...indent(table(['NAME', 'VERSION', 'ARCH', 'FILE'], m.packages.debs.map((d) => [d.name, d.version, d.arch, d.file]))));
  }
  if (m) {
    lines.push('', 'checks:');
    if (!m.checks.length) lines.push('  none');
    for (const c of m.checks) {
      const expect = [`exit ${c.exitCode}`];
      if (c.stdoutEquals !== undefined) expect.push(`stdout equals ${JSON.stringify(c.stdoutEquals)}`);
      if (c.stdoutContains !== undefined) expect.push(`stdout contains ${JSON.stringify(c.stdoutContains)}`);
      if (c.stdoutNotContains !== undefined) expect.push(`stdout does not contain ${JSON.stringify(c.stdoutNotContains)}`);
      lines.push(`  ${JSON.stringify(c.argv)} → ${expect.join(', ')}`);
    }
    const verified = i.files !== null;
    lines.push('', `files (${verified ? 'verified' : 'NOT verified'}):`);
    lines.push(...indent(table(['PATH', 'SIZE', 'SHA256'], Object.entries(m.files).map(([p, f]) => [p, String(f.size), f.sha256]))));
  }
  lines.push('', i.verdict.ok ? 'verdict    ok: valid and signed by a trusted key' : `verdict    refused (${i.verdict.error.code}): ${i.verdict.error.message}`);
  return lines.join('\n');
}
