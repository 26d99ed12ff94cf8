export * from './context.ts';
export * from './runtime.ts';
export * from './run-action.ts';
export { escapeData, escapeProperty, command } from './commands.ts';
export * from './console.ts';
