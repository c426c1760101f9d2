/** Web console users, their sessions and the audit log. */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { and, desc, eq, gt, lt, sql } from 'drizzle-orm';
import { AppError } from '../errors.ts';
import type { Db } from './index.ts';
import { audit, sessions, users } from './schema.ts';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];
export type UserRow = typeof users.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 64 };
/** Longer passwords are refused before hashing: scrypt's cost must not be the caller's to choose. */
const MAX_PASSWORD = 1024;

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key))));
}

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

/** `true` when `role` may do what `needed` may. */
export function roleAtLeast(role: string, needed: Role): boolean {
  return isRole(role) && ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash || password.length > MAX_PASSWORD) return false;
  const expected = Buffer.from(hash, 'base64');
  const key = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p), maxmem: 64 * 1024 * 1024 });
  return timingSafeEqual(key, expected);
}

/** The password every user must have: long enough to resist guessing, short enough to hash. */
export function checkPassword(password: string): void {
  if (password.length < 12) throw new AppError('usage', 'the password must have at least 12 characters');
  if (password.length > MAX_PASSWORD) throw new AppError('usage', `the password must have at most ${MAX_PASSWORD} characters`);
}

export function checkUserName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) throw new AppError('usage', `user name ${JSON.stringify(name)} must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`);
}

export async function addUser(db: Db, name: string, role: Role, password: string, now = new Date()): Promise<UserRow> {
  checkUserName(name);
  checkPassword(password);
  if (findUser(db, name)) throw new AppError('usage', `user ${name} already exists`);
  const passwordHash = await hashPassword(password);
  return db.insert(users).values({ name, role, passwordHash, createdAt: now }).returning().get();
}

export function findUser(db: Db, name: string): UserRow | undefined {
  return db.select().from(users).where(eq(users.name, name)).get();
}

export function countUsers(db: Db): number {
  return db.select({ n: sql<number>`count(*)` }).from(users).get()?.n ?? 0;
}

const token = () => randomBytes(32).toString('base64url');

/** A new session with fresh random id and CSRF token (never reusing one the browser offered). */
export function createSession(db: Db, userId: number, ttlMs: number, now = new Date()): SessionRow {
  return db
    .insert(sessions)
    .values({ id: token(), userId, csrfToken: token(), createdAt: now, expiresAt: new Date(now.getTime() + ttlMs) })
    .returning()
    .get();
}

/** The live session with this id and its user; expired sessions are deleted on the way. */
export function sessionUser(db: Db, id: string, now = new Date()): { session: SessionRow; user: UserRow } | undefined {
  db.delete(sessions).where(lt(sessions.expiresAt, now)).run();
  const row = db
    .select({ session: sessions, user: users })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.id, id), gt(sessions.expiresAt, now)))
    .get();
  return row ?? undefined;
}

export function deleteSession(db: Db, id: string): void {
  db.delete(sessions).where(eq(sessions.id, id)).run();
}

export function recordAudit(db: Db, who: string, what: string, detail: Record<string, unknown> = {}, at = new Date()): void {
  db.insert(audit).values({ who, what, detail, at }).run();
}

export function listAudit(db: Db, limit = 100): (typeof audit.$inferSelect)[] {
  return db.select().from(audit).orderBy(desc(audit.id)).limit(limit).all();
}
