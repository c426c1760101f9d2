/** Paths as Ansible resolves them (`unfrackpath(path, follow=False)`): environment variables and
 * `~` expanded, relative paths joined to a base directory, normalized, symlinks kept. */
import { homedir } from 'node:os';
import { resolve } from 'node:path';

/** Python's `os.path.expandvars`: `$NAME` and `${NAME}`; unknown variables stay as written. */
export function expandVars(p: string, env: NodeJS.ProcessEnv = process.env): string {
  if (!p.includes('$')) return p;
  return p.replace(/\$(\w+|\{[^}]*\})/g, (whole, name: string) => {
    const key = name.startsWith('{') ? name.slice(1, -1) : name;
    const v = env[key];
    return v === undefined ? whole : v;
  });
}

/** Python's `os.path.expanduser` for `~` and `~/…`. */
export function expandUser(p: string, env: NodeJS.ProcessEnv = process.env): string {
  if (p === '~' || p.startsWith('~/')) return (env.HOME ?? homedir()) + p.slice(1);
  return p;
}

export function unfrackPath(p: string, base: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(base, expandUser(expandVars(p, env), env));
}
