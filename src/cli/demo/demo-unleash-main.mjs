// Starts a real Unleash server (npm unleash-server) in this process, on 127.0.0.1, over the
// PostgreSQL database given in the environment; prints "UNLEASH READY <port>" when it answers.
// Used by the demo (src/cli/demo/demo-unleash.ts), test/helpers/flags-unleash.ts and bench/flag-kill.ts; stopped by PID (SIGTERM).
import { start as startUnleash } from 'unleash-server';

const env = process.env;
const adminToken = env.UNLEASH_ADMIN_TOKEN;
const clientToken = env.UNLEASH_CLIENT_TOKEN;
const config = {
  db: {
    host: '127.0.0.1',
    port: Number(env.UNLEASH_PG_PORT),
    user: env.UNLEASH_PG_USER ?? 'postgres',
    password: env.UNLEASH_PG_PASSWORD ?? '',
    database: env.UNLEASH_PG_DATABASE ?? 'unleash',
    ssl: false,
  },
  server: { host: '127.0.0.1', port: Number(env.UNLEASH_PORT), enableRequestLogger: false },
  logLevel: 'warn',
  authentication: adminToken
    ? {
        type: 'open-source',
        enableApiToken: true,
        createAdminUser: false,
        initApiTokens: [
          { environment: '*', project: '*', secret: adminToken, type: 'admin', tokenName: 'slipway-admin' },
          ...(clientToken ? [{ environment: 'production', project: '*', secret: clientToken, type: 'client', tokenName: 'slipway-client' }] : []),
        ],
      }
    : { type: 'none' },
  versionCheck: { enable: false },
  // No phoning home from tests.
  telemetry: false,
};
const server = await startUnleash(config);
process.stdout.write(`UNLEASH READY ${env.UNLEASH_PORT}\n`);
const stop = async () => {
  try {
    await server.stop();
  } finally {
    process.exit(0);
  }
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
