import { runAction } from '../../runner/index.ts';
import { spec } from './inputs.ts';

// The work is loaded once the inputs have parsed: a rejected input never loads (or parses) it.
void runAction(spec, async (inputs, ctx) => (await import('./run.ts')).run(inputs, ctx));
