/** Python's `shlex.split(s, comments)` (POSIX mode), which Ansible uses to split an INI host line
 * and ansible.cfg's ssh_args: the same tokens, the same errors. */

export class ShlexError extends Error {}

const WHITESPACE = ' \t\r\n';
const QUOTES = `'"`;

export function shlexSplit(s: string, comments = false): string[] {
  const chars = [...s];
  let pos = 0;
  const tokens: string[] = [];
  const commenters = comments ? '#' : '';
  const skipLine = () => {
    while (pos < chars.length && chars[pos] !== '\n') pos++;
    if (pos < chars.length) pos++;
  };
  for (;;) {
    let state: string | null = ' ';
    let token = '';
    let quoted = false;
    let escapedState = ' ';
    for (;;) {
      const c = pos < chars.length ? chars[pos++]! : '';
      if (state === ' ') {
        if (!c) {
          state = null;
          break;
        } else if (WHITESPACE.includes(c)) {
          if (token || quoted) break;
        } else if (commenters.includes(c)) {
          skipLine();
        } else if (c === '\\') {
          escapedState = 'a';
          state = c;
        } else if (QUOTES.includes(c)) {
          state = c;
        } else {
          token = c;
          state = 'a';
        }
      } else if (state === "'" || state === '"') {
        quoted = true;
        if (!c) throw new ShlexError('No closing quotation');
        if (c === state) state = 'a';
        else if (c === '\\' && state === '"') {
          escapedState = state;
          state = c;
        } else token += c;
      } else if (state === '\\') {
        if (!c) throw new ShlexError('No escaped character');
        if (QUOTES.includes(escapedState) && c !== state && c !== escapedState) token += state;
        token += c;
        state = escapedState;
      } else {
        if (!c) {
          state = null;
          break;
        } else if (WHITESPACE.includes(c)) {
          state = ' ';
          if (token || quoted) break;
        } else if (commenters.includes(c)) {
          skipLine();
          state = ' ';
          if (token || quoted) break;
        } else if (QUOTES.includes(c)) {
          state = c;
        } else if (c === '\\') {
          escapedState = 'a';
          state = c;
        } else {
          token += c;
        }
      }
    }
    if (!quoted && token === '') return tokens;
    tokens.push(token);
    if (state === null) return tokens;
  }
}
