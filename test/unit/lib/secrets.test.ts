import { describe, expect, it } from 'vitest';
import { headerSecrets, quote, redact, redactUrl, requestSecrets, secretForms, urlSecrets, urlsIn } from '../../../src/lib/secrets.ts';

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

describe('the secret model (issue 18): every derived form', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  it('a token in the user part of a URL is a credential, with the Basic value fetch sends for it', () => {
    const s = urlSecrets('http://ghp_UserOnlyTok3n@127.0.0.1:9/echo');
    expect(s).toContain('ghp_UserOnlyTok3n');
    expect(s).toContain(b64('ghp_UserOnlyTok3n:'));
    expect(redactUrl('http://ghp_UserOnlyTok3n@127.0.0.1:9/echo')).toBe('http://***@127.0.0.1:9/echo');
  });

  it('a user name beside a password is an identity, kept on display; a token-shaped one is not', () => {
    expect(urlSecrets('postgres://app:pw123@db/app')).not.toContain('app');
    expect(redactUrl('postgres://app:pw123@db/app')).toBe('postgres://app:***@db/app');
    expect(redactUrl('https://glpat-abcdefghij0123456789:x-oauth@h/')).toBe('https://***:***@h/');
  });

  it('query values keep their percent-encoded form (what a server echoes) beside the decoded one', () => {
    const s = urlSecrets('http://h/hook?sig=Wh%2FSecretSig%2B1');
    expect(s).toEqual(expect.arrayContaining(['Wh%2FSecretSig%2B1', 'Wh/SecretSig+1', 'Wh%2fSecretSig%2b1']));
    expect(redactUrl('http://h/hook?sig=Wh%2FSecretSig%2B1&env=prod')).toBe('http://h/hook?sig=***&env=prod');
  });

  it('a secret URL (a webhook) masks every long query value, a non-secret URL only credential-looking ones', () => {
    expect(urlSecrets('http://h/x?id=abcdefgh12', true)).toContain('abcdefgh12');
    expect(urlSecrets('http://h/x?id=abcdefgh12')).toEqual([]);
    expect(urlSecrets('http://h/x?id=0123456789abcdefABCDEF')).toContain('0123456789abcdefABCDEF');
  });

  it('secretForms: percent-, form- and JSON-encoded, decoded, base64, lines, and the credential of an Authorization value', () => {
    const f = secretForms('p@ss w/rd"x');
    expect(f).toEqual(expect.arrayContaining(['p@ss w/rd"x', 'p%40ss%20w%2Frd%22x', 'p%40ss+w%2Frd%22x', 'p@ss w/rd\\"x', b64('p@ss w/rd"x')]));
    expect(secretForms('Bearer tok-123456')).toContain('tok-123456');
    expect(secretForms(`Basic ${b64('bot:hunter22')}`)).toEqual(expect.arrayContaining(['bot:hunter22', 'hunter22']));
    expect(secretForms('line-one-aaa\nline-two-bbb')).toEqual(expect.arrayContaining(['line-one-aaa', 'line-two-bbb']));
    expect(secretForms('ab')).toEqual([]);
  });

  it('headerSecrets decodes Basic values (servers echo either form)', () => {
    expect(headerSecrets({ authorization: `Basic ${b64('ghp_tok1234:')}` })).toEqual(expect.arrayContaining([`Basic ${b64('ghp_tok1234:')}`, b64('ghp_tok1234:'), 'ghp_tok1234']));
  });

  it('quote redacts before it cuts: a secret across the cut leaves no part behind', () => {
    const secret = 'SECRET-0123456789';
    const text = `${'x'.repeat(195)}${secret} and more`;
    expect(quote(text, [secret], 200)).not.toMatch(/SECRET/);
    expect(quote(text, [], 200)).toMatch(/SECRE… \(cut\)$/); // without redaction the prefix would show
    expect(quote('a\nb\tc', [])).toBe('a b c');
  });

  it('requestSecrets: the credentials of a URL and of its headers, in every form', () => {
    const s = requestSecrets('http://u:p%2Fw1@h/?token=t%2B1', { 'x-api-key': 'key-9876' });
    expect(s).toEqual(expect.arrayContaining(['p%2Fw1', 'p/w1', 't%2B1', 't+1', 'key-9876', b64('u:p/w1')]));
  });

  it('urlsIn finds URLs inside lists and JSON', () => {
    expect(urlsIn('["http://a@h/x", "https://h2/y?token=z"], ftp://x')).toEqual(['http://a@h/x', 'https://h2/y?token=z', 'ftp://x']);
  });
});

describe('user names that are identities', () => {
  it('a lone user in a database or SSH URL is a role, not a token; in an HTTP URL it is the token', () => {
    expect(urlSecrets('postgresql://postgres@127.0.0.1:5432/app')).toEqual([]);
    expect(redactUrl('postgresql://postgres@127.0.0.1:5432/app')).toBe('postgresql://postgres@127.0.0.1:5432/app');
    expect(urlSecrets('ssh://deploy@web1')).toEqual([]);
    expect(urlSecrets('https://admin-tok@h/')).toContain('admin-tok');
    expect(urlSecrets('postgresql://glpat-abcdefghij0123456789@db/app')).toContain('glpat-abcdefghij0123456789');
  });
});
