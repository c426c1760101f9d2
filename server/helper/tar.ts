type TarFile = { name: string; bytes: Buffer; mode: number };

/** Tars already built, by their last file's bytes (held as long as those are: a run's payloads, or
 * the helper binary when it travels alone; it goes first when payloads follow) and then every
 * file's name and mode: the names are content hashes, so they fix the bytes. Every host of a run
 * that lacks the same payloads gets the same Buffer, not a copy of its own (a 50 MiB package set at
 * forks 20 would otherwise hold 1 GiB). */
const built = new WeakMap<Buffer, Map<string, Buffer>>();

/** A minimal ustar writer: the upload format for content-addressed files (one SSH stream, unpacked
 * by the helper or by tar on the host, busybox's included). Names are hex digests, so no long-name
 * extensions. The same files give the same (shared, never to be written) Buffer. */
export function tarFiles(files: TarFile[]): Buffer {
  if (!files.length) return writeTar(files);
  const key = files.map((f) => `${f.name}:${f.mode}`).join('/');
  const last = files.at(-1)!.bytes;
  let byLast = built.get(last);
  if (!byLast) built.set(last, (byLast = new Map()));
  let tar = byLast.get(key);
  if (!tar) byLast.set(key, (tar = writeTar(files)));
  return tar;
}

function writeTar(files: TarFile[]): Buffer {
  const blocks: Buffer[] = [];
  const mtime = Math.floor(Date.now() / 1000);
  for (const f of files) {
    const h = Buffer.alloc(512);
    const field = (offset: number, length: number, value: string) => h.write(value, offset, length, 'ascii');
    const octal = (offset: number, length: number, n: number) => field(offset, length, `${n.toString(8).padStart(length - 1, '0')}\0`);
    if (Buffer.byteLength(f.name) > 99) throw new Error(`tar name too long: ${f.name}`);
    field(0, 100, f.name);
    octal(100, 8, f.mode);
    octal(108, 8, 0);
    octal(116, 8, 0);
    octal(124, 12, f.bytes.length);
    octal(136, 12, mtime);
    field(148, 8, '        ');
    field(156, 1, '0');
    field(257, 6, 'ustar\0');
    field(263, 2, '00');
    field(265, 32, 'root');
    field(297, 32, 'root');
    let sum = 0;
    for (const b of h) sum += b;
    field(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(h, f.bytes, Buffer.alloc((512 - (f.bytes.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
