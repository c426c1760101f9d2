#!/usr/bin/python3
"""The test oracle: Ansible's own inventory code (Debian's ansible-core) in one long-lived process.

Requests and answers are JSON lines on stdin/stdout. Ansible is configured as ansible-inventory
runs by default, except that an inventory source no plugin can parse is an error (Ansible only
warns), which is what fleetpatch does. Operations:
  {"op": "inventory", "sources": [...], "vault_password_files": [...], "patterns": [...], "cwd": DIR}
      -> {"ok": true, "list": TEXT, "hosts": {NAME: TEXT}, "graph": TEXT,
          "patterns": {P: {"hosts": [...], "deterministic": [...], "warnings": [...]} | {"error": MSG}}}
         TEXT is exactly what `ansible-inventory --list` / `--host NAME` / `--graph` print;
         "deterministic" is the same pattern evaluated with Python's set iteration (object
         identities) replaced by list order, which is fleetpatch's order (see docs/inventory.md)
  {"op": "literal", "values": [...]}      -> INI value typing (the ini plugin's _parse_value)
  {"op": "shlex", "lines": [...]}         -> shlex.split(line, comments=True) as the ini plugin does
  {"op": "yaml", "texts": [...]}          -> DataLoader.load (JSON first, then Ansible's YAML)
  {"op": "encrypt", "plaintext": S, "password": P, "vault_id": ID} -> what ansible-vault writes
  {"op": "config", "path": FILE}          -> the ansible.cfg settings fleetpatch reads
"""
import datetime
import io
import json
import os
import shlex
import sys
import tempfile
import traceback

_tmp = tempfile.mkdtemp(prefix='fp-oracle-')
_cfg = os.path.join(_tmp, 'ansible.cfg')
with open(_cfg, 'w') as f:
    f.write('[defaults]\n')
os.environ.update({
    'ANSIBLE_CONFIG': _cfg,
    'ANSIBLE_INVENTORY_UNPARSED_FAILED': 'true',
    'ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED': 'true',
    'ANSIBLE_LOCAL_TEMP': _tmp,
    'ANSIBLE_HOME': _tmp,
    'ANSIBLE_NOCOLOR': '1',
    'ANSIBLE_DEPRECATION_WARNINGS': 'false',
})
os.chdir(_tmp)

from ansible import context  # noqa: E402
from ansible.cli import CLI  # noqa: E402
from ansible.cli.inventory import InventoryCLI  # noqa: E402
from ansible.inventory.group import Group  # noqa: E402
from ansible.inventory.manager import InventoryManager, split_host_pattern  # noqa: E402
from ansible.module_utils.common.collections import ImmutableDict  # noqa: E402
from ansible.parsing.dataloader import DataLoader  # noqa: E402
from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: E402
from ansible.parsing.yaml.objects import AnsibleVaultEncryptedUnicode  # noqa: E402
from ansible.plugins.inventory.ini import InventoryModule as IniInventory  # noqa: E402
from ansible.plugins.vars import host_group_vars  # noqa: E402
from ansible.utils.display import Display  # noqa: E402
from ansible.utils.unsafe_proxy import AnsibleUnsafeText  # noqa: E402
from ansible.vars.manager import VariableManager  # noqa: E402
from ansible.vars import plugins as vars_plugins  # noqa: E402

context.CLIARGS = ImmutableDict(export=False, yaml=False, toml=False, show_vars=False, basedir=None,
                                pattern='all', verbosity=0, output_file=None)

_warnings = []
_display = Display()
_display.warning = lambda msg, formatted=False: _warnings.append(str(msg))
_display.deprecated = lambda *a, **k: None

_original_walk = Group._walk_relationship

# Speed only: the vars plugins found on disk do not change between requests, so the plugin
# loader's directory scan (a glob per call, thousands per inventory) runs once.
_vars_plugins = list(vars_plugins.vars_loader.all())
vars_plugins.vars_loader.all = lambda *a, **k: iter(_vars_plugins)


def _ordered_walk(self, rel, include_self=False, preserve_ordering=False):
    """Group._walk_relationship with its sets iterated in insertion order."""
    seen = {}
    unprocessed = dict.fromkeys(getattr(self, rel))
    if include_self:
        unprocessed[self] = None
    ordered = ([self] if include_self else []) + list(getattr(self, rel))
    while unprocessed:
        seen.update(unprocessed)
        new_unprocessed = {}
        for g in list(unprocessed):
            for item in getattr(g, rel):
                new_unprocessed[item] = None
                if item not in seen:
                    ordered.append(item)
        unprocessed = {k: None for k in new_unprocessed if k not in seen}
    return ordered if preserve_ordering else set(seen)


def _reset_caches(inv):
    for g in inv.groups.values():
        g._hosts_cache = None
    inv.clear_caches()


def _list_hosts(inv, pattern):
    """`ansible -i … PATTERN --list-hosts`; `@file` terms are read as `--limit` reads them."""
    terms = []
    from_file = False
    for t in split_host_pattern(pattern):
        if t.startswith('@'):
            from_file = True
            with open(t[1:]) as fd:
                terms.extend(line.strip() for line in fd.read().split('\n'))
        else:
            terms.append(t)
    if from_file:
        return [h.name for h in _dedup(inv._evaluate_patterns(terms))]
    return [h.name if hasattr(h, 'name') else h for h in inv.list_hosts(pattern)]


def _dedup(hosts):
    out = []
    for h in hosts:
        if h not in out:
            out.append(h)
    return out


def op_inventory(req):
    del _warnings[:]
    host_group_vars.FOUND.clear()
    cwd = req.get('cwd') or _tmp
    os.chdir(cwd)
    try:
        loader = DataLoader()
        files = req.get('vault_password_files') or []
        if files:
            secrets = CLI.setup_vault_secrets(loader, vault_ids=[], vault_password_files=files, ask_vault_pass=False, auto_prompt=False)
            loader.set_vault_secrets(secrets)
        inv = InventoryManager(loader=loader, sources=req['sources'])
        vm = VariableManager(loader=loader, inventory=inv)
        cli = InventoryCLI.__new__(InventoryCLI)
        cli.loader, cli.inventory, cli.vm = loader, inv, vm
        # --list and every --host print the same per-host variables: compute them once.
        computed = {}
        get_host_variables = cli._get_host_variables
        cli._get_host_variables = lambda host: computed[host.name] if host.name in computed else computed.setdefault(host.name, get_host_variables(host))
        out = {'ok': True, 'list': cli.dump(cli.json_inventory(cli._get_group('all')))}
        out['hosts'] = {h.name: cli.dump(cli._get_host_variables(h)) for h in inv.get_hosts()}
        out['graph'] = cli.inventory_graph()
        out['patterns'] = {}
        for p in req.get('patterns') or []:
            del _warnings[:]
            try:
                _reset_caches(inv)
                hosts = _list_hosts(inv, p)
                warned = list(_warnings)
                Group._walk_relationship = _ordered_walk
                try:
                    _reset_caches(inv)
                    deterministic = _list_hosts(inv, p)
                finally:
                    Group._walk_relationship = _original_walk
                    _reset_caches(inv)
                out['patterns'][p] = {'hosts': hosts, 'deterministic': deterministic, 'warnings': warned}
            except Exception as e:  # an invalid pattern is an answer, not a failure of the oracle
                out['patterns'][p] = {'error': str(e)}
        out['warnings'] = list(_warnings)
        return out
    except Exception as e:
        return {'ok': False, 'error': str(e), 'warnings': list(_warnings)}
    finally:
        os.chdir(_tmp)


def encode(v):
    """A typed rendering of a Python value that a JSON reader can compare exactly."""
    if v is None:
        return ['none']
    if isinstance(v, bool):
        return ['bool', v]
    if isinstance(v, int):
        return ['int', str(v)]
    if isinstance(v, float):
        return ['float', repr(v)]
    if isinstance(v, AnsibleVaultEncryptedUnicode):
        return ['vault', v._ciphertext.decode()]
    if isinstance(v, AnsibleUnsafeText):
        return ['unsafe', str(v)]
    if isinstance(v, str):
        return ['str', v]
    if isinstance(v, (list, tuple)):
        return ['list', [encode(x) for x in v]]
    if isinstance(v, dict):
        return ['dict', [[json.dumps(k) if not isinstance(k, str) else k, encode(x)] for k, x in v.items()]]
    if isinstance(v, datetime.datetime) or isinstance(v, datetime.date):
        return ['date', v.isoformat()]
    return ['opaque', type(v).__name__]


def op_literal(req):
    out = []
    for v in req['values']:
        try:
            out.append(encode(IniInventory._parse_value(v)))
        except Exception as e:
            out.append(['error', type(e).__name__])
    return {'ok': True, 'values': out}


def op_shlex(req):
    out = []
    for line in req['lines']:
        try:
            out.append(shlex.split(line, comments=True))
        except ValueError as e:
            out.append({'error': str(e)})
    return {'ok': True, 'tokens': out}


def op_yaml(req):
    loader = DataLoader()
    out = []
    for text in req['texts']:
        try:
            out.append(encode(loader.load(text, file_name='<test>')))
        except Exception as e:
            out.append(['error', str(e).split('\n')[0]])
    return {'ok': True, 'values': out}


def op_encrypt(req):
    secret = VaultSecret(req['password'].encode())
    vault_id = req.get('vault_id') or 'default'
    vault = VaultLib(secrets=[(vault_id, secret)])
    return {'ok': True, 'vaulttext': vault.encrypt(req['plaintext'], secret=secret, vault_id=vault_id).decode()}


def op_config(req):
    from ansible.config.manager import ConfigManager, get_ini_config_value
    cm = ConfigManager(conf_file=req['path'])
    parser = cm._parsers[req['path']]
    return {'ok': True,
            'inventory': cm.get_config_value('DEFAULT_HOST_LIST'),
            'remote_user': cm.get_config_value('DEFAULT_REMOTE_USER'),
            'private_key_file': cm.get_config_value('DEFAULT_PRIVATE_KEY_FILE'),
            'ssh_args': get_ini_config_value(parser, {'section': 'ssh_connection', 'key': 'ssh_args'})}


OPS = {'inventory': op_inventory, 'literal': op_literal, 'shlex': op_shlex, 'yaml': op_yaml,
       'encrypt': op_encrypt, 'config': op_config}

sys.stdout.write(json.dumps({'ready': True}) + '\n')
sys.stdout.flush()
for line in sys.stdin:
    req = json.loads(line)
    try:
        res = OPS[req['op']](req)
    except Exception:
        res = {'ok': False, 'error': traceback.format_exc()}
    res['id'] = req.get('id')
    sys.stdout.write(json.dumps(res) + '\n')
    sys.stdout.flush()
