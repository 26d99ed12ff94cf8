import { describe, expect, it } from 'vitest';
import { auditBuildArgs, auditDockerfile, parseDockerfile, parseInstructions } from '../../../src/images/audit.ts';

const rules = (text: string, opts = {}) => auditDockerfile(text, opts).map((f) => `${f.rule}@${f.line}`);

describe('Dockerfile parser', () => {
  it('joins continuations, drops comments inside them, keeps first line numbers', () => {
    const ins = parseInstructions(['FROM node:22 AS build', '# comment', 'RUN apt-get update && \\', '  # inside', '    apt-get install -y curl', '', 'ENV A=1 \\', '    B=2', 'CMD ["node"]'].join('\n'));
    expect(ins.map((i) => [i.keyword, i.line])).toEqual([['FROM', 1], ['RUN', 3], ['ENV', 7], ['CMD', 9]]);
    expect(ins[1]!.args).toBe('apt-get update &&      apt-get install -y curl');
    expect(ins[2]!.args).toBe('A=1      B=2');
  });
  it('honours the escape directive', () => {
    const ins = parseInstructions(['# escape=`', 'FROM mcr.microsoft.com/windows:ltsc2022', 'RUN dir `', '  C:\\'].join('\n'));
    expect(ins.map((i) => i.keyword)).toEqual(['FROM', 'RUN']);
    expect(ins[1]!.args).toContain('C:\\');
  });
  it('skips heredoc bodies', () => {
    const ins = parseInstructions(['FROM alpine:3.20', 'RUN <<EOF', 'USER root', 'EOF', 'USER app'].join('\n'));
    expect(ins.map((i) => `${i.keyword}@${i.line}`)).toEqual(['FROM@1', 'RUN@2', 'USER@5']);
  });
  it('stages, names, parents and ARG substitution in FROM', () => {
    const df = parseDockerfile(['ARG NODE=22', 'FROM node:${NODE} AS deps', 'FROM deps AS build', 'FROM gcr.io/distroless/nodejs:$NODE'].join('\n'));
    expect(df.stages.map((s) => [s.name, s.base, s.parent])).toEqual([['deps', 'node:22', undefined], ['build', 'deps', 0], [undefined, 'gcr.io/distroless/nodejs:22', undefined]]);
  });
});

describe('audit rules', () => {
  const good = ['FROM node:22.4-slim AS build', 'RUN npm ci', 'FROM gcr.io/distroless/nodejs22:nonroot', 'COPY --from=build /app /app', 'USER 1000:1000', 'HEALTHCHECK CMD ["node", "/app/health.js"]', 'CMD ["/app/server.js"]'].join('\n');
  it('a clean multi-stage Dockerfile has no findings', () => {
    expect(auditDockerfile(good)).toEqual([]);
  });
  it('a root user in the builder stage does not count; in the final stage it does', () => {
    expect(rules(['FROM node:22 AS b', 'USER root', 'FROM node:22-slim', 'USER node', 'HEALTHCHECK CMD true'].join('\n'))).toEqual([]);
    expect(rules(['FROM node:22 AS b', 'USER node', 'FROM node:22-slim', 'HEALTHCHECK CMD true', 'USER 0'].join('\n'))).toEqual(['root-user@5']);
  });
  it('missing USER and HEALTHCHECK point at the final FROM', () => {
    expect(rules(['FROM alpine:3.20 AS a', 'USER app', 'FROM scratch', 'COPY x /x'].join('\n'))).toEqual(['no-healthcheck@3', 'root-user@3']);
  });
  it('USER and HEALTHCHECK inherited from a parent stage count', () => {
    expect(rules(['FROM alpine:3.20 AS base', 'USER app', 'HEALTHCHECK CMD true', 'FROM base', 'COPY x /x'].join('\n'))).toEqual([]);
  });
  it('HEALTHCHECK NONE', () => {
    expect(rules(['FROM alpine:3.20', 'USER app', 'HEALTHCHECK NONE'].join('\n'))).toEqual(['no-healthcheck@3']);
  });
  it(':latest and untagged bases, digests and scratch are fine', () => {
    expect(rules(['FROM node AS a', 'FROM ghcr.io/x/y:latest AS b', 'FROM alpine@sha256:' + 'a'.repeat(64) + ' AS c', 'FROM localhost:5000/base AS d', 'FROM scratch', 'USER 1', 'HEALTHCHECK CMD x'].join('\n'))).toEqual(['latest-base@1', 'latest-base@2', 'latest-base@4']);
  });
  it('a --platform flag does not hide the image', () => {
    expect(rules(['FROM --platform=$BUILDPLATFORM golang AS b', 'FROM scratch', 'USER 1', 'HEALTHCHECK CMD x'].join('\n'))).toEqual(['latest-base@1']);
  });
  it('secret-looking ENV, ARG and LABEL names and values in the final image, with the line', () => {
    const text = [
      'FROM alpine:3.20 AS build',
      'ENV BUILD_TOKEN=abc', // builder stage: not in the final image
      'FROM alpine:3.20',
      'ENV DATABASE_PASSWORD=hunter2 \\',
      '    LOG_LEVEL=info',
      'ARG NPM_TOKEN',
      'ENV TOKEN_FILE=/run/secrets/t',
      'LABEL maintainer="ops" deploy.key="AKIAABCDEFGHIJKLMNOP"',
      'ENV AWS_SECRET_ACCESS_KEY wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      'ENV GH=ghp_abcdefghijklmnopqrstuvwxyz0123456789',
      'USER app',
      'HEALTHCHECK CMD true',
    ].join('\n');
    const f = auditDockerfile(text);
    expect(f.map((x) => `${x.rule}@${x.line}`)).toEqual(['secret-env@4', 'secret-env@6', 'secret-env@8', 'secret-env@9', 'secret-env@10']);
    expect(f[2]!.message).toMatch(/AWS access key id/);
    expect(f[3]!.message).toMatch(/AWS secret access key/);
    expect(f[4]!.message).toMatch(/GitHub token/);
  });
  it('target selects the final stage', () => {
    const text = ['FROM alpine:3.20 AS dev', 'ENV API_KEY=x', 'FROM alpine:3.20 AS prod', 'USER app', 'HEALTHCHECK CMD true'].join('\n');
    expect(rules(text)).toEqual([]);
    expect(rules(text, { target: 'dev' })).toEqual(['no-healthcheck@1', 'root-user@1', 'secret-env@2']);
  });
  it('build args that look like credentials', () => {
    expect(auditBuildArgs({ NODE_ENV: 'production', NPM_TOKEN: 'x', KEY: 'AKIAABCDEFGHIJKLMNOP' }).map((f) => f.message.split(' ')[2])).toEqual(['NPM_TOKEN', 'KEY']);
  });
});
