/** The credentials offered to a host, in order: key files named for it (inventory, ssh config),
 * the ssh-agent (SSH_AUTH_SOCK; never forwarded), ~/.ssh/id_* when nothing was named, and
 * ansible_password last. Encrypted keys are opened with FLEETPATCH_SSH_KEY_PASSPHRASE or a prompt. */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import ssh2 from 'ssh2';
import { AppError } from '../errors.ts';
import type { Secret } from './secret.ts';
import { PASSPHRASE_ENV, type SshSettings } from './settings.ts';
import type { SshEndpoint } from './target.ts';

const DEFAULT_IDENTITIES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

export interface AuthPlan {
  /** ssh2 auth attempts, each tried once, in order. */
  methods: ssh2.AnyAuthMethod[];
  /** What was offered, for the message when the host refuses all of it. */
  offered: string[];
}

const passphrases = new Map<string, Promise<string | null>>();
/** Key files opened in this process, by path: reused while the file's bytes and the passphrase
 * are the same (an encrypted OpenSSH key's bcrypt KDF is not run again for every host). */
const opened = new Map<string, { bytes: Buffer; pass: string | undefined; key: ssh2.ParsedKey }>();

export async function authPlan(t: SshEndpoint & { password?: Secret | null }, settings: SshSettings, where: string): Promise<AuthPlan> {
  const methods: ssh2.AnyAuthMethod[] = [];
  const offered: string[] = [];
  const skipped: string[] = [];
  const addKey = async (path: string, explicit: boolean) => {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      if (!explicit) return;
      throw new AppError('config', `${where}: cannot read key file ${path}: ${(err as NodeJS.ErrnoException).code ?? err}; fix ansible_ssh_private_key_file or IdentityFile`);
    }
    // the key as opened before, from the same bytes with the same passphrase (or none)
    const known = opened.get(path);
    const reuse = (pass?: string) => (known && known.bytes.equals(bytes) && known.pass === pass ? known.key : null);
    let parsed = reuse() ?? ssh2.utils.parseKey(bytes);
    let pass: string | undefined;
    if (parsed instanceof Error && /encrypted|passphrase/i.test(parsed.message)) {
      const asked = await keyPassphrase(path, settings);
      if (asked === null) {
        skipped.push(`${path} (passphrase-protected: set ${PASSPHRASE_ENV}, run in a terminal to be asked, or add it to ssh-agent)`);
        return;
      }
      pass = asked;
      parsed = reuse(pass) ?? ssh2.utils.parseKey(bytes, pass);
      if (parsed instanceof Error) {
        passphrases.delete(path);
        throw new AppError('auth', `${where}: the passphrase does not open key ${path}; check ${PASSPHRASE_ENV} or the passphrase typed`);
      }
    }
    if (parsed instanceof Error) {
      if (!explicit) return;
      throw new AppError('config', `${where}: ${path} is not a usable private key: ${parsed.message}`);
    }
    const key = parsed === known?.key ? parsed : signingOnce(parsed);
    opened.set(path, { bytes, pass, key });
    // ssh2 takes an already parsed (and decrypted) key as it is
    methods.push({ type: 'publickey', username: t.user, key });
    offered.push(`key ${path}`);
  };
  for (const f of t.identityFiles) await addKey(f, true);
  const agent = settings.env.SSH_AUTH_SOCK;
  if (agent) {
    methods.push({ type: 'agent', username: t.user, agent });
    offered.push(`ssh-agent (${agent})`);
  }
  if (t.identityFiles.length === 0) for (const name of DEFAULT_IDENTITIES) await addKey(resolve(homedir(), '.ssh', name), false);
  if (t.password) {
    const password = t.password.reveal();
    methods.push({ type: 'password', username: t.user, password });
    methods.push({
      type: 'keyboard-interactive',
      username: t.user,
      prompt: (_name, _instructions, _lang, prompts, finish) => finish(prompts.map((p) => (!p.echo && /password/i.test(p.prompt) ? password : ''))),
    });
    offered.push('ansible_password');
  }
  offered.push(...skipped.map((s) => `not ${s}`));
  if (methods.length === 0) {
    throw new AppError('auth', `${where}: no credentials to offer${skipped.length ? `: ${skipped.join('; ')}` : ''}; set ansible_ssh_private_key_file, run an ssh-agent (SSH_AUTH_SOCK), or set ansible_password`);
  }
  return { methods, offered };
}

/** ssh2 signs each login from the key's PEM text, so OpenSSL parses the key again every time
 * (≈0.5 ms for an ed25519 key, more for RSA): the key signs from a KeyObject made once instead.
 * Without a hash named, the key's own default (ECDSA's curve hash) is ssh2's to pick. */
function signingOnce(key: ssh2.ParsedKey): ssh2.ParsedKey {
  const pem = key.getPrivatePEM();
  if (!pem) return key;
  const own: KeyObject = createPrivateKey(pem);
  const pemSign = key.sign.bind(key);
  const ed25519 = key.type === 'ssh-ed25519';
  // like ssh2's own sign, a failure is returned, not thrown
  key.sign = (data, algo) => {
    if (!algo && !ed25519) return pemSign(data);
    try {
      return sign(algo || null, typeof data === 'string' ? Buffer.from(data) : data, own);
    } catch (err) {
      return err as Buffer;
    }
  };
  return key;
}

/** Asked once per key file however many hosts use it. */
function keyPassphrase(path: string, settings: SshSettings): Promise<string | null> {
  const fromEnv = settings.env[PASSPHRASE_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return Promise.resolve(fromEnv);
  if (!settings.prompt) return Promise.resolve(null);
  let asked = passphrases.get(path);
  if (!asked) {
    asked = settings.prompt(`Enter passphrase for key ${path}: `);
    passphrases.set(path, asked);
  }
  return asked;
}

/** ssh2's authHandler: each method once, skipping those the server does not accept. */
export function authHandler(plan: AuthPlan): ssh2.AuthHandlerMiddleware {
  const queue = [...plan.methods];
  return (methodsLeft, _partial, next) => {
    while (queue.length) {
      const m = queue.shift()!;
      const needs: ssh2.AuthenticationType = m.type === 'agent' ? 'publickey' : m.type;
      if (!methodsLeft || methodsLeft.includes(needs)) return next(m);
    }
    // ssh2 ends authentication when the handler answers false
    return next(false as unknown as ssh2.AnyAuthMethod);
  };
}
