/** OpenSSH known_hosts: plain and hashed (`|1|salt|hash`) names, `[host]:port`, comma lists,
 * wildcards and negation, several keys per host, `@revoked` (refused) and `@cert-authority`
 * (unsupported, refused). The configured files are the only source of truth for host keys. */
import { createHash, createHmac } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { AppError } from '../errors.ts';

export interface KnownHostEntry {
  marker: 'revoked' | 'cert-authority' | null;
  /** Host patterns, or one hashed name. */
  names: { pattern: string; negated: boolean }[] | { salt: Buffer; hash: Buffer };
  keyType: string;
  key: Buffer;
  /** `file:line` */
  where: string;
}

export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'] = null;
    if (fields[0]?.startsWith('@')) {
      const m = fields.shift()!;
      if (m !== '@revoked' && m !== '@cert-authority') return;
      marker = m.slice(1) as KnownHostEntry['marker'];
    }
    const [hosts, keyType, keyText] = fields;
    if (!hosts || !keyType || !keyText) return; // OpenSSH skips malformed lines too
    const key = Buffer.from(keyText, 'base64');
    if (key.length === 0 || blobKeyType(key) !== keyType) return;
    let names: KnownHostEntry['names'];
    if (hosts.startsWith('|1|')) {
      const [, , salt, hash] = hosts.split('|');
      if (!salt || !hash) return;
      names = { salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
    } else {
      names = hosts.split(',').map((p) => (p.startsWith('!') ? { pattern: p.slice(1), negated: true } : { pattern: p, negated: false }));
    }
    entries.push({ marker, names, keyType, key, where: `${file}:${i + 1}` });
  });
  return entries;
}

export function loadKnownHosts(files: string[]): KnownHosts {
  const entries: KnownHostEntry[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new AppError('config', `cannot read known_hosts file ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    for (const e of parseKnownHosts(text, file)) entries.push(e);
  }
  return new KnownHosts(entries, files);
}

/** The name OpenSSH looks up: `host`, or `[host]:port` when the port is not 22. */
export function lookupName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** `SHA256:…` as OpenSSH prints it. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside an SSH public key blob. */
export function blobKeyType(key: Buffer): string | null {
  if (key.length < 4) return null;
  const len = key.readUInt32BE(0);
  return len > 0 && len < 64 && key.length >= 4 + len ? key.subarray(4, 4 + len).toString('latin1') : null;
}

export class KnownHosts {
  constructor(
    readonly entries: KnownHostEntry[],
    readonly files: string[],
  ) {}

  /** forHost's answers by name: every handshake asks twice, and a scan matches every entry
   * (an HMAC or a pattern each), so a fleet would cost O(hosts²); cleared when an entry is added. */
  private readonly byName = new Map<string, KnownHostEntry[]>();

  /** Entries naming this host (revoked and CA entries excluded). */
  forHost(host: string, port: number): KnownHostEntry[] {
    const name = lookupName(host, port);
    let found = this.byName.get(name);
    if (!found) {
      found = this.entries.filter((e) => e.marker === null && matchesName(e, name));
      this.byName.set(name, found);
    }
    return found;
  }

  /** Key types we know for the host, for ordering the host key algorithms we offer. */
  keyTypes(host: string, port: number): string[] {
    return [...new Set(this.forHost(host, port).map((e) => e.keyType))];
  }

  /** Trust on first use (`--accept-new-host-keys`): appends the key to `file` and remembers it.
   * Only ever called for a host with no key at all, never for a changed or revoked one. */
  accept(host: string, port: number, key: Buffer, file: string): KnownHostEntry {
    const name = lookupName(host, port);
    const keyType = blobKeyType(key) ?? 'unknown';
    const line = `${name} ${keyType} ${key.toString('base64')}\n`;
    try {
      appendFileSync(file, line, { mode: 0o644 });
    } catch (err) {
      throw new AppError('config', `cannot append the new host key of ${name} to ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    const entry: KnownHostEntry = { marker: null, names: [{ pattern: name, negated: false }], keyType, key, where: `${file} (accepted)` };
    this.entries.push(entry);
    this.byName.clear();
    return entry;
  }

  /** Throws the AppError that explains why a presented key is refused; returns when trusted. */
  check(host: string, port: number, key: Buffer): void {
    const name = lookupName(host, port);
    const type = blobKeyType(key) ?? 'unknown';
    const fp = fingerprint(key);
    const revoked = this.entries.find((e) => e.marker === 'revoked' && e.key.equals(key));
    if (revoked) {
      throw new AppError('host-key-revoked', `host key ${type} ${fp} presented by ${name} is marked @revoked at ${revoked.where}; refusing to connect`);
    }
    const ca = this.entries.find((e) => e.marker === 'cert-authority' && matchesName(e, name));
    const known = this.forHost(host, port);
    if (known.some((e) => e.key.equals(key))) return;
    if (known.length === 0) {
      const why = ca ? ` (the @cert-authority entry at ${ca.where} is not supported by fleetpatch)` : '';
      throw new AppError(
        'host-key-unknown',
        `no host key for ${name} in ${this.files.join(', ')}${why}; the host offered ${type} ${fp}. ` +
          `Verify that fingerprint out of band (on the host: ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), then add the key to the known_hosts file, or run once with --accept-new-host-keys to trust it on first use`,
      );
    }
    const listed = known.map((e) => `${e.keyType} ${fingerprint(e.key)} (${e.where})`).join('; ');
    throw new AppError(
      'host-key-changed',
      `REMOTE HOST IDENTIFICATION HAS CHANGED for ${name}: it offered ${type} ${fp}, but known_hosts has ${listed}. ` +
        `Someone could be intercepting the connection, or the host was reinstalled. Check with the host's owner; if the change is expected, remove the old entry (ssh-keygen -R '${name}' -f FILE) and add the new key`,
    );
  }
}

function matchesName(entry: KnownHostEntry, name: string): boolean {
  if (!Array.isArray(entry.names)) {
    const { salt, hash } = entry.names;
    return createHmac('sha1', salt).update(name).digest().equals(hash);
  }
  let matched = false;
  for (const { pattern, negated } of entry.names) {
    if (!globMatch(pattern.toLowerCase(), name.toLowerCase())) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

function globMatch(pattern: string, name: string): boolean {
  let re = '';
  for (const c of pattern) re += c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${re}$`).test(name);
}
