import { runStep } from '../../pipeline/run-step.ts';
import { spec } from './inputs.ts';

// The work is loaded once the inputs have parsed: a rejected input never loads (or parses) it.
void runStep(spec, async (inputs, ctx) => (await import('./run.ts')).run(inputs, ctx));
