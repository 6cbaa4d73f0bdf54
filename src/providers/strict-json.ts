// SPDX-License-Identifier: LGPL-2.1-or-later

const WHITESPACE = /[ \t\n\r]*/y;
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const LITERAL = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null/y;

/**
 * JSON.parse that rejects duplicate object keys, as upstream's OCI parser does (a VNIC with two
 * "privateIp" keys is ambiguous, not "the last one wins"). Throws SyntaxError.
 */
export function parseJsonStrict(text: string): unknown {
  let pos = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at position ${pos}`);
  };
  const skipWhitespace = (): void => {
    WHITESPACE.lastIndex = pos;
    WHITESPACE.test(text);
    pos = WHITESPACE.lastIndex;
  };
  const token = (pattern: RegExp, what: string): string => {
    pattern.lastIndex = pos;
    const match = pattern.exec(text);
    if (match === null) return fail(`expected ${what}`);
    pos = pattern.lastIndex;
    return match[0];
  };
  const expect = (char: string): void => {
    skipWhitespace();
    if (text[pos] !== char) fail(`expected "${char}"`);
    pos++;
  };

  const value = (): unknown => {
    skipWhitespace();
    const char = text[pos];
    if (char === '{') {
      pos++;
      const object: Record<string, unknown> = {};
      skipWhitespace();
      if (text[pos] === '}') return pos++, object;
      for (;;) {
        skipWhitespace();
        const key = JSON.parse(token(STRING, 'a key')) as string;
        if (Object.hasOwn(object, key)) fail(`duplicate key "${key}"`);
        expect(':');
        // defineProperty: a "__proto__" key is data, not a prototype change.
        Object.defineProperty(object, key, { value: value(), enumerable: true, writable: true, configurable: true });
        skipWhitespace();
        if (text[pos] === '}') return pos++, object;
        expect(',');
      }
    }
    if (char === '[') {
      pos++;
      const array: unknown[] = [];
      skipWhitespace();
      if (text[pos] === ']') return pos++, array;
      for (;;) {
        array.push(value());
        skipWhitespace();
        if (text[pos] === ']') return pos++, array;
        expect(',');
      }
    }
    if (char === '"') return JSON.parse(token(STRING, 'a string')) as unknown;
    return JSON.parse(token(LITERAL, 'a value')) as unknown;
  };

  const result = value();
  skipWhitespace();
  if (pos !== text.length) fail('unexpected data');
  return result;
}
