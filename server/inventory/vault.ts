/** Ansible Vault, format 1.1 and 1.2 (AES256): PBKDF2-SHA256 (10000 rounds) derives an AES-256
 * key, an HMAC-SHA256 key and the CTR counter from the password and salt; the payload is
 * hexlified twice and cut into 80-column lines under a `$ANSIBLE_VAULT;1.x;AES256[;id]` header.
 * Passwords come from --vault-password-file (a file, or an executable that prints it). */
import { spawnSync } from 'node:child_process';
import { createDecipheriv, createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { basename, extname } from 'node:path';

export class VaultError extends Error {}

export interface VaultSecret {
  id: string;
  password: Buffer;
  /** Where the password came from, for messages (never the password). */
  source: string;
}

const HEADER = '$ANSIBLE_VAULT';

/** `is_encrypted`: ASCII text starting with the vault header. */
export function isVaultText(data: string | Buffer): boolean {
  const s = typeof data === 'string' ? data : data.toString('latin1');
  // eslint-disable-next-line no-control-regex
  return s.startsWith(HEADER) && !/[^\x00-\x7f]/.test(s);
}

/** The envelope's parts: hexlified payload, format version, cipher and vault id. */
export function parseEnvelope(text: string): { payload: string; version: string; cipher: string; vaultId: string } {
  const lines = text.split(/\r\n|\r|\n/);
  const header = lines[0]!.trim().split(';');
  if (header.length < 3) throw new VaultError('Vault envelope format error: the header needs a version and a cipher');
  return {
    version: header[1]!.trim(),
    cipher: header[2]!.trim(),
    vaultId: header.length >= 4 ? header[3]!.trim() : 'default',
    payload: lines.slice(1).join(''),
  };
}

function unhexlify(hex: string): Buffer {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new VaultError('Vault format unhexlify error: Non-hexadecimal digit found');
  return Buffer.from(hex, 'hex');
}

/** Decrypts one AES256 payload with one password; null when the HMAC does not match. */
export function decryptPayload(payloadHex: string, password: Buffer): Buffer | null {
  const inner = unhexlify(payloadHex.trim()).toString('latin1');
  const first = inner.indexOf('\n');
  const second = inner.indexOf('\n', first + 1);
  if (first < 0 || second < 0) throw new VaultError('Vault vaulttext format error: not enough values to unpack');
  const salt = unhexlify(inner.slice(0, first));
  const mac = inner.slice(first + 1, second);
  const ciphertext = unhexlify(inner.slice(second + 1));
  const derived = pbkdf2Sync(password, salt, 10000, 80, 'sha256');
  const [key1, key2, iv] = [derived.subarray(0, 32), derived.subarray(32, 64), derived.subarray(64, 80)];
  const expected = createHmac('sha256', key2).update(ciphertext).digest();
  const given = unhexlify(mac);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  const decipher = createDecipheriv('aes-256-ctr', key1, iv);
  const padded = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  const pad = padded[padded.length - 1] ?? 0;
  if (pad < 1 || pad > 16 || pad > padded.length || !padded.subarray(padded.length - pad).every((b) => b === pad)) {
    throw new VaultError('Vault payload padding is invalid');
  }
  return padded.subarray(0, padded.length - pad);
}

/** `VaultLib.decrypt`: the secret named by the envelope's vault id first, then every other. */
export function decryptVault(text: string, secrets: VaultSecret[], what: string): Buffer {
  const { payload, cipher, vaultId } = parseEnvelope(text);
  if (cipher !== 'AES256') throw new VaultError(`${what}: vault cipher ${cipher} is not supported (only AES256)`);
  if (secrets.length === 0) throw new VaultError(`${what} is vault-encrypted and no vault password was given: pass --vault-password-file FILE`);
  const ordered = [...secrets.filter((s) => s.id === vaultId), ...secrets.filter((s) => s.id !== vaultId)];
  for (const s of ordered) {
    const plain = decryptPayload(payload, s.password);
    if (plain) return plain;
  }
  throw new VaultError(`${what}: decryption failed (no vault secrets were found that could decrypt; tried ${[...new Set(ordered.map((s) => s.source))].join(', ')})`);
}

const PY_BYTES_SPACE = /^[ \t\n\r\x0b\x0c]+|[ \t\n\r\x0b\x0c]+$/g;

/** A --vault-password-file: the file's first content stripped of whitespace, or, when the file is
 * executable, what it prints (a `*-client` script is asked with `--vault-id ID`). */
export function readVaultPasswordFile(file: string, id = 'default'): VaultSecret {
  let executable = false;
  try {
    executable = (statSync(file).mode & 0o111) !== 0;
  } catch {
    executable = false;
  }
  let password: Buffer;
  if (executable) {
    const client = basename(file, extname(file)).endsWith('-client');
    const r = spawnSync(file, client ? ['--vault-id', id] : [], { stdio: ['inherit', 'pipe', 'inherit'], timeout: 60_000 });
    if (r.error) throw new VaultError(`Problem running vault password script ${file} (${r.error.message}). If this is not a script, remove the executable bit from the file.`);
    if (r.status !== 0) throw new VaultError(`Vault password script ${file} returned non-zero (${r.status ?? r.signal})`);
    password = stripCrLf(r.stdout);
  } else {
    let raw: Buffer;
    try {
      raw = readFileSync(file);
    } catch (err) {
      throw new VaultError(`Could not read vault password file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const stripped = Buffer.from(raw.toString('latin1').replace(PY_BYTES_SPACE, ''), 'latin1');
    if (isVaultText(stripped)) throw new VaultError(`vault password file ${file} is itself vault-encrypted, which fleetpatch does not read`);
    password = stripCrLf(stripped);
  }
  if (password.length === 0) throw new VaultError(`Invalid vault password was provided from ${executable ? 'script' : 'file'} (${file})`);
  return { id, password, source: file };
}

function stripCrLf(b: Buffer): Buffer {
  let a = 0;
  let e = b.length;
  while (a < e && (b[a] === 0x0a || b[a] === 0x0d)) a++;
  while (e > a && (b[e - 1] === 0x0a || b[e - 1] === 0x0d)) e--;
  return b.subarray(a, e);
}
