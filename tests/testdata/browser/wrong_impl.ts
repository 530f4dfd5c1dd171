/** A deliberately wrong implementation module for tests/browser_test.ts: y = x, no normalization. */
import type { StepOutputs, StepRequest } from "../../../mod.ts";

/** Name in reports. */
export const name = "wrong on purpose (y = x)";

/** Inference only. */
export const supports = { modes: ["eval"], outputs: ["y"], backward: false, errors: false };

/** Returns the input unchanged. */
export function adapter(req: StepRequest): StepOutputs {
  return { outputs: { y: { shape: [...req.x.shape], data: Array.from(req.x.data) } } };
}
