/** Raised when the environment cannot produce a valid configuration; names every bad variable. */
export class ConfigError extends Error {
  readonly code = 'ERR_OCSUITE_CONFIG';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
