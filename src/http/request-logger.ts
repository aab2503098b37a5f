import type { FastifyBaseLogger } from 'fastify';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type Bindings = Record<string, unknown>;
interface PinoLike extends FastifyBaseLogger {
  isLevelEnabled(level: string): boolean;
}

/**
 * Fastify's childLoggerFactory: the request's logger (with its reqId) is made on the first line
 * it actually writes. pino's child() runs the redaction over its bindings on creation, which
 * was ~4 % of a request (issue #21 §2). A line whose first argument is an object (the access
 * line of every request) goes through the parent with the bindings merged in; any other line
 * makes the child then. Either way the line holds the same fields, serialised and redacted alike.
 */
export function lazyChildLogger(this: unknown, logger: FastifyBaseLogger, bindings: Bindings, opts: object): FastifyBaseLogger {
  return new LazyChild(logger as PinoLike, bindings, opts) as unknown as FastifyBaseLogger;
}

class LazyChild {
  readonly #parent: PinoLike;
  readonly #bindings: Bindings;
  readonly #opts: object;
  #real: FastifyBaseLogger | undefined;

  constructor(parent: PinoLike, bindings: Bindings, opts: object) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#opts = opts;
  }

  #logger(): FastifyBaseLogger {
    return (this.#real ??= this.#parent.child(this.#bindings, this.#opts));
  }

  #write(level: Level, args: unknown[]): void {
    if (this.#real === undefined) {
      if (!this.#parent.isLevelEnabled(level)) return;
      // A line with a merge object (the access line, Fastify's own): the bindings join the object,
      // which the parent's serializers and redaction paths treat exactly as a child's — no child needed.
      const [first, ...rest] = args;
      if (first !== null && typeof first === 'object' && !(first instanceof Error) && !Array.isArray(first)) {
        (this.#parent[level] as (...a: unknown[]) => void)({ ...this.#bindings, ...first }, ...rest);
        return;
      }
    }
    (this.#logger()[level] as (...a: unknown[]) => void)(...args);
  }

  get level(): string {
    return (this.#real ?? this.#parent).level;
  }

  set level(value: string) {
    this.#logger().level = value;
  }

  fatal(...args: unknown[]) { this.#write('fatal', args); }
  error(...args: unknown[]) { this.#write('error', args); }
  warn(...args: unknown[]) { this.#write('warn', args); }
  info(...args: unknown[]) { this.#write('info', args); }
  debug(...args: unknown[]) { this.#write('debug', args); }
  trace(...args: unknown[]) { this.#write('trace', args); }
  silent() {}
  isLevelEnabled(level: string): boolean {
    return ((this.#real ?? this.#parent) as PinoLike).isLevelEnabled(level);
  }
  bindings(): Bindings {
    return { ...(this.#real ? (this.#real as unknown as { bindings(): Bindings }).bindings() : { ...(this.#parent as unknown as { bindings(): Bindings }).bindings(), ...this.#bindings }) };
  }
  child(bindings: Bindings, opts?: object): FastifyBaseLogger {
    return this.#logger().child(bindings, opts);
  }
}
