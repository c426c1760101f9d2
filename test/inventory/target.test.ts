/** What the rest of fleetpatch gets from an inventory: targets with plain variables, vault values
 * decrypted only when read, ansible.cfg's remote_user / private_key_file / ssh_args, secrets
 * redacted in `fleetpatch inventory`, and refusals that name file and line. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';
import { main } from '../../server/cli.ts';
import { AppError } from '../../server/errors.ts';
import { loadInventory, resolveTarget } from '../../server/inventory/index.ts';
import { parseSshArgs } from '../../server/inventory/ssh-args.ts';
import { sshTarget } from '../../server/ssh/target.ts';
import { inventoryOf, writeTree } from '../support/inventory-files.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/inventory');

async function cli(args: string[], cwd?: string) {
  const out: string[] = [];
  const err: string[] = [];
  const before = process.cwd();
  if (cwd) process.chdir(cwd);
  try {
    const code = await main(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    process.chdir(before);
  }
}

describe('vault values', () => {
  const dir = join(FIXTURES, 'vault-inline-1.1');
  it('decrypts an inline !vault value (made by ansible-vault encrypt_string) when it is read', () => {
    const inv = loadInventory([join(dir, 'hosts.yml')], { ansibleCfg: null, vaultPasswordFiles: [join(dir, 'vault-pass')] });
    const [h1] = resolveTarget(inv, 'h1');
    assert.equal(h1!.vars.ansible_become_password, 'sup3r s3cret');
    assert.equal(h1!.vars.ansible_user_vaulted, 'root');
  });

  it('finds a 1.2 value\'s password by its vault id among several', () => {
    const d = join(FIXTURES, 'vault-inline-1.2-id');
    const inv = loadInventory([join(d, 'hosts.yml')], { ansibleCfg: null, vaultPasswordFiles: [join(d, 'other-pass'), join(d, 'prod-pass')] });
    assert.equal(resolveTarget(inv, 'p1')[0]!.vars.db_password, 'db-password');
  });

  it('without a password, reading the value (not loading the inventory) is an error naming host and variable', () => {
    const inv = loadInventory([join(dir, 'hosts.yml')], { ansibleCfg: null });
    const [h1] = resolveTarget(inv, 'h1');
    assert.equal(h1!.vars.ansible_user, 'deploy');
    assert.throws(() => h1!.vars.ansible_become_password, (e: AppError) => e.code === 'inventory' && /host h1: variable ansible_become_password .*no vault password was given/.test(e.message));
  });

  it('decrypts vault-encrypted group_vars files and whole inventory files', () => {
    const d = join(FIXTURES, 'vault-file-group-vars');
    const inv = loadInventory([join(d, 'hosts')], { ansibleCfg: null, vaultPasswordFiles: [join(d, 'vault-pass')] });
    assert.deepEqual([resolveTarget(inv, 'w1')[0]!.vars.api_token, resolveTarget(inv, 'w1')[0]!.vars.plain], ['abc123', 'visible']);
    const e = join(FIXTURES, 'vault-executable-password');
    assert.equal(resolveTarget(loadInventory([join(e, 'hosts')], { ansibleCfg: null, vaultPasswordFiles: [join(e, 'vault-pass.sh')] }), 'web')[0]!.vars.a, 1);
  });

  it('never shows a secret: fleetpatch inventory --host and --list redact passwords and every vault value', async () => {
    const host = await cli(['inventory', '-i', join(dir, 'hosts.yml'), '--vault-password-file', join(dir, 'vault-pass'), '--host', 'h1']);
    assert.equal(host.code, 0, host.err);
    assert.deepEqual(JSON.parse(host.out), { ansible_become_password: '<redacted>', ansible_user: 'deploy', ansible_user_vaulted: '<redacted>' });
    const d = join(FIXTURES, 'vault-file-group-vars');
    const list = await cli(['inventory', '-i', join(d, 'hosts'), '--vault-password-file', join(d, 'vault-pass'), '--list']);
    assert.equal(list.code, 0, list.err);
    assert.deepEqual(JSON.parse(list.out)._meta.hostvars.w1, { ansible_become_password: '<redacted>', api_token: '<redacted>', plain: 'visible' });
    assert.ok(!list.out.includes('hunter2') && !list.out.includes('abc123'));
    const plain = await cli(['inventory', '-i', writeTree({ hosts: '[g]\nh ansible_password=pw ansible_become_pass=bp ansible_ssh_pass=sp other=x\n' }) + '/hosts', '--host', 'h']);
    assert.deepEqual(JSON.parse(plain.out), { ansible_become_pass: '<redacted>', ansible_password: '<redacted>', ansible_ssh_pass: '<redacted>', other: 'x' });
  });
});

describe('ansible.cfg', () => {
  const tree = () =>
    writeTree({
      'ansible.cfg': '[defaults]\ninventory = inv/hosts\nremote_user = deploy\nprivate_key_file = keys/id_ed25519\nhost_key_checking = False\n[ssh_connection]\nssh_args = -C -o ControlMaster=auto -o ControlPersist=60s -o ProxyJump=bastion.example.com\n',
      'inv/hosts': '[web]\nw1\nw2 ansible_user=root\nw3 ansible_ssh_private_key_file=/k/other\n',
    });

  it('gives the inventory when no -i is passed, and remote_user / private_key_file where the host sets none', () => {
    const d = tree();
    const inv = loadInventory([], { cwd: d, env: { HOME: d } });
    const [w1, w2, w3] = resolveTarget(inv, 'web');
    assert.equal(w1!.vars.ansible_user, 'deploy');
    assert.equal(w1!.vars.ansible_ssh_private_key_file, join(d, 'keys/id_ed25519'));
    assert.equal(w2!.vars.ansible_user, 'root');
    assert.equal(w3!.vars.ansible_ssh_private_key_file, '/k/other');
    assert.deepEqual(w1!.ssh?.options, { ProxyJump: 'bastion.example.com' });
    assert.deepEqual(w1!.ssh?.ignored, ['-C', '-o ControlMaster=auto', '-o ControlPersist=60s']);
    assert.match(inv.warnings.join('\n'), /host_key_checking = False is ignored/);
    const t = sshTarget(w1!);
    assert.deepEqual([t.user, t.identityFiles[0]], ['deploy', join(d, 'keys/id_ed25519')]);
  });

  it('is found where Ansible looks: $ANSIBLE_CONFIG before ./ansible.cfg', () => {
    const d = tree();
    const other = writeTree({ 'x.cfg': '[defaults]\nremote_user = from-env\ninventory = /nonexistent\n' });
    assert.throws(() => loadInventory([], { cwd: d, env: { HOME: d, ANSIBLE_CONFIG: join(other, 'x.cfg') } }), /cannot read inventory \/nonexistent/);
    const inv = loadInventory([join(d, 'inv/hosts')], { cwd: d, env: { HOME: d, ANSIBLE_CONFIG: join(other, 'x.cfg') } });
    assert.equal(resolveTarget(inv, 'w1')[0]!.vars.ansible_user, 'from-env');
  });

  it('refuses ssh_args that choose trust anchors or run commands on the controller, naming file and line', () => {
    for (const opt of ['-o UserKnownHostsFile=/dev/null', '-o StrictHostKeyChecking=no', '-o "ProxyCommand ssh -W %h:%p gw"', '-oLocalCommand=id', '-o KnownHostsCommand=/bin/x', '-F /tmp/ssh_config']) {
      const d = writeTree({ 'ansible.cfg': `[defaults]\nremote_user = x\n\n[ssh_connection]\nssh_args = -C ${opt}\n`, hosts: 'h1\n' });
      assert.throws(() => loadInventory([join(d, 'hosts')], { cwd: d, env: { HOME: d } }), (e: AppError) => e.code === 'inventory' && e.message.startsWith(`${join(d, 'ansible.cfg')}:5: [ssh_connection] ssh_args:`), opt);
    }
  });

  it('reads ssh options as ssh does: -p, -l, -J, -i, -o Key=Value, -oKey Value', () => {
    assert.deepEqual(parseSshArgs('-p 2222 -l admin -J gw -i ~/.ssh/k -o ConnectTimeout=5 -o "ServerAliveInterval 30" -Cq').options, { Port: '2222', User: 'admin', ProxyJump: 'gw', IdentityFile: '~/.ssh/k', ConnectTimeout: '5', ServerAliveInterval: '30' });
    assert.throws(() => parseSshArgs('-o ForwardAgent=yes'), /ForwardAgent is refused/);
    assert.throws(() => parseSshArgs('-o Tunnel=yes'), /Tunnel is not supported/);
    assert.throws(() => parseSshArgs('-L 80:x:80'), /-L is not accepted/);
  });
});

describe('targets', () => {
  it('are plain values SSH code reads, with Ansible\'s magic names', () => {
    const [t] = resolveTarget(inventoryOf('[web]\nweb1.example.com ansible_port=2222 f=1.5 l="[1, {\'a\': None}]"\n[prod:children]\nweb\n'), 'web');
    assert.equal(JSON.stringify(t!.vars), JSON.stringify({ ansible_port: 2222, f: 1.5, l: [1, { a: null }], inventory_hostname: 'web1.example.com', inventory_hostname_short: 'web1', group_names: ['prod', 'web'] }));
    assert.deepEqual(t!.groups, ['prod', 'web']);
    assert.match(t!.source, /hosts:2$/);
  });

  it('a templated connection value is a clear error naming host and variable, never a literal host name', () => {
    const [t] = resolveTarget(inventoryOf('[web]\nw1 ansible_host="{{ lookup(\'env\', \'IP\') }}"\n'), 'w1');
    assert.throws(() => sshTarget(t!), /host w1: variable ansible_host is a template/);
  });

  it('an inventory that fails anywhere yields nothing: the whole load fails', () => {
    const d = writeTree({ 'inv/a': '[g]\nh1\n', 'inv/b': '[g]\nh2 bad\n' });
    assert.throws(() => loadInventory([join(d, 'inv')], { ansibleCfg: null }), /inv\/b:2: Expected key=value/);
  });
});

describe('fleetpatch inventory', () => {
  const d = writeTree({ hosts: '[web]\nw1\nw2\n[db]\nd1\n[prod:children]\nweb\ndb\n' });
  const inv = join(d, 'hosts');
  it('--list-hosts prints one host per line in Ansible\'s order, --json a list', async () => {
    assert.equal((await cli(['inventory', '-i', inv, '--list-hosts', 'db:web'])).out, 'd1\nw1\nw2');
    assert.equal((await cli(['inventory', '-i', inv, '--list-hosts', 'prod:!w1', '--json'])).out, '["w2","d1"]');
  });
  it('--host takes a pattern that must select exactly one host', async () => {
    const r = await cli(['inventory', '-i', inv, '--host', 'web']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--host needs exactly one host: "web" matches 2/);
    assert.equal((await cli(['inventory', '-i', inv, '--host', 'd*'])).out, '{}');
  });
  it('--graph draws the tree as ansible-inventory --graph', async () => {
    assert.equal((await cli(['inventory', '-i', inv, '--graph'])).out, ['@all:', '  |--@ungrouped:', '  |--@prod:', '  |  |--@web:', '  |  |  |--w1', '  |  |  |--w2', '  |  |--@db:', '  |  |  |--d1'].join('\n'));
  });
  it('a pattern matching nothing exits 2 (nothing touched)', async () => {
    const r = await cli(['inventory', '-i', inv, '--list-hosts', 'nosuch']);
    assert.equal(r.code, 2);
    assert.match(r.err, /pattern "nosuch" matches no host/);
  });
});
