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
