/** `slipway plan --env NAME`: what a deploy would do, without contacting anything. */
import type { CliIO } from './main.ts';
import type { ParsedArgs } from './args.ts';
import type { LoadedConfig } from '../config/load.ts';
import { UserError } from '../lib/errors.ts';
import { checkDeployWindow } from '../lib/deploy-window.ts';

export async function plan(args: ParsedArgs, io: CliIO, read: (required: boolean) => Promise<LoadedConfig | undefined>): Promise<number> {
  if (args.help) {
    io.stdout('slipway plan --env NAME [--config slipway.yml] [--json]: prints the stages, instances, batches and gates of a deploy, contacting nothing.\n');
    return 0;
  }
  const config = (await read(true))!;
  if (!args.env) throw new UserError(`plan needs --env (one of ${config.environments().join(', ')})`);
  const stages = ['migrate', 'deploy-rolling', 'smoke-test', 'slo-gate', 'notify'].map((action) => ({ action, inputs: config.inputs(args.env!, action) }));
  const window = config.window(args.env);
  const decision = window ? checkDeployWindow(window, new Date()) : undefined;
  const result = { environment: args.env, window: decision, stages: stages.filter((s) => Object.keys(s.inputs).length > 0) };
  if (args.json) {
    io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  io.stdout(`Plan for ${args.env} (${config.path}); nothing is contacted.\n`);
  if (decision) io.stdout(`  deploy window: ${decision.allowed ? 'open' : 'CLOSED'}: ${decision.reason}\n`);
  result.stages.forEach((s, i) => {
    io.stdout(`  ${i + 1}. ${s.action}\n`);
    for (const [k, v] of Object.entries(s.inputs)) io.stdout(`       ${k}: ${/secrets\./.test(v) ? v : v.length > 80 ? `${v.slice(0, 77)}...` : v}\n`);
  });
  return 0;
}
