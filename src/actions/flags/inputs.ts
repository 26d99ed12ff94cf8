/** The flags action's inputs live in the flags domain (src/flags/spec.ts): deploy-rolling's kill switch reads the same slipway.yml section. */
export { spec } from '../../flags/spec.ts';
