// Matchers as amtool and Alertmanager's UI write them: `{a="b", c=~"d.*"}`, or amtool's
// `a=b c!=d` (braces optional, commas or spaces between matchers, values quoted or bare).
// The server stays the judge of validity: each parsed matcher is sent back in the quoted
// form as its own `filter` parameter, and the API's error is shown next to the input.

export const OPERATORS = ["=", "!=", "=~", "!~"];
const OPERATOR_PATTERN = /^(=~|!~|!=|=)/;
const SEPARATORS = /[\s,]/;

export class MatcherSyntaxError extends Error {}

export function parseMatchers(text) {
  let source = String(text).trim();
  if (source.startsWith("{")) source = source.slice(1);
  if (source.endsWith("}")) source = source.slice(0, -1);
  const matchers = [];
  let index = 0;
  const skip = (pattern) => {
    while (index < source.length && pattern.test(source[index])) index++;
  };
  skip(SEPARATORS);
  while (index < source.length) {
    const nameStart = index;
    while (index < source.length && !/[\s=!~,"]/.test(source[index])) index++;
    const name = source.slice(nameStart, index);
    skip(/\s/);
    const operator = OPERATOR_PATTERN.exec(source.slice(index));
    if (!name || !operator) throw new MatcherSyntaxError(`bad matcher format: ${source.slice(nameStart)}`);
    index += operator[1].length;
    skip(/\s/);
    let value = "";
    if (source[index] === '"') {
      index++;
      let closed = false;
      while (index < source.length) {
        const char = source[index++];
        if (char === "\\" && index < source.length) {
          const next = source[index++];
          value += next === "n" ? "\n" : next === '"' || next === "\\" ? next : `\\${next}`;
        } else if (char === '"') {
          closed = true;
          break;
        } else {
          value += char;
        }
      }
      if (!closed) throw new MatcherSyntaxError(`matcher value contains unescaped double quote: ${source.slice(nameStart)}`);
    } else {
      const valueStart = index;
      while (index < source.length && !SEPARATORS.test(source[index])) index++;
      value = source.slice(valueStart, index);
    }
    matchers.push({ name, operator: operator[1], value });
    skip(SEPARATORS);
  }
  return matchers;
}

export function quote(value) {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

export const formatMatcher = (matcher) => `${matcher.name}${matcher.operator}${quote(matcher.value)}`;
export const formatMatchers = (matchers) => `{${matchers.map(formatMatcher).join(", ")}}`;

export function fromLabels(labels) {
  return Object.keys(labels)
    .sort()
    .map((name) => ({ name, operator: "=", value: labels[name] }));
}

export function toApi(matcher) {
  return {
    name: matcher.name,
    value: matcher.value,
    isRegex: matcher.operator.endsWith("~"),
    isEqual: !matcher.operator.startsWith("!"),
  };
}

export function fromApi(matcher) {
  const isEqual = matcher.isEqual !== false;
  const operator = matcher.isRegex ? (isEqual ? "=~" : "!~") : isEqual ? "=" : "!=";
  return { name: matcher.name, operator, value: matcher.value };
}
