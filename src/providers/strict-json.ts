// SPDX-License-Identifier: LGPL-2.1-or-later

const WHITESPACE = /[ \t\n\r]*/y;
// eslint-disable-next-line no-control-regex -- JSON forbids raw control characters in strings
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const LITERAL = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null/y;

/**
 * JSON.parse that rejects duplicate object keys, as upstream's OCI parser does (a VNIC with two
 * "privateIp" keys is ambiguous, not "the last one wins"). Throws SyntaxError.
 */
export function parseJsonStrict(text: string): unknown {
  const cursor = new Cursor(text);
  const result = cursor.value();
  cursor.skipWhitespace();
  if (cursor.pos !== text.length) cursor.fail('unexpected data');
  return result;
}

/** A recursive-descent reader over `text`; the scalar tokens are left to JSON.parse. */
class Cursor {
  pos = 0;

  constructor(private readonly text: string) {}

  fail(what: string): never {
    throw new SyntaxError(`${what} at position ${this.pos}`);
  }

  skipWhitespace(): void {
    WHITESPACE.lastIndex = this.pos;
    WHITESPACE.test(this.text);
    this.pos = WHITESPACE.lastIndex;
  }

  value(): unknown {
    this.skipWhitespace();
    const char = this.text[this.pos];
    if (char === '{') return this.object();
    if (char === '[') return this.array();
    if (char === '"') return JSON.parse(this.token(STRING, 'a string')) as unknown;
    return JSON.parse(this.token(LITERAL, 'a value')) as unknown;
  }

  private object(): Record<string, unknown> {
    this.pos++;
    const object: Record<string, unknown> = {};
    if (this.closes('}')) return object;
    for (;;) {
      this.skipWhitespace();
      const key = JSON.parse(this.token(STRING, 'a key')) as string;
      if (Object.hasOwn(object, key)) this.fail(`duplicate key "${key}"`);
      this.expect(':');
      // defineProperty: a "__proto__" key is data, not a prototype change.
      Object.defineProperty(object, key, { value: this.value(), enumerable: true, writable: true, configurable: true });
      if (this.closes('}')) return object;
      this.expect(',');
    }
  }

  private array(): unknown[] {
    this.pos++;
    const array: unknown[] = [];
    if (this.closes(']')) return array;
    for (;;) {
      array.push(this.value());
      if (this.closes(']')) return array;
      this.expect(',');
    }
  }

  /** Consumes `char` (after whitespace) when it comes next. */
  private closes(char: string): boolean {
    this.skipWhitespace();
    if (this.text[this.pos] !== char) return false;
    this.pos++;
    return true;
  }

  private token(pattern: RegExp, what: string): string {
    pattern.lastIndex = this.pos;
    const match = pattern.exec(this.text);
    if (match === null) return this.fail(`expected ${what}`);
    this.pos = pattern.lastIndex;
    return match[0];
  }

  private expect(char: string): void {
    if (!this.closes(char)) this.fail(`expected "${char}"`);
  }
}
