/**
 * An api process on a private Postgres cluster the test owns (so other
 * tests' load on the shared server is not what is measured, and the cluster
 * can be stopped and started), with an admin client.
 */
import { adminClient, createAdminToken, type Admin } from './airlock.ts';
import { startPrivatePostgres, type PrivatePostgres } from './postgres.ts';
import { apiProcess, type ApiProcess } from './processes.ts';

export interface PrivateApi {
  pg: PrivatePostgres;
  dbUrl: string;
  api: ApiProcess;
  admin: Admin;
  stop(): Promise<void>;
}

export const startApiOnPrivatePostgres = async (database: string): Promise<PrivateApi> => {
  const pg = await startPrivatePostgres();
  let api: ApiProcess | null = null;
  try {
    const dbUrl = await pg.createDatabase(database);
    api = await apiProcess(dbUrl);
    await api.start();
    const admin = adminClient(api.url, await createAdminToken(dbUrl));
    return privateApi(pg, dbUrl, api, admin);
  } catch (err) {
    // A half-started setup must not leave a cluster or an api running.
    await api?.cleanup();
    await pg.destroy();
    throw err;
  }
};

const privateApi = (pg: PrivatePostgres, dbUrl: string, api: ApiProcess, admin: Admin): PrivateApi => ({
  pg,
  dbUrl,
  api,
  admin,
  stop: async () => {
    await api.cleanup();
    await pg.destroy();
  },
});
