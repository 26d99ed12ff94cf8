/**
 * The stages of a release, in the order they run, and the slipway.yml section and action of each:
 * the one place that order is written. The release action, `slipway plan`/`validate`, the config
 * loader, the JSON Schema and the demo read it from here.
 */

/** The stages a release runs, in this order (the deploy window is checked before them). */
export const STAGE_ORDER = ['migrate', 'deploy', 'smoke', 'gate', 'notify'] as const;
export type Stage = (typeof STAGE_ORDER)[number];

/** The action whose inputs each stage's slipway.yml section holds. */
export const STAGE_ACTION = { migrate: 'migrate', deploy: 'deploy-rolling', smoke: 'smoke-test', gate: 'slo-gate', notify: 'notify' } as const satisfies Record<
  Stage,
  string
>;

/** Section name in slipway.yml → the action whose inputs it holds: the stages, then flags (read by the release's kill switch, not a stage of its own). */
export const SECTIONS = { ...STAGE_ACTION, flags: 'flags' } as const;
export type SectionName = keyof typeof SECTIONS;

/** The release action's `stages` input: the deploy window, then the stages in their order. */
export const RELEASE_STAGES = ['window', ...STAGE_ORDER] as const;
