/** SSH options from Ansible inputs (ansible.cfg `ssh_args`, and the same rules for
 * `ansible_ssh_common_args`): where to connect and as whom is the inventory's to say (Port,
 * User, ProxyJump, IdentityFile, …), what to trust or run on the controller is not
 * (UserKnownHostsFile, StrictHostKeyChecking, ProxyCommand, LocalCommand, KnownHostsCommand, -F,
 * …: refused). Connection sharing and tuning options are accepted and ignored. */
import { ShlexError, shlexSplit } from './shlex.ts';

export class SshArgsError extends Error {}

export interface SshOptions {
  /** Accepted options fleetpatch carries to its SSH client, by ssh_config name. */
  options: Record<string, string>;
  /** Accepted options fleetpatch's SSH client has no use for (ControlMaster, -C, …). */
  ignored: string[];
}

/** ssh_config keys (lower case) the inventory may set, by canonical name. */
const CARRIED: Record<string, string> = Object.fromEntries(
  ['Port', 'User', 'ProxyJump', 'IdentityFile', 'IdentitiesOnly', 'ConnectTimeout', 'ConnectionAttempts', 'ServerAliveInterval', 'ServerAliveCountMax', 'PreferredAuthentications', 'PubkeyAuthentication', 'PasswordAuthentication', 'KbdInteractiveAuthentication'].map((k) => [k.toLowerCase(), k]),
);
const IGNORED = new Set(['controlmaster', 'controlpersist', 'controlpath', 'compression', 'tcpkeepalive', 'loglevel', 'addressfamily', 'ipqos', 'batchmode', 'requesttty', 'forwardx11', 'clearallforwardings', 'exitonforwardfailure', 'hashknownhosts', 'sendenv', 'setenv']);
/** Options that choose trust anchors or run something on the controller. */
const TRUST_OR_COMMAND = new Set(['userknownhostsfile', 'globalknownhostsfile', 'stricthostkeychecking', 'proxycommand', 'localcommand', 'permitlocalcommand', 'knownhostscommand', 'hostkeyalias', 'verifyhostkeydns', 'updatehostkeys', 'revokedhostkeys', 'checkhostip', 'include', 'match', 'remotecommand', 'forwardagent', 'identityagent', 'pkcs11provider', 'securitykeyprovider', 'proxyusefdpass', 'canonicalizehostname', 'hostname', 'certificatefile', 'casignaturealgorithms']);

const FLAG_OPTIONS: Record<string, string | null> = { C: null, q: null, v: null, '4': null, '6': null, T: null, t: null, n: null, a: null, x: null, k: null, y: null };
const ARG_OPTIONS: Record<string, string> = { p: 'Port', l: 'User', J: 'ProxyJump', i: 'IdentityFile', S: 'ControlPath', o: '' };

/** Splits ssh_args as Ansible does (shlex) and sorts every option into carried or ignored,
 * throwing SshArgsError for a refused one. */
export function parseSshArgs(text: string): SshOptions {
  let words: string[];
  try {
    words = shlexSplit(text.trim()).map((w) => w.trim()).filter(Boolean);
  } catch (err) {
    if (err instanceof ShlexError) throw new SshArgsError(`cannot split ssh arguments: ${err.message}`);
    throw err;
  }
  const out: SshOptions = { options: {}, ignored: [] };
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (!w.startsWith('-') || w === '-') throw new SshArgsError(`unexpected ssh argument ${JSON.stringify(w)} (only options are allowed)`);
    for (let j = 1; j < w.length; j++) {
      const f = w[j]!;
      if (f in ARG_OPTIONS) {
        let arg = w.slice(j + 1);
        if (!arg) {
          arg = words[++i] ?? '';
          if (!arg) throw new SshArgsError(`ssh option -${f} needs a value`);
        }
        if (f === 'o') addOption(out, arg);
        else if (f === 'S') out.ignored.push(`-S ${arg}`);
        else out.options[ARG_OPTIONS[f]!] = arg;
        break;
      }
      if (f in FLAG_OPTIONS) {
        out.ignored.push(`-${f}`);
        continue;
      }
      throw new SshArgsError(`ssh option -${f} is not accepted from Ansible settings${f === 'F' ? ' (an ssh_config file chooses its own trust anchors and commands)' : ''}; fleetpatch takes trust and controller-side behaviour from its controller config only`);
    }
  }
  return out;
}

function addOption(out: SshOptions, spec: string): void {
  const m = /^\s*([A-Za-z0-9]+)\s*(?:=\s*|\s+)(.*)$/.exec(spec);
  if (!m) throw new SshArgsError(`cannot read ssh option -o ${JSON.stringify(spec)}: expected Key=Value`);
  const key = m[1]!.toLowerCase();
  const value = m[2]!.trim();
  if (key in CARRIED) out.options[CARRIED[key]!] = value;
  else if (IGNORED.has(key)) out.ignored.push(`-o ${spec}`);
  else if (TRUST_OR_COMMAND.has(key)) {
    throw new SshArgsError(`ssh option ${m[1]} is refused: what to trust and what to run on the controller come from fleetpatch's controller config (knownHostsFiles), never from Ansible settings`);
  } else throw new SshArgsError(`ssh option ${m[1]} is not supported by fleetpatch (accepted: ${Object.values(CARRIED).join(', ')}; ignored: ControlMaster, ControlPersist, ControlPath, Compression and similar)`);
}
