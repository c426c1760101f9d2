/** `fleetpatch user add NAME --role R`: a local user of the web console. */
import { userInfo } from 'node:os';
import { openDatabase } from '../db/index.ts';
import { createToken, listTokens, revokeToken } from '../db/tokens.ts';
import { addUser, findUser, isRole, recordAudit, ROLES } from '../db/users.ts';
import { table } from './table.ts';
import { AppError, EXIT } from '../errors.ts';
import { configFrom } from './common.ts';
import type { Command, CommandContext } from './types.ts';

/** Reads a line from a terminal without echoing it. */
function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    let text = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.off('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new AppError('usage', 'interrupted'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    };
    stdin.on('data', onData);
  });
}

async function readStdinLine(): Promise<string> {
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split('\n')[0]!.replace(/\r$/, '');
}

/** The password: FLEETPATCH_USER_PASSWORD, a hidden prompt on a terminal (asked twice), or stdin's first line. */
async function newPassword(): Promise<string> {
  const env = process.env.FLEETPATCH_USER_PASSWORD;
  if (env) return env;
  if (process.stdin.isTTY) {
    const first = await promptHidden('Password: ');
    const again = await promptHidden('Password again: ');
    if (first !== again) throw new AppError('usage', 'the passwords differ; nothing was changed');
    return first;
  }
  return readStdinLine();
}

export const userCommand: Command = {
  name: 'user',
  summary: 'add a web console user; create, list and revoke API tokens',
  usage: 'fleetpatch user add NAME --role viewer|operator|admin | token NAME [--label L] | tokens NAME | revoke-token NAME ID',
  details: [
    '  add NAME --role R        a user of the web console',
    '  token NAME [--label L]   a new API token for NAME (printed once; only its hash is stored)',
    '  tokens NAME              NAME\'s tokens: id, label, created, last used, revoked',
    '  revoke-token NAME ID     revoke one of NAME\'s tokens',
    'Roles: viewer (read only), operator (also starts and cancels runs), admin (everything).',
    'The password (12 characters or more; there is no default) is read from a hidden prompt on a',
    'terminal, else from FLEETPATCH_USER_PASSWORD, else from the first line of stdin.',
  ].join('\n'),
  options: { role: { type: 'string', short: 'r' }, label: { type: 'string' } },
  async run(ctx) {
    const [sub, name, ...extra] = ctx.positionals;
    if (sub === 'token' || sub === 'tokens' || sub === 'revoke-token') return tokens(ctx, sub, name, extra);
    if (sub !== 'add' || !name || extra.length) throw new AppError('usage', `usage: ${this.usage}`);
    const role = ctx.values.role;
    if (typeof role !== 'string' || !isRole(role)) throw new AppError('usage', `--role must be one of ${ROLES.join(', ')}`);
    const config = configFrom(ctx);
    const password = await newPassword();
    const db = openDatabase(config.database);
    try {
      const user = await addUser(db, name, role, password);
      recordAudit(db, `cli:${userInfo().username}`, 'user-add', { user: name, role });
      ctx.out(ctx.json ? JSON.stringify({ ok: true, user: { id: user.id, name, role } }) : `user ${name} added with role ${role}`);
      return EXIT.ok;
    } finally {
      db.$client.close();
    }
  },
};

function tokens(ctx: CommandContext, sub: string, name: string | undefined, extra: string[]): number {
  if (!name || extra.length !== (sub === 'revoke-token' ? 1 : 0)) throw new AppError('usage', `usage: fleetpatch user ${sub} NAME${sub === 'revoke-token' ? ' ID' : ''}`);
  const db = openDatabase(configFrom(ctx).database);
  try {
    const user = findUser(db, name);
    if (!user) throw new AppError('usage', `no user ${JSON.stringify(name)}`);
    const who = `cli:${userInfo().username}`;
    if (sub === 'token') {
      const label = typeof ctx.values.label === 'string' ? ctx.values.label : 'api';
      const { token, row } = createToken(db, user, label);
      recordAudit(db, who, 'token-create', { user: name, token: row.id, label });
      ctx.out(ctx.json ? JSON.stringify({ id: row.id, label, token }) : `token ${row.id} for ${name} (${user.role}); shown only now:\n${token}\nUse it as: Authorization: Bearer ${token.slice(0, 8)}…`);
    } else if (sub === 'tokens') {
      const rows = listTokens(db, user.id).map((t) => ({ id: t.id, label: t.label, createdAt: t.createdAt.toISOString(), lastUsedAt: t.lastUsedAt?.toISOString() ?? null, revokedAt: t.revokedAt?.toISOString() ?? null }));
      ctx.out(ctx.json ? JSON.stringify(rows) : table(['ID', 'LABEL', 'CREATED', 'LAST USED', 'REVOKED'], rows.map((r) => [String(r.id), r.label, r.createdAt, r.lastUsedAt ?? '-', r.revokedAt ?? '-'])));
    } else {
      const id = Number(extra[0]);
      if (!Number.isInteger(id) || !revokeToken(db, user.id, id)) throw new AppError('usage', `${name} has no unrevoked token ${JSON.stringify(extra[0])}`);
      recordAudit(db, who, 'token-revoke', { user: name, token: id });
      ctx.out(ctx.json ? JSON.stringify({ ok: true }) : `token ${id} of ${name} revoked`);
    }
    return EXIT.ok;
  } finally {
    db.$client.close();
  }
}
