/** A program whose whole job is to load its settings: exitOnConfigError under test (define-env.test.ts). */
import { defineEnv, exitOnConfigError } from '../define-env.ts';
import { int } from '../fields.ts';

const Env = defineEnv('demo', { DEMO_PORT: int(8080, 1, 65_535), DEMO_MAX: int(4, 1, 8) });
const env = exitOnConfigError('demo-program', () => Env.parse(process.env));
process.stdout.write(`port ${env.DEMO_PORT}\n`);
