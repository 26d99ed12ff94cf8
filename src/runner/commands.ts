/** The workflow-command protocol the GitHub runner reads on stdout, written without @actions/core. */
import type { Annotation } from '../lib/report.ts';

export function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

export function command(name: string, message: string, props: Record<string, string | number | undefined> = {}): string {
  const p = Object.entries(props)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${escapeProperty(String(v))}`)
    .join(',');
  return `::${name}${p ? ` ${p}` : ''}::${escapeData(message)}`;
}

export function annotationProps(at?: Annotation): Record<string, string | number | undefined> {
  if (!at) return {};
  return { title: at.title, file: at.file, line: at.line, endLine: at.endLine, col: at.col };
}

/** A file command entry (GITHUB_OUTPUT, GITHUB_STATE, GITHUB_ENV) in the heredoc form with a random delimiter. */
export function fileCommand(name: string, value: string, delimiter: string): string {
  if (name.includes(delimiter) || value.includes(delimiter)) throw new Error(`value for ${name} contains the delimiter`);
  if (/[\r\n]/.test(name)) throw new Error(`name ${JSON.stringify(name)} contains a newline`);
  return `${name}<<${delimiter}\n${value}\n${delimiter}\n`;
}
