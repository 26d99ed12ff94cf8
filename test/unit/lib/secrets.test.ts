import { describe, expect, it } from 'vitest';
import { headerSecrets, redact, redactUrl, urlSecrets } from '../../../src/lib/secrets.ts';

describe('secrets', () => {
  it('finds the password inside a URL, encoded and decoded', () => {
    const s = urlSecrets('postgres://app:p%40ss%2Fword@db:5432/app');
    expect(s).toContain('p%40ss%2Fword');
    expect(s).toContain('p@ss/word');
  });
  it('finds tokens in query strings', () => {
    expect(urlSecrets('https://hooks.example.com/x?token=abcdef&x=1')).toEqual(['abcdef']);
  });
  it('redacts URLs for display', () => {
    expect(redactUrl('https://u:secret1@example.com/p?sig=zzz')).toBe('https://u:***@example.com/p?sig=***');
    expect(redactUrl('not a url')).toBe('not a url');
  });
  it('takes bearer tokens from headers', () => {
    expect(headerSecrets({ Authorization: 'Bearer abc123', Accept: 'json' })).toEqual(['Bearer abc123', 'abc123']);
  });
  it('redacts longest secrets first', () => {
    expect(redact('u:secret and secret', ['secret', 'u:secret'])).toBe('*** and ***');
  });
});

describe('Basic auth values', () => {
  it('counts base64(user:password) of a URL as a secret (servers echo the Authorization header)', () => {
    expect(urlSecrets('http://gate:p%40ss@prom:9090')).toContain(Buffer.from('gate:p@ss').toString('base64'));
  });
});
