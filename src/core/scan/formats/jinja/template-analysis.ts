import { parse, tokenize } from '@huggingface/jinja';
import type { RuleKey } from '../../rules.js';
import { normalizeTemplate } from './normalize.js';

export interface TemplateIssue {
  rule: RuleKey;
  message: string;
}

export interface TemplateLimits {
  /** Longer templates are reported, not parsed. */
  maxTemplateChars: number;
  /** Deeper syntax trees are reported; the parser itself is bounded by the call stack. */
  maxDepth: number;
  /** Syntax tree nodes visited. */
  maxNodes: number;
  /** Length of strings the analysis folds from constants. */
  maxFoldedChars: number;
}

export const defaultTemplateLimits: TemplateLimits = {
  maxTemplateChars: 1 << 20,
  maxDepth: 500,
  maxNodes: 2_000_000,
  maxFoldedChars: 4096,
};

/**
 * Jinja globals and Flask/application globals that are Python objects. Calling the functions is
 * their normal use; reading their attributes or passing them around is not.
 */
const callableGlobals = new Set(['cycler', 'joiner', 'lipsum', 'namespace', 'range', 'dict']);
const objectGlobals = new Set([
  'self',
  'config',
  'request',
  'session',
  'g',
  'url_for',
  'get_flashed_messages',
]);

/** Filters and tests that look attributes up by a name given as a string (dotted paths too). */
const attributeArgumentFilters = new Set([
  'map',
  'selectattr',
  'rejectattr',
  'sort',
  'groupby',
  'sum',
  'unique',
  'min',
  'max',
]);

/** Filters whose result is built from strings, so a name can be assembled through them. */
const stringBuildingFilters = new Set([
  'join',
  'format',
  'replace',
  'reverse',
  'lower',
  'upper',
  'title',
  'capitalize',
  'string',
  'trim',
  'striptags',
  'center',
  'urlencode',
  'safe',
]);

const dunder = /__[A-Za-z0-9_]*__/;

type Node = { type: string; [key: string]: unknown };

class LimitError extends Error {}

/** Parses a chat template (never renders it) and reports what reaches Python internals. */
export function analyseTemplate(template: string, limits = defaultTemplateLimits): TemplateIssue[] {
  if (template.length > limits.maxTemplateChars) {
    return [
      {
        rule: 'templateUnparsable',
        message: `template of ${template.length} characters exceeds the analysis limit of ${limits.maxTemplateChars}`,
      },
    ];
  }
  let program: Node;
  try {
    // Loaders render with trim_blocks and lstrip_blocks; whitespace does not change the syntax tree.
    program = parse(
      tokenize(normalizeTemplate(template), { lstrip_blocks: true, trim_blocks: true }),
    ) as unknown as Node;
  } catch (error) {
    const why =
      error instanceof RangeError
        ? 'expressions nested too deeply to parse'
        : `does not parse (${parseMessage(error)})`;
    return [{ rule: 'templateUnparsable', message: `template ${why}` }, ...unparsedSignals(template)];
  }
  const walker = new Walker(limits);
  try {
    walker.statements(program.body as Node[], 0);
  } catch (error) {
    if (!(error instanceof LimitError)) throw error;
    walker.add('templateUnparsable', `template ${error.message}; the rest was not analysed`);
  }
  return walker.issues;
}

function parseMessage(error: unknown): string {
  const text = error instanceof Error ? error.message : '';
  // The parser's own messages name the construct; keep them short and single-line.
  const line = text.split('\n')[0]!.slice(0, 120);
  return /^[\x20-\x7e]+$/.test(line) ? line : 'syntax error';
}

/**
 * What an unparsable template still shows. Python Jinja may render what this parser rejects
 * (`{% with %}`, `{% do %}` with the extension), so names of Python internals in its text are
 * reported as if parsed.
 */
function unparsedSignals(template: string): TemplateIssue[] {
  const issues: TemplateIssue[] = [];
  const decoded = decodeAllEscapes(template);
  const name = dunder.exec(decoded)?.[0] ?? /\.\s*(_[A-Za-z][A-Za-z0-9_]*)/.exec(decoded)?.[1];
  if (name !== undefined) {
    issues.push({
      rule: 'templateInternals',
      message: `template that does not parse names ${JSON.stringify(name)}`,
    });
  }
  if (/\|\s*attr\b/.test(template)) {
    issues.push({
      rule: 'templateDynamicAttribute',
      message: 'template that does not parse uses the attr filter',
    });
  }
  return issues;
}

function decodeAllEscapes(text: string): string {
  return text
    .replace(
      /\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|\\([0-7]{1,3})/g,
      (_m, x, u, U, o) => {
        const code = x
          ? Number.parseInt(x, 16)
          : u
            ? Number.parseInt(u, 16)
            : U
              ? Number.parseInt(U, 16)
              : Number.parseInt(o, 8);
        return code <= 0x10ffff ? String.fromCodePoint(code) : '';
      },
    )
    .replace(/\\N\{LOW LINE\}/gi, '_');
}

/** A folded expression: its constant text, or unknown; `built` when string operations made it. */
interface Folded {
  value: string | undefined;
  built: boolean;
}

class Walker {
  readonly issues: TemplateIssue[] = [];
  private readonly seen = new Set<string>();
  private nodes = 0;
  /** Names bound by set, for, macro parameters: they shadow globals. */
  private readonly bound = new Set<string>();

  constructor(private readonly limits: TemplateLimits) {}

  add(rule: RuleKey, message: string): void {
    const key = `${rule}\0${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.issues.push({ rule, message });
  }

  private enter(depth: number): void {
    if (++this.nodes > this.limits.maxNodes)
      throw new LimitError(`has more than ${this.limits.maxNodes} syntax nodes`);
    if (depth > this.limits.maxDepth)
      throw new LimitError(`nests deeper than ${this.limits.maxDepth} levels`);
  }

  statements(body: readonly Node[] | undefined, depth: number): void {
    for (const statement of body ?? []) this.statement(statement, depth);
  }

  private statement(node: Node, depth: number): void {
    this.enter(depth);
    switch (node.type) {
      case 'Set': {
        this.bind(node.assignee as Node);
        const assignee = node.assignee as Node;
        if (assignee.type !== 'Identifier' && assignee.type !== 'TupleLiteral')
          this.expression(assignee, depth + 1);
        if (node.value) this.expression(node.value as Node, depth + 1);
        this.statements(node.body as Node[], depth + 1);
        return;
      }
      case 'For':
        this.bind(node.loopvar as Node);
        this.expression(node.iterable as Node, depth + 1);
        this.statements(node.body as Node[], depth + 1);
        this.statements(node.defaultBlock as Node[], depth + 1);
        return;
      case 'If':
        this.expression(node.test as Node, depth + 1);
        this.statements(node.body as Node[], depth + 1);
        this.statements(node.alternate as Node[], depth + 1);
        return;
      case 'Macro':
        this.bind(node.name as Node);
        for (const arg of node.args as Node[]) {
          if (arg.type === 'KeywordArgumentExpression') {
            this.bind(arg.key as Node);
            this.expression(arg.value as Node, depth + 1);
          } else this.bind(arg);
        }
        this.statements(node.body as Node[], depth + 1);
        return;
      case 'CallStatement':
        for (const arg of (node.callerArgs as Node[] | null) ?? []) this.bind(arg);
        this.expression(node.call as Node, depth + 1);
        this.statements(node.body as Node[], depth + 1);
        return;
      case 'FilterStatement':
        this.filter({ type: 'Identifier', value: '' }, node.filter as Node, depth + 1);
        this.statements(node.body as Node[], depth + 1);
        return;
      case 'Break':
      case 'Continue':
      case 'Comment':
        return;
      default:
        this.expression(node, depth);
    }
  }

  private bind(target: Node): void {
    if (target.type === 'Identifier') this.bound.add(target.value as string);
    else if (target.type === 'TupleLiteral' || target.type === 'ArrayLiteral') {
      for (const item of target.value as Node[]) this.bind(item);
    }
  }

  private expression(node: Node, depth: number, asCallee = false): void {
    this.enter(depth);
    const next = depth + 1;
    switch (node.type) {
      case 'Identifier': {
        const name = node.value as string;
        if (this.bound.has(name)) return;
        if (dunder.test(name)) this.add('templateInternals', `uses the name ${JSON.stringify(name)}`);
        else {
          if (objectGlobals.has(name))
            this.add('templateGlobalObject', `uses the global ${JSON.stringify(name)}`);
          else if (callableGlobals.has(name) && !asCallee) {
            this.add(
              'templateGlobalObject',
              `uses the global ${JSON.stringify(name)} other than by calling it`,
            );
          }
        }
        return;
      }
      case 'StringLiteral':
        this.checkLiteral(node.value as string);
        return;
      case 'IntegerLiteral':
      case 'FloatLiteral':
        return;
      case 'ArrayLiteral':
      case 'TupleLiteral':
        for (const item of node.value as Node[]) this.expression(item, next);
        return;
      case 'ObjectLiteral':
        for (const [key, value] of node.value as Map<Node, Node>) {
          this.expression(key, next);
          this.expression(value, next);
        }
        return;
      case 'MemberExpression': {
        this.expression(node.object as Node, next);
        const property = node.property as Node;
        if (!node.computed && property.type === 'Identifier') {
          this.checkName(property.value as string, 'reads attribute');
        } else if (property.type === 'SliceExpression') {
          this.expression(property, next);
        } else {
          this.expression(property, next);
          this.checkComputedName(property, 'subscript', next);
        }
        return;
      }
      case 'CallExpression': {
        const callee = node.callee as Node;
        this.expression(callee, next, true);
        for (const arg of node.args as Node[]) this.expression(arg, next);
        if (callee.type === 'MemberExpression' && !callee.computed) {
          const method = (callee.property as Node).value;
          if (method === 'format' || method === 'format_map') {
            this.checkBuilt(node, next);
          }
        }
        return;
      }
      case 'FilterExpression':
        this.expression(node.operand as Node, next);
        this.filter(node.operand as Node, node.filter as Node, next);
        if (this.isStringBuildingFilter(node.filter as Node)) this.checkBuilt(node, next);
        return;
      case 'BinaryExpression': {
        this.expression(node.left as Node, next);
        this.expression(node.right as Node, next);
        const operator = (node.operator as { value: string }).value;
        if (operator === '~' || operator === '+' || operator === '%' || operator === '*')
          this.checkBuilt(node, next);
        return;
      }
      case 'UnaryExpression':
        this.expression(node.argument as Node, next);
        return;
      case 'TestExpression':
        this.expression(node.operand as Node, next);
        return;
      case 'SelectExpression':
        this.expression(node.lhs as Node, next);
        this.expression(node.test as Node, next);
        return;
      case 'Ternary':
        this.expression(node.condition as Node, next);
        this.expression(node.trueExpr as Node, next);
        this.expression(node.falseExpr as Node, next);
        return;
      case 'SliceExpression':
        for (const part of [node.start, node.stop, node.step]) if (part) this.expression(part as Node, next);
        return;
      case 'KeywordArgumentExpression':
        this.expression(node.value as Node, next);
        return;
      case 'SpreadExpression':
      case 'KeywordSpreadExpression':
        this.expression(node.argument as Node, next);
        return;
      default:
        // A statement node in expression position, or a node type a newer parser adds.
        for (const value of Object.values(node)) {
          if (value && typeof value === 'object' && 'type' in value) this.expression(value as Node, next);
        }
    }
  }

  private isStringBuildingFilter(filter: Node): boolean {
    const name = filterName(filter);
    return name !== undefined && stringBuildingFilters.has(name);
  }

  private filter(_operand: Node, filter: Node, depth: number): void {
    const name = filterName(filter);
    const args = filter.type === 'CallExpression' ? (filter.args as Node[]) : [];
    if (filter.type === 'CallExpression') for (const arg of args) this.expression(arg, depth);
    if (name === undefined) return;
    if (name.startsWith('_')) this.add('templateInternals', `uses the filter ${JSON.stringify(name)}`);
    if (name === 'attr') {
      const target = args[0];
      if (!target) return;
      const folded = this.fold(target, depth);
      if (folded.value !== undefined) this.checkName(folded.value, 'reads attribute', true);
      else
        this.add(
          'templateDynamicAttribute',
          'reads an attribute with |attr() whose name is computed at render time',
        );
      return;
    }
    if (attributeArgumentFilters.has(name)) {
      // attribute='a.b' keywords, the positional attribute of selectattr/rejectattr/groupby, and
      // map('attr', name) / select('attr', ...) forms.
      for (const [index, arg] of args.entries()) {
        const keyword =
          arg.type === 'KeywordArgumentExpression' ? ((arg.key as Node).value as string) : undefined;
        const value = arg.type === 'KeywordArgumentExpression' ? (arg.value as Node) : arg;
        const namesAttribute =
          keyword === 'attribute' || (keyword === undefined && (index === 0 ? name !== 'map' : false));
        const folded = this.fold(value, depth);
        if (index === 0 && keyword === undefined && folded.value === 'attr') {
          const attribute = args[1];
          if (attribute) {
            const name2 = this.fold(attribute, depth);
            if (name2.value !== undefined) this.checkName(name2.value, 'reads attribute', true);
            else
              this.add(
                'templateDynamicAttribute',
                'reads an attribute with map("attr") whose name is computed at render time',
              );
          }
          continue;
        }
        if (!namesAttribute) continue;
        if (folded.value !== undefined) {
          for (const segment of folded.value.split('.')) this.checkName(segment, 'reads attribute', true);
        } else if (folded.built) {
          this.add(
            'templateDynamicAttribute',
            `looks attributes up with |${name} by a name built at render time`,
          );
        }
      }
    }
  }

  /** An attribute name used as is: dunder and private names reach Python internals. */
  private checkName(name: string, verb: string, computed = false): void {
    if (name.startsWith('_')) {
      this.add(
        'templateInternals',
        `${verb} ${JSON.stringify(name)}${computed ? ' (name given as a string)' : ''}`,
      );
    }
  }

  private checkComputedName(property: Node, what: string, depth: number): void {
    const folded = this.fold(property, depth);
    if (folded.value !== undefined) {
      if (folded.value.startsWith('_')) {
        this.add(
          'templateInternals',
          `reads ${what} ${JSON.stringify(folded.value)}${folded.built ? ' (name built at render time)' : ''}`,
        );
      }
    } else if (folded.built) {
      this.add('templateDynamicAttribute', `reads a ${what} whose name is built at render time`);
    }
  }

  /** A string-building expression: what it folds to must not name internals. */
  private checkBuilt(node: Node, depth: number): void {
    const folded = this.fold(node, depth);
    if (folded.value !== undefined) this.checkLiteral(folded.value, true);
    else if (this.hasDunderFragment(node, depth)) {
      this.add('templateDynamicAttribute', 'builds a string from pieces of a dunder name at render time');
    }
  }

  private hasDunderFragment(node: Node, depth: number): boolean {
    let found = false;
    const visit = (n: Node, d: number) => {
      if (found || d > this.limits.maxDepth) return;
      if (n.type === 'StringLiteral') {
        const value = n.value as string;
        if (value.includes('__') || value === '_') found = true;
        return;
      }
      for (const value of Object.values(n)) {
        if (Array.isArray(value))
          for (const item of value)
            if (item && typeof item === 'object' && 'type' in item) visit(item as Node, d + 1);
        if (value && typeof value === 'object' && 'type' in value) visit(value as Node, d + 1);
      }
    };
    visit(node, depth);
    return found;
  }

  private checkLiteral(value: string, built = false): void {
    const match = dunder.exec(value);
    if (match) {
      this.add(
        'templateInternals',
        `${built ? 'builds' : 'holds'} the string ${JSON.stringify(shorten(value))}, which names ${JSON.stringify(match[0])}`,
      );
    }
  }

  /** Constant folding of the string operations Jinja evaluates, so assembled names are seen. */
  private fold(node: Node, depth: number): Folded {
    if (depth > this.limits.maxDepth) return { value: undefined, built: true };
    const max = this.limits.maxFoldedChars;
    const cap = (value: string | undefined, built: boolean): Folded => ({
      value: value !== undefined && value.length <= max ? value : undefined,
      built,
    });
    switch (node.type) {
      case 'StringLiteral':
        return cap(node.value as string, false);
      case 'IntegerLiteral':
      case 'FloatLiteral':
        return { value: String(node.value), built: false };
      case 'BinaryExpression': {
        const operator = (node.operator as { value: string }).value;
        const left = this.fold(node.left as Node, depth + 1);
        const right = this.fold(node.right as Node, depth + 1);
        if (operator === '~' || operator === '+') {
          // `+` of numbers (`loop.index0 + 1`) builds no name; `~`, and `+` with a string side, do.
          const stringy =
            operator === '~' ||
            (node.left as Node).type === 'StringLiteral' ||
            (node.right as Node).type === 'StringLiteral' ||
            left.built ||
            right.built;
          if (!stringy) return { value: undefined, built: false };
          const joined =
            left.value !== undefined && right.value !== undefined ? left.value + right.value : undefined;
          return cap(joined, true);
        }
        if (operator === '%' && (node.left as Node).type === 'StringLiteral') {
          return cap(
            left.value === undefined
              ? undefined
              : percentFormat(left.value, node.right as Node, (n) => this.fold(n, depth + 1)),
            true,
          );
        }
        if (operator === '*' && left.value !== undefined && right.value !== undefined) {
          const times = Number(right.value);
          if (Number.isInteger(times) && times >= 0 && left.value.length * times <= max)
            return cap(left.value.repeat(times), true);
        }
        return { value: undefined, built: left.built || right.built };
      }
      case 'FilterExpression': {
        const name = filterName(node.filter as Node);
        const args =
          (node.filter as Node).type === 'CallExpression' ? ((node.filter as Node).args as Node[]) : [];
        if (name === undefined || !stringBuildingFilters.has(name)) return { value: undefined, built: false };
        const operand = node.operand as Node;
        if (name === 'join') {
          const items =
            operand.type === 'ArrayLiteral' || operand.type === 'TupleLiteral'
              ? (operand.value as Node[])
              : undefined;
          const separator = args[0] ? this.fold(args[0], depth + 1).value : '';
          if (items && separator !== undefined) {
            const parts = items.map((item) => this.fold(item, depth + 1).value);
            if (parts.every((part) => part !== undefined)) return cap(parts.join(separator), true);
          }
          if (operand.type === 'StringLiteral' && separator !== undefined) {
            return cap([...(operand.value as string)].join(separator), true);
          }
          return { value: undefined, built: true };
        }
        const base = this.fold(operand, depth + 1);
        if (name === 'format') {
          return cap(
            base.value === undefined
              ? undefined
              : percentFormat(base.value, { type: 'TupleLiteral', value: args }, (n) =>
                  this.fold(n, depth + 1),
                ),
            true,
          );
        }
        if (base.value === undefined) return { value: undefined, built: true };
        switch (name) {
          case 'reverse':
            return cap([...base.value].reverse().join(''), true);
          case 'lower':
            return cap(base.value.toLowerCase(), true);
          case 'upper':
            return cap(base.value.toUpperCase(), true);
          case 'replace': {
            const from = args[0] ? this.fold(args[0], depth + 1).value : undefined;
            const to = args[1] ? this.fold(args[1], depth + 1).value : undefined;
            return cap(
              from === undefined || to === undefined ? undefined : base.value.split(from).join(to),
              true,
            );
          }
          case 'string':
          case 'safe':
            return { value: base.value, built: base.built };
          case 'trim':
            return cap(base.value.trim(), true);
          default:
            return { value: undefined, built: true };
        }
      }
      case 'CallExpression': {
        const callee = node.callee as Node;
        if (callee.type === 'MemberExpression' && !callee.computed) {
          const method = (callee.property as Node).value as string;
          const target = this.fold(callee.object as Node, depth + 1);
          const args = node.args as Node[];
          if (method === 'format' && target.value !== undefined) {
            return cap(
              braceFormat(
                target.value,
                args.map((arg) => this.fold(arg, depth + 1).value),
              ),
              true,
            );
          }
          if (method === 'join' && target.value !== undefined && args[0]) {
            const list = args[0];
            if (list.type === 'ArrayLiteral' || list.type === 'TupleLiteral') {
              const parts = (list.value as Node[]).map((item) => this.fold(item, depth + 1).value);
              if (parts.every((part) => part !== undefined)) return cap(parts.join(target.value), true);
            }
            return { value: undefined, built: true };
          }
          if (
            [
              'replace',
              'lower',
              'upper',
              'strip',
              'format',
              'join',
              'title',
              'capitalize',
              'swapcase',
            ].includes(method)
          ) {
            return { value: undefined, built: true };
          }
        }
        if (callee.type === 'Identifier' && ['chr', 'getattr'].includes(callee.value as string)) {
          return { value: undefined, built: true };
        }
        return { value: undefined, built: false };
      }
      case 'Ternary': {
        const a = this.fold(node.trueExpr as Node, depth + 1);
        const b = this.fold(node.falseExpr as Node, depth + 1);
        return {
          value: a.value !== undefined && a.value === b.value ? a.value : undefined,
          built: a.built || b.built,
        };
      }
      default:
        return { value: undefined, built: false };
    }
  }
}

function filterName(filter: Node): string | undefined {
  if (filter.type === 'Identifier') return filter.value as string;
  if (filter.type === 'CallExpression' && (filter.callee as Node).type === 'Identifier') {
    return (filter.callee as Node).value as string;
  }
  return undefined;
}

/** Python `%` formatting with constant arguments (`%s`, `%c`, `%d`, `%%`). */
function percentFormat(format: string, args: Node, fold: (node: Node) => Folded): string | undefined {
  const items =
    args.type === 'TupleLiteral' || args.type === 'ArrayLiteral' ? (args.value as Node[]) : [args];
  const values = items.map((item) => fold(item).value);
  let index = 0;
  let failed = false;
  const out = format.replace(/%([%scdirx])/g, (_m, spec: string) => {
    if (spec === '%') return '%';
    const value = values[index++];
    if (value === undefined) {
      failed = true;
      return '';
    }
    if (spec === 'c') {
      const code = Number(value);
      if (Number.isInteger(code) && code >= 0 && code <= 0x10ffff) return String.fromCodePoint(code);
      if (value.length === 1) return value;
      failed = true;
      return '';
    }
    return value;
  });
  return failed ? undefined : out;
}

/** Python `str.format` with positional constant arguments. */
function braceFormat(format: string, values: (string | undefined)[]): string | undefined {
  let index = 0;
  let failed = false;
  const out = format.replace(/\{(\d*)(?:![rsa])?(?::[^}]*)?\}/g, (_m, position: string) => {
    const value = values[position === '' ? index++ : Number(position)];
    if (value === undefined) failed = true;
    return value ?? '';
  });
  return failed ? undefined : out;
}

function shorten(value: string): string {
  return value.length > 80 ? `${value.slice(0, 77)}...` : value;
}
