/**
 * The single-character backslash escapes of Python string literals, shared by the readers that
 * decode text as Python does (pickle STRING arguments, Jinja string literals). A backslash before
 * a newline continues the line and stands for nothing.
 */
export const pythonSimpleEscapes: Readonly<Record<string, string>> = {
  '\n': '',
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};
