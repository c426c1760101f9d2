/** A minimal writer of "newc" cpio archives (what the kernel unpacks as an initramfs). The lab
 * appends one small archive per VM — its host key and root's authorized_keys — to the shared
 * guest image; the kernel unpacks concatenated archives in order. */

export interface CpioEntry {
  /** Path inside the guest, relative (no leading slash). */
  path: string;
  /** Permission bits, e.g. 0o600. */
  mode: number;
  /** File content; absent for a directory. */
  data?: Buffer | string;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
const hex8 = (n: number) => n.toString(16).padStart(8, '0');

function record(ino: number, mode: number, name: string, data: Buffer): Buffer {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  const fields = [ino, mode, 0, 0, mode & S_IFDIR ? 2 : 1, 0, data.length, 0, 0, 0, 0, nameBytes.length, 0];
  const header = Buffer.from(`070701${fields.map(hex8).join('')}`, 'ascii');
  return Buffer.concat([header, nameBytes, pad4(header.length + nameBytes.length), data, pad4(data.length)]);
}

/** The archive, owned by root:root, mtime 0. */
export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts = entries.map((e, i) => {
    if (e.path.startsWith('/') || e.path.split('/').includes('..')) throw new Error(`cpio: bad path ${e.path}`);
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    return record(i + 1, (e.data === undefined ? S_IFDIR : S_IFREG) | (e.mode & 0o7777), e.path, data);
  });
  const trailer = record(0, 0, 'TRAILER!!!', Buffer.alloc(0));
  const body = Buffer.concat([...parts, trailer]);
  return Buffer.concat([body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}
