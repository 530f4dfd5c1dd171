/** An implementation module that cannot start, for tests/browser_test.ts. */
throw new Error("no accelerator here (on purpose)");
