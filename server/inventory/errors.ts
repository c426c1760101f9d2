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
