import { panic } from './panic';

// A small JSON reader for flat objects of strings (what application arguments usually are) and a
// writer of JSON strings. Anything else in the arguments is refused with a clear panic.

function fail(message: string): void {
  panic(message);
}

function isSpace(c: i32): bool {
  return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0d;
}

class Reader {
  at: i32 = 0;
  constructor(public text: string) {}

  skipSpace(): void {
    while (this.at < this.text.length && isSpace(this.text.charCodeAt(this.at))) this.at++;
  }

  expect(c: i32): void {
    this.skipSpace();
    if (this.at >= this.text.length || this.text.charCodeAt(this.at) != c) {
      fail("arguments: expected '" + String.fromCharCode(c) + "' at " + this.at.toString());
    }
    this.at++;
  }

  peek(): i32 {
    this.skipSpace();
    return this.at < this.text.length ? this.text.charCodeAt(this.at) : -1;
  }

  string(): string {
    this.expect(0x22);
    let out = '';
    while (true) {
      if (this.at >= this.text.length) fail('arguments: unterminated string');
      const c = this.text.charCodeAt(this.at++);
      if (c == 0x22) return out;
      if (c != 0x5c) {
        out += String.fromCharCode(c);
        continue;
      }
      const e = this.text.charCodeAt(this.at++);
      if (e == 0x22) out += '"';
      else if (e == 0x5c) out += '\\';
      else if (e == 0x2f) out += '/';
      else if (e == 0x62) out += '\b';
      else if (e == 0x66) out += '\f';
      else if (e == 0x6e) out += '\n';
      else if (e == 0x72) out += '\r';
      else if (e == 0x74) out += '\t';
      else if (e == 0x75) {
        out += String.fromCharCode(<i32>I32.parseInt(this.text.substring(this.at, this.at + 4), 16));
        this.at += 4;
      } else fail('arguments: bad escape');
    }
  }
}

/** A JSON number, true or false, as its text; null as null. Anything else panics. */
function scalar(reader: Reader, name: string): string | null {
  const start = reader.at;
  while (reader.at < reader.text.length) {
    const c = reader.text.charCodeAt(reader.at);
    const word = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || c == 0x2d || c == 0x2b || c == 0x2e;
    if (!word) break;
    reader.at++;
  }
  const token = reader.text.substring(start, reader.at);
  if (token == 'null') return null;
  if (token == 'true' || token == 'false') return token;
  const first = token.length > 0 ? token.charCodeAt(0) : 0;
  if (first == 0x2d || (first >= 0x30 && first <= 0x39)) return token;
  fail('arguments: "' + name + '" must be a string, a number, a boolean or null');
  return null;
}

/**
 * A flat JSON object (`{}` and empty input are an empty object). String values are unescaped;
 * numbers and booleans are kept as their text (read them with `I32.parseInt`, `== 'true'`); a null
 * value is left out. Nested objects and arrays are refused.
 */
export function parseStringObject(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  const reader = new Reader(text);
  if (reader.peek() == -1) return fields;
  reader.expect(0x7b);
  if (reader.peek() == 0x7d) {
    reader.at++;
    return fields;
  }
  while (true) {
    const name = reader.string();
    reader.expect(0x3a);
    if (reader.peek() == 0x22) fields.set(name, reader.string());
    else {
      const value = scalar(reader, name);
      if (value !== null) fields.set(name, value);
    }
    const next = reader.peek();
    reader.at++;
    if (next == 0x7d) break;
    if (next != 0x2c) fail("arguments: expected ',' or '}'");
  }
  if (reader.peek() != -1) fail('arguments: trailing characters');
  return fields;
}

/** `value` as a JSON string literal. */
export function jsonString(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += '\\\\';
    else if (c == 0x0a) out += '\\n';
    else if (c == 0x0d) out += '\\r';
    else if (c == 0x09) out += '\\t';
    else if (c < 0x20) out += '\\u00' + (c < 0x10 ? '0' : '') + c.toString(16);
    else out += String.fromCharCode(c);
  }
  return out + '"';
}
