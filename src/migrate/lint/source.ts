/**
 * Positions and directives in a migration file's text.
 *
 * PostgreSQL's parser reports statement and node locations as UTF-8 byte offsets, and a syntax error's
 * position as a character (code point) offset. Annotations want 1-based line and column (in characters).
 */

export interface Position {
  line: number;
  column: number;
}

export class SourceText {
  readonly sql: string;
  private readonly lineStarts: number[] = [0];
  /** byte offset → UTF-16 index; undefined when the text is ASCII (both are the same). */
  private readonly byteToIndex: Int32Array | undefined;
  private readonly hasSurrogates: boolean;

  constructor(sql: string) {
    this.sql = sql;
    for (let i = sql.indexOf('\n'); i !== -1; i = sql.indexOf('\n', i + 1)) this.lineStarts.push(i + 1);
    const ascii = /^[\x00-\x7f]*$/.test(sql);
    this.hasSurrogates = !ascii && /[\uD800-\uDFFF]/.test(sql);
    if (ascii) {
      this.byteToIndex = undefined;
    } else {
      const map = new Int32Array(Buffer.byteLength(sql, 'utf8') + 1);
      let b = 0;
      for (let i = 0; i < sql.length; i++) {
        const c = sql.charCodeAt(i);
        let n: number;
        let units = 1;
        if (c < 0x80) n = 1;
        else if (c < 0x800) n = 2;
        else if (c >= 0xd800 && c <= 0xdbff && i + 1 < sql.length && (sql.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
          n = 4;
          units = 2;
        } else n = 3;
        for (let k = 0; k < n; k++) map[b + k] = i;
        b += n;
        i += units - 1;
      }
      map[b] = sql.length;
      this.byteToIndex = map;
    }
  }

  /** UTF-16 index of a UTF-8 byte offset (clamped to the text). */
  indexOfByte(byte: number): number {
    if (byte <= 0) return 0;
    if (!this.byteToIndex) return Math.min(byte, this.sql.length);
    return this.byteToIndex[Math.min(byte, this.byteToIndex.length - 1)]!;
  }

  /** UTF-16 index of a code point offset (PostgreSQL's error cursor). */
  indexOfCodePoint(cp: number): number {
    if (!this.hasSurrogates) return Math.min(Math.max(cp, 0), this.sql.length);
    let i = 0;
    for (let n = 0; n < cp && i < this.sql.length; n++) {
      const c = this.sql.charCodeAt(i);
      i += c >= 0xd800 && c <= 0xdbff ? 2 : 1;
    }
    return Math.min(i, this.sql.length);
  }

  /** 1-based line and column (column counted in characters) of a UTF-16 index. */
  position(index: number): Position {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= index) lo = mid;
      else hi = mid - 1;
    }
    const start = this.lineStarts[lo]!;
    let column = 1;
    for (let i = start; i < index; i++) {
      const c = this.sql.charCodeAt(i);
      if ((c & 0xfc00) !== 0xdc00) column++;
    }
    return { line: lo + 1, column };
  }

  /** Skips whitespace and comments from an index (the parser's first statement may start at 0). */
  skipTrivia(index: number): number {
    const s = this.sql;
    let i = index;
    for (;;) {
      while (i < s.length && /\s/.test(s[i]!)) i++;
      if (s.startsWith('--', i)) {
        const nl = s.indexOf('\n', i);
        i = nl === -1 ? s.length : nl + 1;
      } else if (s.startsWith('/*', i)) {
        const end = s.indexOf('*/', i + 2);
        i = end === -1 ? s.length : end + 2;
      } else return i;
    }
  }
}

/** The first 200 characters of a statement, whitespace collapsed. */
export function shortStatement(text: string): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return one.length > 200 ? `${one.slice(0, 199)}…` : one;
}

export interface IgnoreDirective {
  rules: string[];
  reason: string;
  line: number;
  text: string;
}

export interface Directives {
  noTransaction: boolean;
  ignores: IgnoreDirective[];
}

/**
 * Reads `-- slipway:...` comment lines. `-- slipway:no-transaction` marks a file that runs outside a
 * transaction; `-- slipway:ignore rule-a[,rule-b] reason` disables rules for the whole file. A directive is
 * a comment on its own line (so text inside string literals or function bodies rarely looks like one).
 */
export function readDirectives(sql: string): Directives {
  const out: Directives = { noTransaction: false, ignores: [] };
  if (!sql.includes('slipway:')) return out;
  const lines = sql.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*--\s*slipway:([a-z-]+)\b(.*)$/i.exec(lines[i]!);
    if (!m) continue;
    const kind = m[1]!.toLowerCase();
    if (kind === 'no-transaction') out.noTransaction = true;
    else if (kind === 'ignore') {
      const rest = m[2]!.trim();
      const sp = rest.search(/\s/);
      const ids = sp === -1 ? rest : rest.slice(0, sp);
      const reason = sp === -1 ? '' : rest.slice(sp + 1).trim();
      out.ignores.push({
        rules: ids
          .split(',')
          .map((r) => r.trim().toLowerCase())
          .filter(Boolean),
        reason,
        line: i + 1,
        text: lines[i]!.trim(),
      });
    }
  }
  return out;
}
