/** ansible.cfg, found and read as Ansible does: $ANSIBLE_CONFIG, ./ansible.cfg (unless the
 * working directory is world-writable), ~/.ansible.cfg, /etc/ansible/ansible.cfg; parsed like
 * Python's configparser (sections, `key = value` or `key: value`, `#`/`;` comments, `;` inline
 * comments after whitespace, indented continuation lines). fleetpatch reads [defaults] inventory,
 * remote_user, private_key_file, vault_password_file, host_key_checking and
 * [ssh_connection] ssh_args (whose options follow the rules of ssh-args.ts); hash_behaviour other
 * than the default is refused, as it would change every merged variable. */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { SourceError } from './errors.ts';
import { unfrackPath } from './paths.ts';
import { parseSshArgs, SshArgsError, type SshOptions } from './ssh-args.ts';

export interface AnsibleConfig {
  file: string;
  /** [defaults] inventory, each path resolved against the file's directory. */
  inventory: string[] | null;
  remoteUser: string | null;
  privateKeyFile: string | null;
  vaultPasswordFile: string | null;
  /** [defaults] host_key_checking = False: ignored (fleetpatch always checks host keys). */
  hostKeyCheckingDisabled: boolean;
  /** [ssh_connection] ssh_args, checked. */
  ssh: SshOptions | null;
}

/** The ansible.cfg Ansible would read from `cwd`, or null. */
export function findAnsibleCfg(cwd: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const candidates: string[] = [];
  if (env.ANSIBLE_CONFIG !== undefined) {
    let p = unfrackPath(env.ANSIBLE_CONFIG, cwd, env);
    if (isDir(p)) p = join(p, 'ansible.cfg');
    candidates.push(p);
  }
  try {
    if ((statSync(cwd).mode & 0o002) === 0) candidates.push(join(cwd, 'ansible.cfg'));
  } catch {
    // an unreadable working directory is skipped, as Ansible skips it
  }
  candidates.push(join(env.HOME ?? homedir(), '.ansible.cfg'), '/etc/ansible/ansible.cfg');
  for (const c of candidates) {
    try {
      accessSync(c, constants.R_OK);
      return c;
    } catch {
      // try the next place
    }
  }
  return null;
}

type Sections = Map<string, Map<string, { value: string; line: number }>>;

/** Python's configparser (strict, inline comments `;` after whitespace) over the file's text. */
export function parseConfigParser(text: string, file: string): Sections {
  const sections: Sections = new Map([['DEFAULT', new Map()]]);
  const added = new Set<string>();
  let cur: Map<string, { value: string; line: number }> | null = null;
  let sect = '';
  let opt: string | null = null;
  let parts: string[] | null = null;
  let indent = 0;
  const lines = text.split(/\r\n|\r|\n/);
  const finish = () => {
    if (cur && opt !== null && parts) cur.get(opt)!.value = parts.join('\n').replace(/\s+$/, '');
  };
  lines.forEach((line, i) => {
    const lineno = i + 1;
    let commentStart = Infinity;
    for (let idx = line.indexOf(';'); idx >= 0; idx = line.indexOf(';', idx + 1)) {
      if (idx === 0 || /\s/.test(line[idx - 1]!)) {
        commentStart = idx;
        break;
      }
    }
    const stripped = line.trim();
    if (stripped.startsWith('#') || stripped.startsWith(';')) commentStart = 0;
    const value = (commentStart === Infinity ? line : line.slice(0, commentStart)).trim();
    if (!value) {
      if (commentStart === Infinity && cur && opt !== null && parts) parts.push('');
      return;
    }
    const level = line.search(/\S/);
    if (cur && opt !== null && level > indent) {
      parts!.push(value);
      return;
    }
    indent = level;
    const header = /^\[(.+)\]/.exec(value);
    if (header) {
      finish();
      sect = header[1]!;
      if (sect === 'DEFAULT') cur = sections.get('DEFAULT')!;
      else {
        if (added.has(sect)) throw new SourceError(`section ${JSON.stringify(sect)} already exists`, file, lineno);
        added.add(sect);
        if (!sections.has(sect)) sections.set(sect, new Map());
        cur = sections.get(sect)!;
      }
      opt = null;
      parts = null;
      return;
    }
    if (!cur) throw new SourceError(`File contains no section headers (${JSON.stringify(line)})`, file, lineno);
    const m = /^(.*?)\s*([=:])\s*(.*)$/.exec(value);
    if (!m || !m[1]) throw new SourceError(`Source contains parsing errors: ${JSON.stringify(line)}`, file, lineno);
    finish();
    opt = m[1].replace(/\s+$/, '').toLowerCase();
    if (added.has(`${sect}\0${opt}`)) throw new SourceError(`option ${JSON.stringify(opt)} in section ${JSON.stringify(sect)} already exists`, file, lineno);
    added.add(`${sect}\0${opt}`);
    parts = [m[3]!.trim()];
    cur.set(opt, { value: parts[0]!, line: lineno });
  });
  finish();
  return sections;
}

/** Reads the settings fleetpatch uses from one ansible.cfg. */
export function readAnsibleCfg(file: string, cwd: string, env: NodeJS.ProcessEnv = process.env): AnsibleConfig {
  if (!/\.(cfg|ini)$/.test(file)) throw new SourceError(`Unsupported configuration file extension for ${file}`, file);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(readFileSync(file));
  } catch (err) {
    throw new SourceError(`cannot read ansible.cfg: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, file);
  }
  const sections = parseConfigParser(text, file);
  const get = (section: string, key: string) => sections.get(section)?.get(key) ?? (sections.has(section) ? sections.get('DEFAULT')!.get(key) : undefined);
  const base = dirname(file);
  const path = (v: string) => unfrackPath(v.replaceAll('{{CWD}}', cwd), base, env);
  const inventory = get('defaults', 'inventory');
  const remoteUser = get('defaults', 'remote_user');
  const key = get('defaults', 'private_key_file');
  const vaultFile = get('defaults', 'vault_password_file');
  const hostKeyChecking = get('defaults', 'host_key_checking') ?? get('ssh_connection', 'host_key_checking');
  const sshArgs = get('ssh_connection', 'ssh_args');
  const hash = get('defaults', 'hash_behaviour');
  if (hash && hash.value.trim() !== 'replace') {
    throw new SourceError(`hash_behaviour = ${hash.value.trim()} is not supported: fleetpatch combines variables as Ansible does by default (replace)`, file, hash.line);
  }
  let ssh: SshOptions | null = null;
  if (sshArgs) {
    try {
      ssh = parseSshArgs(sshArgs.value);
    } catch (err) {
      if (err instanceof SshArgsError) throw new SourceError(`[ssh_connection] ssh_args: ${err.message}`, file, sshArgs.line);
      throw err;
    }
  }
  return {
    file,
    inventory: inventory ? inventory.value.split(',').map((p) => path(p.trim())) : null,
    remoteUser: remoteUser ? unquote(remoteUser.value) : null,
    privateKeyFile: key ? path(key.value) : null,
    vaultPasswordFile: vaultFile ? path(vaultFile.value) : null,
    hostKeyCheckingDisabled: hostKeyChecking ? /^(0|false|no|off|n|f)$/i.test(hostKeyChecking.value.trim()) : false,
    ssh,
  };
}

/** Ansible's `unquote`: one pair of matching outer quotes removed. */
function unquote(s: string): string {
  if (s.length > 1 && s[0] === s[s.length - 1] && (s[0] === '"' || s[0] === "'") && s[s.length - 2] !== '\\') return s.slice(1, -1);
  return s;
}

function isDir(p: string): boolean {
  try {
    return existsSync(p) && statSync(p).isDirectory();
  } catch {
    return false;
  }
}
