/** End to end on the lab: one Ansible set-up (ansible.cfg with inventory, remote_user and
 * private_key_file; a YAML inventory directory; group_vars, host_vars and a vault-encrypted
 * group_vars file choosing the login user) reaches the same hosts as the same users through
 * `ansible PATTERN -m raw -a 'hostname; id -un'` and through fleetpatch's own SSH. Ansible gets the
 * lab's known_hosts from ANSIBLE_SSH_ARGS in its environment, never from the inventory. */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadInventory, resolveTarget } from '../../../server/inventory/index.ts';
import { labDown, labUp } from '../../../server/lab/index.ts';
import { SshConnection } from '../../../server/ssh/connect.ts';
import { loadKnownHosts } from '../../../server/ssh/known-hosts.ts';
import { shellCommand } from '../../../server/ssh/quote.ts';
import type { SshSettings } from '../../../server/ssh/settings.ts';
import { EMPTY_SSH_CONFIG } from '../../../server/ssh/ssh-config.ts';
import { sshTarget } from '../../../server/ssh/target.ts';
import { freePort, labHosts, newLabDir, ssh } from '../../support/lab.ts';

const HOSTS = 4;
const lab = newLabDir();
const ans = mkdtempSync(join(tmpdir(), 'fp-ansible-'));
const VAULT_PASSWORD = 'lab-vault-password';
const settings = { sshConfigFile: null, env: {}, prompt: null } as unknown as Partial<SshSettings>;

/** host → "hostname user" as Ansible reached it. */
function viaAnsible(pattern: string): Record<string, string> {
  // results per host as JSON files (--tree: ansible-core's own callback; the `json` stdout
  // callback is in the ansible.posix collection, which Debian's ansible-core does not ship)
  const tree = mkdtempSync(join(tmpdir(), 'fp-ansible-tree-'));
  const r = spawnSync('ansible', [pattern, '-m', 'raw', '-a', 'hostname; id -un', '--vault-password-file', join(ans, 'vault-pass'), '--tree', tree], {
    cwd: ans,
    encoding: 'utf8',
    env: {
      ...process.env,
      ANSIBLE_CONFIG: join(ans, 'ansible.cfg'),
      ANSIBLE_SSH_ARGS: `-o UserKnownHostsFile=${join(lab, 'known_hosts')} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o ControlMaster=no`,
      ANSIBLE_HOME: join(ans, '.ansible'),
      ANSIBLE_LOCAL_TEMP: join(ans, '.ansible/tmp'),
      ANSIBLE_NOCOLOR: '1',
    },
  });
  assert.equal(r.status, 0, `ansible ${pattern}: ${r.stdout}\n${r.stderr}`);
  const files = readdirSync(tree);
  const results = Object.fromEntries(
    files.map((h) => {
      const res = JSON.parse(readFileSync(join(tree, h), 'utf8')) as { stdout_lines: string[]; rc: number };
      assert.equal(res.rc, 0, `ansible ${pattern}: ${h}: ${JSON.stringify(res)}`);
      return [h, res.stdout_lines.map((l) => l.trim()).filter(Boolean).join(' ')];
    }),
  );
  rmSync(tree, { recursive: true, force: true });
  return results;
}

/** host → "hostname user" as fleetpatch reached it: its inventory, its target rules, its SSH. */
async function viaFleetpatch(pattern: string): Promise<Record<string, string>> {
  const inv = loadInventory([], { cwd: ans, vaultPasswordFiles: [join(ans, 'vault-pass')], env: { ...process.env, ANSIBLE_CONFIG: join(ans, 'ansible.cfg') } });
  const knownHosts = loadKnownHosts([join(lab, 'known_hosts')]);
  const out: Record<string, string> = {};
  for (const t of resolveTarget(inv, pattern)) {
    const c = await SshConnection.open(sshTarget(t, EMPTY_SSH_CONFIG), { knownHosts, timeoutMs: 8000, settings });
    try {
      const r = await c.exec(shellCommand(['sh', '-c', 'hostname; id -un']));
      out[t.name] = r.stdout.toString().trim().split('\n').join(' ');
    } finally {
      c.close();
    }
  }
  return out;
}

describe('one Ansible set-up, reached by ansible and by fleetpatch', { timeout: 240_000 }, () => {
  before(async () => {
    await labUp(lab, HOSTS, await freePort());
    // A login user besides root on every host, its home on the host's private /var/lib.
    for (const h of labHosts(lab)) {
      ssh(lab, h, [
        "grep -q '^deploy:' /etc/passwd || { echo 'deploy:x:2001:2001::/var/lib/deploy:/bin/sh' >> /etc/passwd; echo 'deploy:*:19000:0:99999:7:::' >> /etc/shadow; echo 'deploy:x:2001:' >> /etc/group; }",
        'mkdir -p /var/lib/deploy/.ssh && cp /root/.ssh/authorized_keys /var/lib/deploy/.ssh/ && chown -R 2001:2001 /var/lib/deploy && chmod 700 /var/lib/deploy /var/lib/deploy/.ssh',
      ].join(' && '));
    }
    const [h1, h2, h3, h4] = labHosts(lab);
    const at = (h: typeof h1) => `{ansible_host: ${h!.address}, ansible_port: ${h!.port}}`;
    mkdirSync(join(ans, 'inv/group_vars/db'), { recursive: true });
    mkdirSync(join(ans, 'inv/host_vars'), { recursive: true });
    writeFileSync(join(ans, 'ansible.cfg'), `[defaults]\ninventory = inv\nremote_user = root\nprivate_key_file = ${join(lab, 'id_ed25519')}\n`);
    writeFileSync(join(ans, 'vault-pass'), `${VAULT_PASSWORD}\n`);
    writeFileSync(
      join(ans, 'inv/hosts.yml'),
      [
        'web:',
        '  hosts:',
        `    ${h1!.name}: ${at(h1)}`,
        `    ${h2!.name}: ${at(h2)}`,
        'db:',
        '  hosts:',
        `    ${h3!.name}: ${at(h3)}`,
        'other:',
        '  hosts:',
        `    ${h4!.name}: ${at(h4)}`,
        'prod:',
        '  children:',
        '    web:',
        '    db:',
        '',
      ].join('\n'),
    );
    writeFileSync(join(ans, 'inv/group_vars/web.yml'), 'ansible_user: deploy\n');
    writeFileSync(join(ans, `inv/host_vars/${h2!.name}.yml`), 'ansible_user: root\n');
    writeFileSync(join(ans, 'inv/group_vars/db/vault.yml'), 'ansible_user: deploy\n');
    execFileSync('ansible-vault', ['encrypt', '--vault-password-file', join(ans, 'vault-pass'), join(ans, 'inv/group_vars/db/vault.yml')], { stdio: 'ignore' });
  });

  after(async () => {
    await labDown(lab, true);
    rmSync(ans, { recursive: true, force: true });
  });

  for (const pattern of ['all', 'prod:!other', 'web:db', `other:&all`, '~lab-0[13]']) {
    it(`${pattern}: the same hosts as the same users`, async () => {
      const ansible = viaAnsible(pattern);
      const fleetpatch = await viaFleetpatch(pattern);
      assert.deepEqual(fleetpatch, ansible);
      assert.ok(Object.keys(ansible).length > 0);
    });
  }

  it('the users come from where Ansible takes them: group_vars, host_vars, a vault file, ansible.cfg', async () => {
    const [h1, h2, h3, h4] = labHosts(lab).map((h) => h.name);
    assert.deepEqual(await viaFleetpatch('all'), {
      [h1!]: `${h1} deploy`,
      [h2!]: `${h2} root`,
      [h3!]: `${h3} deploy`,
      [h4!]: `${h4} root`,
    });
  });
});
