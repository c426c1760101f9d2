/** A problem in one inventory input, located by file and (when known) line. */
export class SourceError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly line: number | null = null,
  ) {
    super(message);
  }

  /** `file:line: message`, the form every inventory error takes. */
  get located(): string {
    return `${this.file}${this.line ? `:${this.line}` : ''}: ${this.message}`;
  }
}

/** Decodes UTF-8 strictly (a byte order mark kept, as Python keeps it), or throws a SourceError
 * naming the first line that is not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array, file: string): string {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  // A NUL is never meant in an inventory (Ansible would carry it into host names and ssh
  // arguments): refused, naming its line. A deliberate difference from Ansible (docs/inventory.md).
  const nul = bytes.indexOf(0);
  if (nul >= 0) throw new SourceError('contains a NUL byte (binary data, not an inventory text)', file, countLines(bytes, nul));
  try {
    return decoder.decode(bytes);
  } catch {
    let start = 0;
    let line = 1;
    for (let i = 0; i <= bytes.length; i++) {
      if (i === bytes.length || bytes[i] === 0x0a) {
        try {
          decoder.decode(bytes.subarray(start, i));
        } catch {
          throw new SourceError('not valid UTF-8 text', file, line);
        }
        start = i + 1;
        line++;
      }
    }
    throw new SourceError('not valid UTF-8 text', file);
  }
}

function countLines(bytes: Uint8Array, upTo: number): number {
  let line = 1;
  for (let i = 0; i < upTo; i++) if (bytes[i] === 0x0a) line++;
  return line;
}
