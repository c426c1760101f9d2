/** Per-user API tokens: `fpt_` + 43 base64url characters (256 random bits). Only the sha256 is
 * stored; a token is shown once, when created, and can be revoked. */
import { createHash, randomBytes } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import { AppError } from '../errors.ts';
import type { Db } from './index.ts';
import { apiTokens, users } from './schema.ts';
import type { UserRow } from './users.ts';

export type TokenRow = typeof apiTokens.$inferSelect;

const TOKEN = /^fpt_[A-Za-z0-9_-]{43}$/;
const hash = (token: string) => createHash('sha256').update(token).digest('hex');

export function createToken(db: Db, user: UserRow, label: string, now = new Date()): { token: string; row: TokenRow } {
  if (!/^[\x20-\x7e]{1,64}$/.test(label)) throw new AppError('usage', 'the token label must be 1-64 printable ASCII characters');
  const token = `fpt_${randomBytes(32).toString('base64url')}`;
  const row = db.insert(apiTokens).values({ userId: user.id, label, tokenHash: hash(token), createdAt: now }).returning().get();
  return { token, row };
}

/** The user a token belongs to, when it is well-formed, known and not revoked; records its use. */
export function tokenUser(db: Db, token: string, now = new Date()): { user: UserRow; token: TokenRow } | undefined {
  if (!TOKEN.test(token)) return undefined;
  const found = db
    .select({ user: users, token: apiTokens })
    .from(apiTokens)
    .innerJoin(users, eq(users.id, apiTokens.userId))
    .where(and(eq(apiTokens.tokenHash, hash(token)), isNull(apiTokens.revokedAt)))
    .get();
  if (found) db.update(apiTokens).set({ lastUsedAt: now }).where(eq(apiTokens.id, found.token.id)).run();
  return found;
}

export function listTokens(db: Db, userId: number): TokenRow[] {
  return db.select().from(apiTokens).where(eq(apiTokens.userId, userId)).all();
}

/** Revokes a token of a user; false when there is no such (unrevoked) token. */
export function revokeToken(db: Db, userId: number, id: number, now = new Date()): boolean {
  return db.update(apiTokens).set({ revokedAt: now }).where(and(eq(apiTokens.id, id), eq(apiTokens.userId, userId), isNull(apiTokens.revokedAt))).run().changes > 0;
}
