/** An implementation module whose adapter never answers, for tests/browser_test.ts (the runner's timeout must end it). */

/** Never resolves. */
export function adapter(): Promise<never> {
  return new Promise(() => {});
}
