import { runAction } from '../../runner/index.ts';
import { spec } from './inputs.ts';
import { run } from './run.ts';

void runAction(spec, (inputs, ctx) => run(inputs, ctx));
